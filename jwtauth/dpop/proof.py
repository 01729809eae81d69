"""Verify a DPoP proof JWT for one HTTP request (RFC 9449 §4.3).

The checks run in this order: size and form, the JOSE header (``typ``, an allowed ``alg``, a
public ``jwk`` of the matching type), the signature, then the claims (``jti``, ``htm``,
``htu``, ``iat``, ``ath``), the server nonce when required, and last the replay cache, so that
only a proof that passed everything else is recorded. Nothing is trusted before the signature
has been checked with the key the proof carries.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.utils.translation import gettext_lazy as _

from ..clock import now
from ..keys import b64url
from . import htu, jwk, nonces, replay
from .errors import InvalidDPoPProof, UseDPoPNonce
from .jose import COMPACT, b64decode, json_object
from .policy import MAX_PROOF_LENGTH, Policy, policy

# RFC 7515 §4.1.9: "application/" may be left out of a typ, and media types are compared
# case-insensitively.
TYPES: Final = frozenset({"dpop+jwt", "application/dpop+jwt"})
# Exactly these: anything else (crit, kid, jku, x5u, x5c, b64 ...) would ask the verifier to
# look elsewhere or to process the proof differently (RFC 8725 §3.10), and is refused.
HEADER_MEMBERS: Final = frozenset({"typ", "alg", "jwk"})
HMAC_PREFIX: Final = "HS"
MAX_JTI_LENGTH: Final = 256
_TEXT: Final = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")


@dataclass(frozen=True, slots=True)
class Proof:
    """A verified proof: its key's RFC 7638 thumbprint, its ``jti``, ``iat`` and ``alg``."""

    jkt: str
    jti: str
    iat: float
    alg: str


def ath(access_token: str) -> str:
    """Return the ``ath`` of ``access_token``: base64url(SHA-256(its ASCII)) (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).digest())


def _check_header(header: dict[str, Any], p: Policy) -> tuple[str, jwk.ProofKey]:
    if header.keys() != HEADER_MEMBERS:
        raise InvalidDPoPProof(_("The DPoP proof header must hold exactly typ, alg and jwk."))
    typ, alg = header["typ"], header["alg"]
    if not isinstance(typ, str) or typ.lower() not in TYPES:
        raise InvalidDPoPProof(_("The DPoP proof is not of type dpop+jwt."))
    if not isinstance(alg, str) or alg not in p.algorithms:
        if isinstance(alg, str) and (alg.lower() == "none" or alg.startswith(HMAC_PREFIX)):
            raise InvalidDPoPProof(_("A DPoP proof must be signed with a private key."))
        raise InvalidDPoPProof(_("The DPoP proof algorithm is not accepted."))
    return alg, jwk.load(header["jwk"], alg)


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise InvalidDPoPProof(
            _("The DPoP proof lacks the claim '%(name)s' or it is not a string.") % {"name": name}
        )
    return value


def _check_iat(claims: Mapping[str, Any], p: Policy) -> float:
    iat = claims.get("iat")
    # RFC 7519 §2: a NumericDate may have a fraction; booleans are not numbers here.
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not math.isfinite(iat):
        raise InvalidDPoPProof(_("The DPoP proof's iat is missing or not a number."))
    # RFC 9449 §11.1: a proof is accepted only for a short while around its creation.
    if abs(now().timestamp() - iat) > p.skew:
        raise InvalidDPoPProof(_("The DPoP proof's iat is outside the accepted window."))
    return float(iat)


def _check_request(
    claims: Mapping[str, Any], method: str, url: str, access_token: str | None
) -> None:
    if _string(claims, "htm") != method:
        raise InvalidDPoPProof(_("The DPoP proof is for another HTTP method."))
    try:
        matches = htu.normalize(_string(claims, "htu")) == htu.normalize(url)
    except ValueError:
        matches = False
    if not matches:
        raise InvalidDPoPProof(_("The DPoP proof is for another URL."))
    if access_token is None:
        # At a token endpoint no access token is presented, so there is nothing to bind: an ath
        # there (a client that adds one to every request) is ignored.
        return
    # Bytes for compare_digest, which refuses non-ASCII text; a lone surrogate, which JSON can
    # spell, must not make encode() raise either.
    claimed = _string(claims, "ath").encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(claimed, ath(access_token).encode("ascii")):
        raise InvalidDPoPProof(_("The DPoP proof's ath does not match the access token."))


def _check_jti(claims: Mapping[str, Any]) -> str:
    jti = _string(claims, "jti")
    if not 0 < len(jti) <= MAX_JTI_LENGTH or not _TEXT.fullmatch(jti):
        raise InvalidDPoPProof(_("The DPoP proof's jti is not valid."))
    return jti


def _check(
    proof: str | None, method: str, url: str, access_token: str | None, nonce_required: bool | None
) -> Proof:
    p = policy()
    if proof is None:
        raise InvalidDPoPProof(_("The request carries no DPoP proof."))
    # One DPoP header (RFC 9449 §4.3, check 1): repeated ones arrive joined by commas, which
    # no compact JWS contains.
    match = COMPACT.fullmatch(proof) if len(proof) <= MAX_PROOF_LENGTH else None
    if match is None:
        raise InvalidDPoPProof(_("The DPoP proof is not one well-formed JWT, or is too long."))
    header_b64, payload_b64, signature_b64 = match.groups()
    alg, key = _check_header(json_object(header_b64), p)
    signature = b64decode(signature_b64)
    if not jwk.verify(key, alg, signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise InvalidDPoPProof(_("The DPoP proof signature is invalid."))
    claims = json_object(payload_b64)
    jti = _check_jti(claims)
    _check_request(claims, method, url, access_token)
    iat = _check_iat(claims, p)
    required = p.nonce if nonce_required is None else nonce_required
    # RFC 9449 §8, §9: a missing or expired nonce is answered with a fresh one to retry with.
    if required and not nonces.is_valid(claims.get("nonce")):
        raise UseDPoPNonce(nonces.current_nonce())
    return Proof(key.jkt, jti, iat, alg)


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce_required: bool | None = None,
) -> Proof:
    """Verify ``proof`` for one request and record it against replay (RFC 9449 §4.3).

    ``proof`` is the ``DPoP`` header's value (``None`` when absent); ``method`` the request's
    method; ``url`` its absolute URL (``request.build_absolute_uri()``; query and fragment are
    ignored); ``access_token`` the token presented with it (``None`` at a token endpoint);
    ``nonce_required`` whether a server nonce must be present (``None``: the
    ``JWTAUTH_DPOP_NONCE`` setting).

    Raises :class:`~jwtauth.dpop.errors.InvalidDPoPProof`,
    :class:`~jwtauth.dpop.errors.UseDPoPNonce` or, when the replay cache is down,
    :class:`~jwtauth.dpop.errors.ReplayCacheUnavailable`.
    """
    checked = check_proof(
        proof, method=method, url=url, access_token=access_token, nonce_required=nonce_required
    )
    replay.remember(checked.jkt, checked.jti, checked.iat)
    return checked


def check_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce_required: bool | None = None,
) -> Proof:
    """Verify ``proof`` as :func:`verify_proof` does, but leave recording it to the caller.

    For the resource path, which records the proof in the revocation lookup's own round trip
    (:func:`jwtauth.dpop.replay.claim` and :func:`~jwtauth.dpop.replay.settle`).
    """
    return _check(proof, method, url, access_token, nonce_required)
