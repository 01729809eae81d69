"""Fuzz the DPoP proof parser: a proof verifies exactly when RFC 9449 says so, else is refused.

Properties:
- arbitrary text, base64url-ish segments and JSON segments with random signatures are refused
  with ``InvalidDPoPProof``;
- a genuine proof, mutated, is refused unless the mutation left it unchanged;
- any header and claims, signed with the client's real key, verify when and only when an
  independent oracle (below, from RFC 9449 §4.3 rather than from jwtauth's code) accepts them;
- ``htu`` normalisation raises nothing but ``ValueError`` and is idempotent.

No other exception ever escapes. ``JWTAUTH_FUZZ_EXAMPLES=<n>`` runs ``n`` examples per target.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import event, given
from hypothesis import strategies as st

from jwtauth import dpop
from jwtauth.dpop import htu
from tests.security import forge
from tests.security.strategies import B64URL, SPLICE, fuzz_settings, json_values, mutated
from tests.test_dpop import NOW, TOKEN, URL, Holder, ath_of, verify

TEXT = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")
SKEW = 60
EQUIVALENT_URLS = [
    URL,
    URL + "?page=2",
    URL + "#section",
    "HTTPS://api.EXAMPLE.test:443/items/./7",
    "https://api.example.test/%69tems/7",
]

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture(params=["ES256", "Ed25519"])
def client(request: pytest.FixtureRequest) -> Holder:
    """Return a client of each fast algorithm."""
    if request.param == "ES256":
        return Holder("ES256", ec.generate_private_key(ec.SECP256R1()))
    return Holder("Ed25519", ed25519.Ed25519PrivateKey.generate())


def _refused(raw: str) -> None:
    with pytest.raises(dpop.InvalidDPoPProof):
        verify(raw)


# -- arbitrary input -----------------------------------------------------------------------------


def _json_segments(parts: tuple[Any, Any, bytes]) -> str:
    header, claims, signature = parts
    raw = f"{forge.segment(json.dumps(header))}.{forge.segment(json.dumps(claims))}"
    return f"{raw}.{forge.b64url(signature)}"


ARBITRARY = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=SPLICE, max_size=300),
    st.lists(st.text(alphabet=B64URL + "=+/", max_size=120), min_size=1, max_size=5).map(".".join),
    st.tuples(json_values, json_values, st.binary(max_size=300)).map(_json_segments),
)


@fuzz_settings(200)
@given(raw=ARBITRARY)
def test_arbitrary_input_is_refused(raw: str) -> None:
    """Text, base64url-ish segments, or JSON segments with a random signature: all refused."""
    _refused(raw)


# -- a genuine proof, mutated --------------------------------------------------------------------


@fuzz_settings(60)
@given(data=st.data())
def test_a_mutated_proof_is_refused_unless_unchanged(client: Holder, data: st.DataObject) -> None:
    genuine, donor = client.proof(), client.proof()
    candidate = data.draw(mutated(genuine, [donor]))
    if candidate in (genuine, donor):
        # Splicing every segment of the donor in makes the donor: another genuine proof.
        event("mutation left a genuine proof")
        assert verify(candidate).jkt
    else:
        _refused(candidate)


# -- any header and claims, signed with the real key ---------------------------------------------

MODES = st.sampled_from(["valid"] * 8 + ["random", "absent"])


def _valid_claims(client: Holder) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "jti": st.text(alphabet=B64URL, min_size=1, max_size=64),
        "htm": st.just("GET"),
        "htu": st.sampled_from(EQUIVALENT_URLS),
        "iat": st.integers(NOW - SKEW, NOW + SKEW)
        | st.floats(NOW - SKEW, NOW + SKEW, allow_nan=False),
        "ath": st.just(ath_of(TOKEN)),
    }


def _valid_header(client: Holder) -> dict[str, st.SearchStrategy[Any]]:
    jwk_variants = st.sampled_from(
        [client.jwk, {**client.jwk, "use": "sig"}, {**client.jwk, "alg": client.alg}]
    )
    return {
        "typ": st.sampled_from(["dpop+jwt", "application/dpop+jwt", "DPOP+JWT"]),
        "alg": st.just(client.alg),
        "jwk": jwk_variants,
    }


def _draw_members(draw: st.DrawFn, valid: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, strategy in valid.items():
        mode = draw(MODES)
        if mode == "valid":
            members[name] = draw(strategy)
        elif mode == "random":
            # Lone surrogates too: JSON can spell them ("\\ud800"), and they break encode().
            odd = st.sampled_from(["none", "HS256", "GET", URL, "\ud800", "é", "\x00"])
            members[name] = draw(json_values | odd)
    return members


@st.composite
def signed_parts(draw: st.DrawFn, client: Holder) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw a header and claims: mostly valid members, some random, some absent, extras."""
    header = _draw_members(draw, _valid_header(client))
    if draw(st.integers(0, 9)) == 0:
        header.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    claims = _draw_members(draw, _valid_claims(client))
    claims.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    if isinstance(claims.get("jti"), str):
        # Each example's proof is new, so that no example is refused as another's replay.
        claims["jti"] += secrets.token_hex(8)
    return header, claims


