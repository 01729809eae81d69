"""Issue and verify access and refresh tokens; the only module that imports PyJWT.

Verification follows RFC 8725: the algorithm is pinned to the configured one (§3.1), the key is
chosen by ``kid`` among our own keys only (never fetched from ``jku``/``x5u``/``jwk``, §3.10),
tokens are explicitly typed in the JOSE header (§3.11, RFC 9068 §2.1 for ``at+jwt``), and every
registered claim is required and checked (§3.8, §3.9). Parsing is strict and done once; the
signature is checked before any claim is trusted.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from jwt.algorithms import Algorithm, get_default_algorithms

from .clock import now
from .conf import cached_until_settings_change, conf
from .exceptions import TokenError, TokenExpired, TokenTypeMismatch
from .keys import b64url, keyring

ACCESS: Final = "access"
REFRESH: Final = "refresh"
# RFC 9068 §2.1 names "at+jwt" for access tokens; refresh tokens get a distinct private type
# so that neither can ever pass for the other (RFC 8725 §3.11).
TYP: Final = {ACCESS: "at+jwt", REFRESH: "rt+jwt"}
REGISTERED_CLAIMS: Final = frozenset({"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid"})
# Set by jwtauth only: the registered claims, and the DPoP key binding (RFC 9449 §6.1), which a
# project's claim would forge or remove.
RESERVED_CLAIMS: Final = REGISTERED_CLAIMS | {"cnf"}
HEADER_MEMBERS: Final = frozenset({"alg", "kid", "typ"})
# A NumericDate must be an integer here, before year 10000: later ones cannot be stored as a
# datetime (revoking such a token would fail).
_MAX_NUMERIC_DATE: Final = 253402300800
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Identifiers go to the cache and the database: no control characters or lone surrogates.
_TEXT = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")
# The JWS compact serialization (RFC 7515 §7.1), matched in one pass on the usual path.
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_JSON = json.JSONDecoder()
# The last character of a segment of 2 (3) characters mod 4 carries 4 (2) pad bits, which
# must be zero: only these characters have them clear.
_PAD_BITS_CLEAR: Final = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
# One whole sentence per type: a type name put into a sentence cannot be translated or
# inflected (nor take its English article, "an access" but "a refresh").
_WRONG_TYPE: Final = {
    ACCESS: _("The token is not an access token."),
    REFRESH: _("The token is not a refresh token."),
}
_ALGORITHMS: Final[dict[str, Algorithm]] = {
    name: alg
    for name, alg in get_default_algorithms().items()
    if name in {"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}
}


def new_jti() -> str:
    """Return a fresh unguessable identifier with 128 bits of randomness."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Token:
    """A verified (or freshly issued) token's claims, typed."""

    type: str
    jti: str
    sid: str
    sub: str
    iat: int
    exp: int
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access and a refresh token issued together for one session."""

    access: str
    refresh: str
    access_token: Token
    refresh_token: Token


@dataclass(frozen=True, slots=True)
class _Verifier:
    algorithm: str
    alg: Algorithm
    keys: dict[str, Any]
    issuer: str
    audience: str
    leeway: int
    max_length: int


@cached_until_settings_change
def _verifier() -> _Verifier:
    ring = keyring()
    return _Verifier(
        algorithm=ring.algorithm,
        alg=_ALGORITHMS[ring.algorithm],
        keys=ring.verifying_keys,
        issuer=conf.ISSUER,
        audience=conf.AUDIENCE,
        leeway=int(conf.LEEWAY),
        max_length=conf.MAX_TOKEN_LENGTH,
    )


@cached_until_settings_change
def _extra_claims_hook() -> Callable[[Any], Mapping[str, Any]] | None:
    hook = conf.EXTRA_CLAIMS
    if isinstance(hook, str):
        imported: Callable[[Any], Mapping[str, Any]] = import_string(hook)
        return imported
    return hook


def _json_segment(data: Mapping[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())


def encode(
    token_type: str,
    *,
    sub: str,
    sid: str,
    lifetime: int,
    extra: Mapping[str, Any] | None = None,
    jti: str | None = None,
    issued: int | None = None,
) -> tuple[str, Token]:
    """Sign a token of ``token_type`` for subject ``sub`` in session ``sid``.

    ``jti`` and ``issued`` (``iat``) default to a fresh id and the current time; passing both
    re-derives a token issued before, which ``sessions`` does to answer a refresh retry.
    """
    ring = keyring()
    if issued is None:
        issued = int(now().timestamp())
    claims: dict[str, Any] = dict(extra or {})
    claims.update(
        iss=conf.ISSUER,
        aud=conf.AUDIENCE,
        sub=sub,
        iat=issued,
        nbf=issued,
        exp=issued + lifetime,
        jti=jti or new_jti(),
        sid=sid,
    )
    header = {"alg": ring.algorithm, "kid": ring.signing_kid, "typ": TYP[token_type]}
    signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
    signature = _ALGORITHMS[ring.algorithm].sign(signing_input.encode(), ring.signing_key)
    token = Token(token_type, claims["jti"], sid, sub, issued, claims["exp"], claims)
    return f"{signing_input}.{b64url(signature)}", token


def extra_claims(user: Any) -> dict[str, Any]:
    """Return the claims ``JWTAUTH_EXTRA_CLAIMS`` adds for ``user`` (none by default)."""
    hook = _extra_claims_hook()
    if hook is None:
        return {}
    extra = dict(hook(user))
    clash = RESERVED_CLAIMS.intersection(extra)
    if clash:
        raise ImproperlyConfigured(
            f"JWTAUTH_EXTRA_CLAIMS returned reserved claims {sorted(clash)}; they are set by "
            "jwtauth and cannot be overridden."
        )
    return extra


def issue_pair(user: Any, sid: str) -> TokenPair:
    """Issue an access and a refresh token for ``user`` in session ``sid``."""
    sub = str(user.pk)
    access, access_token = encode(
        ACCESS, sub=sub, sid=sid, lifetime=conf.access_lifetime, extra=extra_claims(user)
    )
    refresh, refresh_token = encode(REFRESH, sub=sub, sid=sid, lifetime=conf.refresh_lifetime)
    return TokenPair(access, refresh, access_token, refresh_token)


def _b64decode(segment: str, checked: bool = False) -> bytes:
    # ``checked``: the caller has already matched the segment against the base64url alphabet.
    if not checked and not _SEGMENT.fullmatch(segment):
        raise TokenError(_("The token is not well-formed base64url."))
    try:
        # RFC 7515 §2: unpadded base64url; the alphabet is known valid, so translate it to the
        # standard one and pad. A length of 1 mod 4 is no base64 at all and raises here.
        data = binascii.a2b_base64(
            segment.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(segment) % 4)
        )
    except (binascii.Error, ValueError) as e:
        raise TokenError(_("The token is not well-formed base64url.")) from e
    # RFC 4648 §3.5: refuse set pad bits, so a token is accepted only in the form it was issued
    # (the same as re-encoding and comparing, without the re-encoding).
    rest = len(segment) % 4
    if rest and segment[-1] not in _PAD_BITS_CLEAR[rest]:
        raise TokenError(_("The token is not well-formed base64url."))
    return data


def _json_object(segment: str, checked: bool = False) -> dict[str, Any]:
    try:
        # RFC 7515 §5.2 / RFC 8259 §8.1: the JSON is UTF-8; decoding it strictly here spares
        # json.loads its encoding sniffing (and refuses UTF-16/32 and BOMs outright).
        value = _JSON.decode(_b64decode(segment, checked).decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise TokenError(_("The token is not well-formed JSON.")) from e
    if not isinstance(value, dict):
        raise TokenError(_("The token is not well-formed JSON."))
    return value


def _split(raw: str | bytes, max_length: int) -> tuple[Sequence[str], bool]:
    """Return the three segments, and whether they all matched the base64url alphabet."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise TokenError(_("The token is not well-formed.")) from e
    # Non-ASCII text is no JWS (a cookie or a JSON body can carry it; a header cannot).
    if not isinstance(raw, str) or len(raw) > max_length or not raw.isascii():
        raise TokenError(_("The token is not well-formed or is too long."))
    match = _COMPACT.fullmatch(raw)
    if match is not None:
        return match.groups(), True
    parts = raw.split(".")
    if len(parts) != 3:
        raise TokenError(_("The token is not well-formed."))
    # Some segment is not base64url: each is checked (and named) when its turn comes, so
    # header problems are still reported first.
    return parts, False


