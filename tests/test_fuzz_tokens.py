"""Fuzz the token parser: ``jwtauth.tokens.decode`` either verifies exactly or raises TokenError.

Properties, for every configured algorithm:
- arbitrary text, bytes and three-segment strings are refused with ``TokenError``;
- a genuine token, mutated (flips, splices, respellings), is refused unless the mutation left
  it unchanged;
- any header and claims, signed with the real key, decode to exactly the signed claims when
  and only when they meet RFC 7519/8725's rules (an independent oracle below), and are refused
  with ``TokenError`` otherwise; no other exception ever escapes.

CI runs a small number of examples; ``JWTAUTH_FUZZ_EXAMPLES=<n>`` runs ``n`` per target.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from jwtauth import tokens
from jwtauth.conf import conf
from jwtauth.exceptions import TokenError
from jwtauth.keys import keyring
from tests.security import forge
from tests.security.strategies import B64URL, fuzz_settings, json_values, mutated

NOW = 1_800_000_000  # the ``clock`` fixture's instant
ALGORITHMS = ["HS256", "RS256", "ES256", "EdDSA"]
MAX_DATE = 253402300800  # year 10000
TEXT = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")


@pytest.fixture(params=ALGORITHMS)
def signer(request: pytest.FixtureRequest, settings: Any, private_keys: dict[str, str]) -> Any:
    """Configure one algorithm (and its key) for the test; return a signer with that key."""
    settings.JWTAUTH_ALGORITHM = request.param
    if request.param == "HS256":
        return forge.hmac_signer(settings.JWTAUTH_SECRET_KEY.encode())
    settings.JWTAUTH_PRIVATE_KEY = private_keys[request.param]
    return forge.private_signer(private_keys[request.param])


def _refused(raw: str | bytes, token_type: str = tokens.ACCESS) -> None:
    with pytest.raises(TokenError):
        tokens.decode(raw, token_type)


# -- arbitrary input -----------------------------------------------------------------------------


# The parser's front (size, alphabet, segments, JSON) does not depend on the algorithm: these
# run with the test settings' HS256.


@fuzz_settings(100)
@given(raw=st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_input_is_refused(raw: str | bytes) -> None:
    _refused(raw)
    _refused(raw, tokens.REFRESH)


@fuzz_settings(100)
@given(segments=st.lists(st.text(alphabet=B64URL + "=+/", max_size=120), min_size=1, max_size=5))
def test_arbitrary_segments_are_refused(segments: list[str]) -> None:
    _refused(".".join(segments))


@fuzz_settings(50)
@given(header=json_values, claims=json_values, signature=st.binary(max_size=300))
def test_json_segments_with_a_random_signature_are_refused(
    header: Any, claims: Any, signature: bytes
) -> None:
    raw = f"{forge.segment(json.dumps(header))}.{forge.segment(json.dumps(claims))}"
    _refused(f"{raw}.{forge.b64url(signature)}")


# -- a genuine token, mutated --------------------------------------------------------------------


@fuzz_settings(40)
@given(data=st.data())
def test_mutated_genuine_token_is_refused_unless_unchanged(
    signer: Any, clock: Any, data: st.DataObject
) -> None:
    genuine, issued = tokens.encode(tokens.ACCESS, sub="42", sid="s" * 22, lifetime=300)
    other, _ = tokens.encode(tokens.REFRESH, sub="43", sid="t" * 22, lifetime=300)
    candidate = data.draw(mutated(genuine, [other]))
    if candidate == genuine:
        event("mutation left the token unchanged")
        assert tokens.decode(candidate).claims == issued.claims
    else:
        _refused(candidate)


# -- any header and claims, signed with the real key ---------------------------------------------

MODES = st.sampled_from(["valid"] * 8 + ["random", "absent"])


def _valid_claim(name: str) -> st.SearchStrategy[Any]:
    ident = st.text(alphabet=B64URL, min_size=1, max_size=64)
    return {
        "iss": st.just(conf.ISSUER),
        "aud": st.sampled_from([conf.AUDIENCE, [conf.AUDIENCE], ["other", conf.AUDIENCE]]),
        "sub": st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True),
        "jti": ident,
        "sid": ident,
        "iat": st.integers(NOW - 3600, NOW),
        "nbf": st.integers(NOW - 3600, NOW),
        "exp": st.integers(NOW - 10, NOW + 3600),
    }[name]


@st.composite
def signed_parts(draw: st.DrawFn, token_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw a header and claims: mostly valid members, some random, some absent, extras."""
    ring = keyring()
    header_valid = {"alg": ring.algorithm, "kid": ring.signing_kid, "typ": tokens.TYP[token_type]}
    header: dict[str, Any] = {}
    for name, value in header_valid.items():
        mode = draw(MODES)
        if mode == "valid":
            header[name] = value
        elif mode == "random":
            header[name] = draw(json_values | st.sampled_from(["none", "at+jwt", "rt+jwt"]))
    if draw(st.integers(0, 9)) == 0:
        header.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    claims: dict[str, Any] = {}
    for name in sorted(tokens.REGISTERED_CLAIMS):
        mode = draw(MODES)
        if mode == "valid":
            claims[name] = draw(_valid_claim(name))
        elif mode == "random":
            claims[name] = draw(json_values)
    claims.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return header, claims


def _acceptable(header: dict[str, Any], claims: dict[str, Any], token_type: str) -> bool:
    """Decide, from the RFCs rather than from jwtauth's code, whether a token must verify."""
    ring = keyring()
    expected = {"alg": ring.algorithm, "kid": ring.signing_kid, "typ": tokens.TYP[token_type]}
    if set(header) != set(expected):
        return False
    # Compare as JSON would: a header value of another type (1 vs True) is not equal.
    if any(type(header[k]) is not str or header[k] != v for k, v in expected.items()):
        return False
    if not set(claims) >= tokens.REGISTERED_CLAIMS:
        return False
    aud = claims["aud"]
    audience_ok = aud == conf.AUDIENCE or (isinstance(aud, list) and conf.AUDIENCE in aud)
    if claims["iss"] != conf.ISSUER or not audience_ok:
        return False
    dates = [claims[n] for n in ("iat", "nbf", "exp")]
    if any(type(d) is not int or not 0 <= d < MAX_DATE for d in dates):
        return False
    iat, nbf, exp = dates
    if not (iat < exp and iat <= NOW and nbf <= NOW and exp > NOW):
        return False
    limits = {"jti": 64, "sid": 64, "sub": 255}
    return all(
        isinstance(claims[n], str) and len(claims[n]) <= m and TEXT.fullmatch(claims[n])
        for n, m in limits.items()
    )


@fuzz_settings(60)
@given(data=st.data(), token_type=st.sampled_from([tokens.ACCESS, tokens.REFRESH]))
def test_resigned_header_and_claims_verify_exactly_or_are_refused(
    signer: Any, clock: Any, data: st.DataObject, token_type: str
) -> None:
    header, claims = data.draw(signed_parts(token_type))
    raw = forge.sign(header, claims, signer)
    if _acceptable(header, claims, token_type):
        event("accepted")
        verified = tokens.decode(raw, token_type)
        assert verified.claims == claims
        assert (verified.type, verified.jti, verified.sid, verified.sub) == (
            token_type,
            claims["jti"],
            claims["sid"],
            claims["sub"],
        )
        assert (verified.iat, verified.exp) == (claims["iat"], claims["exp"])
    else:
        event("refused")
        _refused(raw, token_type)