def _header_acceptable(header: dict[str, Any], client: Holder) -> bool:
    if set(header) != {"typ", "alg", "jwk"}:
        return False
    typ, key = header["typ"], header["jwk"]
    if not isinstance(typ, str) or typ.lower() not in ("dpop+jwt", "application/dpop+jwt"):
        return False
    if header["alg"] != client.alg or type(header["alg"]) is not str:
        return False
    described = {**client.jwk, "use": "sig", "alg": client.alg}
    return (
        isinstance(key, dict)
        and key.items() <= described.items()
        and key.keys() >= client.jwk.keys()
    )


def _acceptable(header: dict[str, Any], claims: dict[str, Any], client: Holder) -> bool:
    """Decide, from RFC 9449 §4.3 rather than from jwtauth's code, whether a proof verifies."""
    if not _header_acceptable(header, client):
        return False
    if not {"jti", "htm", "htu", "iat", "ath"} <= claims.keys():
        return False
    jti, iat = claims["jti"], claims["iat"]
    if not (isinstance(jti, str) and 0 < len(jti) <= 256 and TEXT.fullmatch(jti)):
        return False
    if type(iat) not in (int, float) or not math.isfinite(iat) or abs(iat - NOW) > SKEW:
        return False
    return (
        claims["htm"] == "GET"
        and type(claims["htm"]) is str
        and claims["htu"] in EQUIVALENT_URLS
        and claims["ath"] == ath_of(TOKEN)
    )


@fuzz_settings(80)
@given(data=st.data())
def test_resigned_header_and_claims_verify_exactly_or_are_refused(
    client: Holder, data: st.DataObject
) -> None:
    header, claims = data.draw(signed_parts(client))
    raw = forge.sign(header, claims, client.sign)
    if len(raw) > 4096:
        event("too long")
        _refused(raw)
    elif _acceptable(header, claims, client):
        event("accepted")
        proof = verify(raw)
        assert (proof.jti, proof.iat, proof.alg) == (claims["jti"], claims["iat"], client.alg)
    else:
        event("refused")
        _refused(raw)


# -- htu -----------------------------------------------------------------------------------------

PIECES = ["/", ".", "..", "%", "%2F", "%2e", "%7e", "%zz", "?", "#", "@", ":", "[", "]", "::1"]
PIECES += ["443", "80", "a", "B", "~", "$", "'", " ", "\t", "é", "\ud800", "//"]
URLISH = st.builds(
    "".join, st.lists(st.sampled_from(["http", "https", "HTTP", "://", *PIECES]), max_size=12)
)
ABSOLUTE = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["https://", "http://", "HTTPS://", "https://[::1]", "http://h:8080"]),
        st.sampled_from(["api.example.test", "", "API.test:443", "h:80"]),
        st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    ),
)


@fuzz_settings(200)
@given(url=ABSOLUTE | URLISH | st.text(max_size=80))
def test_htu_normalisation_raises_only_value_error_and_is_idempotent(url: str) -> None:
    try:
        normal = htu.normalize(url)
    except ValueError:
        event("refused")
        return
    event("normalised")
    assert normal.startswith(("http://", "https://"))
    assert htu.normalize(normal) == normal