def _check_header(header: dict[str, Any], token_type: str, v: _Verifier) -> Any:
    # Our tokens carry exactly alg, kid and typ; anything else (jku, x5u, jwk, crit, b64 ...)
    # is an attempt to steer verification (RFC 8725 §2.1, §3.10) and is refused outright.
    if header.keys() != HEADER_MEMBERS:
        raise TokenError(_("The token header is not acceptable."))
    if header["alg"] != v.algorithm:
        raise TokenError(_("The token algorithm is not acceptable."))
    if header["typ"] != TYP[token_type]:
        raise TokenTypeMismatch(_WRONG_TYPE[token_type])
    kid = header["kid"]
    key = v.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError(_("The token was signed with an unknown key."))
    return key


def _numeric_date(claims: Mapping[str, Any], name: str) -> int:
    value = claims[name]
    if type(value) is not int or not 0 <= value < _MAX_NUMERIC_DATE:
        raise TokenError(
            _("The token claim '%(name)s' is not a valid NumericDate.") % {"name": name}
        )
    return value


def _string(claims: Mapping[str, Any], name: str, max_length: int = 255) -> str:
    value = claims[name]
    if not isinstance(value, str) or len(value) > max_length or not _TEXT.fullmatch(value):
        raise TokenError(_("The token claim '%(name)s' is not valid.") % {"name": name})
    return value


def _check_claims(claims: dict[str, Any], token_type: str, v: _Verifier) -> Token:
    if not claims.keys() >= REGISTERED_CLAIMS:
        missing = REGISTERED_CLAIMS.difference(claims)
        raise TokenError(_("The token lacks the claim '%(name)s'.") % {"name": min(missing)})
    if claims["iss"] != v.issuer:
        raise TokenError(_("The token was issued by someone else."))
    aud = claims["aud"]
    if not (aud == v.audience or (isinstance(aud, list) and v.audience in aud)):
        raise TokenError(_("The token is meant for another audience."))
    iat = _numeric_date(claims, "iat")
    nbf = _numeric_date(claims, "nbf")
    exp = _numeric_date(claims, "exp")
    if exp <= iat:
        raise TokenError(_("The token expires before it was issued."))
    current = int(now().timestamp())
    if iat > current + v.leeway or nbf > current + v.leeway:
        raise TokenError(_("The token is not valid yet."))
    # RFC 7519 §4.1.4: the token must not be accepted on or after exp.
    if current - v.leeway >= exp:
        raise TokenExpired()
    # 64: the width of RevokedToken.jti and TokenSession.sid.
    jti, sid = _string(claims, "jti", 64), _string(claims, "sid", 64)
    return Token(token_type, jti, sid, _string(claims, "sub"), iat, exp, claims)


def decode(raw: str | bytes, token_type: str = ACCESS) -> Token:
    """Verify ``raw`` as a token of ``token_type`` and return its claims.

    Raises :class:`~jwtauth.exceptions.TokenExpired` for an expired but otherwise valid token
    and :class:`~jwtauth.exceptions.TokenError` for everything else.
    """
    v = _verifier()
    (header_b64, payload_b64, signature_b64), checked = _split(raw, v.max_length)
    key = _check_header(_json_object(header_b64, checked), token_type, v)
    signature = _b64decode(signature_b64, checked)
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not v.alg.verify(signing_input, key, signature):
        raise TokenError(_("The token signature is invalid."))
    return _check_claims(_json_object(payload_b64, checked), token_type, v)
