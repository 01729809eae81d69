"""DPoP proofs (RFC 9449): what is accepted, every refusal of §4.3 and §11, replay, nonces.

Proofs are made here by an independent client, PyJWT's JWS encoder with keys from
``cryptography`` (:class:`Holder`), and by hand (``tests.security.forge``) for the malformed
ones no library would produce; nothing here signs through :mod:`jwtauth.dpop`. The replay
cache runs on the real Redis (``@pytest.mark.redis``), and its outage on a private one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from django.core.cache import caches
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.api_jws import PyJWS

from jwtauth import checks, dpop, tokens
from jwtauth.dpop import jwk, nonces, replay
from jwtauth.exceptions import NotAuthenticated, ServiceUnavailable, TokenError
from tests.conftest import use_redis
from tests.security import forge
from tests.security.strategies import B64URL

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000  # the ``clock`` fixture's instant
URL = "https://api.example.test/items/7"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLW9mLWEtdG9rZW4"
OMIT = object()
PYJWT = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "Ed25519": OKPAlgorithm(),
    "EdDSA": OKPAlgorithm(),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
}
JWS = PyJWS()
JWS.register_algorithm("Ed25519", OKPAlgorithm())  # RFC 9864's name; PyJWT knows "EdDSA"
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}

pytestmark = pytest.mark.usefixtures("clock")


def ath_of(token: str) -> str:
    """Return RFC 9449's ``ath``, computed without jwtauth."""
    return forge.b64url(hashlib.sha256(token.encode("ascii")).digest())


def thumbprint_of(public_jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint, computed without jwtauth."""
    members = {m: public_jwk[m] for m in THUMBPRINT_MEMBERS[public_jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return forge.b64url(hashlib.sha256(canonical.encode()).digest())


def good_claims(**changes: Any) -> dict[str, Any]:
    """Return the claims of a good proof for a GET of ``URL`` with ``TOKEN``, with ``changes``."""
    claims = {
        "jti": secrets.token_urlsafe(16),
        "htm": "GET",
        "htu": URL,
        "iat": NOW,
        "ath": ath_of(TOKEN),
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not OMIT}


class Holder:
    """A DPoP client made of PyJWT and cryptography alone: one key pair, proofs signed with it."""

    def __init__(self, alg: str, private: Any) -> None:
        self.alg = alg
        self.private = private
        self.jwk: dict[str, Any] = PYJWT[alg].to_jwk(private.public_key(), as_dict=True)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Return good claims for a GET of ``URL`` with ``TOKEN``, with ``changes``."""
        return good_claims(**changes)

    def proof(self, header: dict[str, Any] | None = None, **changes: Any) -> str:
        """Return a proof PyJWT signs: ``typ``, ``alg``, ``jwk``, plus ``header``."""
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        payload = json.dumps(self.claims(**changes)).encode()
        return JWS.encode(payload, self.private, algorithm=self.alg, headers=headers)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` as a JWS with this key and algorithm."""
        return PYJWT[self.alg].sign(data, self.private)

    def forged(self, header: Any = None, claims: Any = None) -> str:
        """Return a hand-built proof (any header and claims), signed with this key."""
        if header is None:
            header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        return forge.sign(header, self.claims() if claims is None else claims, self.sign)


def load_pem(pem: str) -> Any:
    """Return the private key of ``pem``."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


@pytest.fixture
def holder() -> Holder:
    """Return an ES256 client."""
    return Holder("ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def rsa_allowed(settings: Any) -> None:
    """Allow the optional RSA algorithms too."""
    settings.JWTAUTH_DPOP_ALGORITHMS = ["ES256", "Ed25519", "EdDSA", "PS256", "RS256"]


def make_holder(alg: str, private_keys: dict[str, str]) -> Holder:
    """Return a client for ``alg`` (RSA keys come from the session's pool, being slow to make)."""
    if alg == "ES256":
        return Holder(alg, ec.generate_private_key(ec.SECP256R1()))
    if alg in ("Ed25519", "EdDSA"):
        return Holder(alg, ed25519.Ed25519PrivateKey.generate())
    return Holder(alg, load_pem(private_keys["RS256"]))


def verify(proof: str | None, **request: Any) -> dpop.Proof:
    """Verify ``proof`` for a GET of ``URL`` with ``TOKEN`` unless ``request`` says otherwise."""
    request = {"method": "GET", "url": URL, "access_token": TOKEN, **request}
    return dpop.verify_proof(proof, **request)


def refused(proof: str | None, reason: str = "", **request: Any) -> dpop.InvalidDPoPProof:
    """Assert ``proof`` is refused as invalid_dpop_proof, with ``reason`` in the detail."""
    with pytest.raises(dpop.InvalidDPoPProof) as caught:
        verify(proof, **request)
    assert caught.value.code == "invalid_dpop_proof"
    assert caught.value.status == 401
    assert reason in str(caught.value.detail)
    return caught.value


# -- accepted ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("rsa_allowed")
@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "EdDSA", "PS256", "RS256"])
def test_a_proof_of_each_algorithm_is_accepted(alg: str, private_keys: dict[str, str]) -> None:
    client = make_holder(alg, private_keys)
    claims = client.claims()
    proof = verify(client.proof(**claims))
    assert proof == dpop.Proof(thumbprint_of(client.jwk), claims["jti"], NOW, alg)


def test_the_default_allowlist_is_es256_and_ed25519(private_keys: dict[str, str]) -> None:
    for alg in ("ES256", "Ed25519", "EdDSA"):
        verify(make_holder(alg, private_keys).proof())
    for alg in ("PS256", "RS256"):
        refused(make_holder(alg, private_keys).proof(), "algorithm is not accepted")


def test_the_rfc_examples_thumbprint_and_ath() -> None:
    # RFC 9449 §4.1 (the proof's key) and §6.1 (its jkt); §7.1 (the token and its ath).
    values = (
        "P-256",
        "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    )
    assert jwk.thumbprint("EC", values) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    assert dpop.ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_a_token_endpoint_proof_has_no_ath(holder: Holder) -> None:
    proof = holder.proof(htm="POST", ath=OMIT)
    assert verify(proof, method="POST", access_token=None).jkt == thumbprint_of(holder.jwk)


@pytest.mark.parametrize("typ", ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt"])
def test_typ_is_a_media_type(holder: Holder, typ: str) -> None:
    # RFC 7515 §4.1.9: "application/" may be omitted, and media types ignore case.
    verify(holder.proof(header={"typ": typ}))


def test_iat_may_have_a_fraction(holder: Holder) -> None:
    assert verify(holder.proof(iat=NOW + 0.5)).iat == NOW + 0.5


def test_extension_claims_are_ignored(holder: Holder) -> None:
    verify(holder.proof(extra={"anything": [1, 2]}))


def test_a_nonce_claim_is_ignored_when_nonces_are_off(holder: Holder) -> None:
    verify(holder.proof(nonce="whatever the client kept"))


def test_descriptive_jwk_members_are_allowed(holder: Holder) -> None:
    described = {**holder.jwk, "alg": "ES256", "use": "sig", "kid": "k1", "key_ops": ["verify"]}
    verify(holder.proof(header={"jwk": described}))


# -- htu -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "request_url"),
    [
        (URL, URL + "?page=2#top"),  # RFC 9449 §4.3 check 9: query and fragment ignored
        (URL + "?other=1", URL),
        ("HTTPS://API.Example.TEST/items/7", URL),  # RFC 3986 §6.2.2.1, §6.2.3
        ("https://api.example.test:443/items/7", URL),
        ("https://api.example.test", "https://api.example.test/"),
        ("http://api.example.test:80/", "http://api.example.test/"),
        ("https://api.example.test/a/../b/./../items/7", URL),  # §6.2.2.3
        ("https://api.example.test/%69tems/7", URL),  # §6.2.2.2: unreserved decoded
        ("https://api.example.test/a%2fb", "https://api.example.test/a%2Fb"),  # hex case
        ("https://api.example.test/~me/$x", "https://api.example.test/%7Eme/%24x"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ],
)
def test_htu_matches_after_normalisation(holder: Holder, claim: str, request_url: str) -> None:
    verify(holder.proof(htu=claim), url=request_url)


@pytest.mark.parametrize(
    ("claim", "request_url"),
    [
        (URL, "https://api.example.test/items/8"),
        (URL, "https://api.example.test/items/7/"),
        (URL, "http://api.example.test/items/7"),
        (URL, "https://api.example.test:8443/items/7"),
        (URL, "https://other.example.test/items/7"),
        ("https://api.example.test/a%2Fb", "https://api.example.test/a/b"),  # no segment merge
        ("https://user@api.example.test/items/7", URL),  # userinfo (RFC 9110 §4.2.4)
        ("/items/7", URL),
        ("ftp://api.example.test/items/7", "ftp://api.example.test/items/7"),
        ("https://api.example.test/items/7 ", URL),
        ("https://api.example.test/ite\tms/7", URL),  # urlsplit would drop the tab
        ("https://api.example.test:99999/items/7", URL),
        ("https://[::1/items/7", URL),
        ("https:///items/7", URL),
    ],
)
def test_htu_for_another_url_is_refused(holder: Holder, claim: str, request_url: str) -> None:
    refused(holder.proof(htu=claim), "another URL", url=request_url)


def test_behind_a_proxy_the_forwarded_headers_make_htu_match(
    holder: Holder, settings: Any, rf: Any
) -> None:
    # The client signs the public URL; the server must rebuild it from what the proxy forwards.
    public = "https://api.example.test/items/7"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.test"}
    forwarded = {"path": "/items/7?page=2", "HTTP_HOST": "app-internal:8000", "headers": headers}
    proof = holder.proof(htu=public)
    refused(proof, "another URL", url=rf.get(**forwarded).build_absolute_uri())
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    url = rf.get(**forwarded).build_absolute_uri()
    assert url == public + "?page=2"
    verify(proof, url=url)


# -- form ----------------------------------------------------------------------------------------


def test_no_proof_is_refused() -> None:
    refused(None, "no DPoP proof")


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "a.b", "a.b.c.d", "a..c", "a.b.", "é.b.c", "a b.c.d", "a.b.c\n"],
    ids=repr,
)
def test_what_is_not_one_compact_jws_is_refused(raw: str) -> None:
    refused(raw, "not one well-formed JWT")


def test_two_proofs_joined_as_repeated_headers_are_refused(holder: Holder) -> None:
    # RFC 9449 §4.3 check 1: one DPoP header; servers join repeated ones with commas.
    refused(f"{holder.proof()}, {holder.proof()}", "not one well-formed JWT")
    refused(f"{holder.proof()},{holder.proof()}", "not one well-formed JWT")


def test_an_oversized_proof_is_refused_before_parsing(holder: Holder) -> None:
    refused(holder.proof(padding="x" * 4000), "too long")


def test_base64url_in_another_spelling_is_refused(holder: Holder) -> None:
    header, payload, signature = holder.proof().split(".")
    assert len(signature) % 4 == 2  # 64 bytes: the last character carries 4 pad bits
    # Set a pad bit: the same bytes, another spelling (RFC 4648 §3.5).
    respelt = signature[:-1] + B64URL[B64URL.index(signature[-1]) ^ 1]
    assert forge.unb64url(respelt) == forge.unb64url(signature)
    refused(f"{header}.{payload}.{respelt}", "base64url")
    refused(f"{header}.{payload}.{signature}AAA", "base64url")  # 1 mod 4 characters: no base64


@pytest.mark.parametrize(
    "header",
    [
        b"not json",
        b"[1, 2]",
        b'"dpop+jwt"',
        b"\xff\xfe{}",
        b'{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":{}}',  # duplicate member
        b'{"typ":"dpop+jwt","alg":NaN,"jwk":{}}',
        '{"typ":"dpop+jwt","alg":"ES256","jwk":{}}'.encode("utf-16"),
        b"[" * 1000 + b"]" * 1000,
    ],
    ids=lambda h: repr(h[:30]),
)
def test_a_header_that_is_not_one_json_object_is_refused(holder: Holder, header: bytes) -> None:
    with pytest.raises(dpop.InvalidDPoPProof):
        verify(holder.forged(header=header))


def test_claims_that_are_not_one_json_object_are_refused(holder: Holder) -> None:
    refused(holder.forged(claims=b"[]"), "JSON")
    refused(holder.forged(claims=b'{"jti":"a","jti":"b"}'), "JSON")
    refused(holder.forged(claims=b'{"iat": Infinity}'), "JSON")


# -- header --------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", [OMIT, "JWT", "at+jwt", "dpop", "application/jwt", 1, None])
def test_a_proof_not_typed_dpop_jwt_is_refused(holder: Holder, typ: Any) -> None:
    header = {"alg": "ES256", "jwk": holder.jwk}
    if typ is not OMIT:
        header["typ"] = typ
    reason = "typ, alg and jwk" if typ is OMIT else "not of type dpop+jwt"
    refused(holder.forged(header=header), reason)


@pytest.mark.parametrize(
    "member",
    [
        {"kid": "k1"},
        {"jku": "https://attacker.test/jwks"},
        {"x5u": "https://attacker.test/cert"},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"b64": False},
        {"cty": "JWT"},
    ],
    ids=lambda m: next(iter(m)),
)
def test_header_members_beyond_typ_alg_jwk_are_refused(holder: Holder, member: Any) -> None:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.jwk, **member}
    refused(holder.forged(header=header), "exactly typ, alg and jwk")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(holder: Holder, alg: str) -> None:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": holder.jwk}
    unsigned = forge.sign(header, holder.claims(), None)  # the empty third segment
    refused(unsigned, "not one well-formed JWT")
    refused(unsigned + "AAAA", "signed with a private key")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_is_refused_even_when_listed(holder: Holder, settings: Any, alg: str) -> None:
    settings.JWTAUTH_DPOP_ALGORITHMS = ["ES256", alg]
    secret = b"k" * 64
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "oct", "k": forge.b64url(secret)}}
    refused(forge.sign(header, holder.claims(), forge.hmac_signer(secret, alg)), "private key")


@pytest.mark.parametrize("alg", ["ES384", "ES512", "RS512", "EdDSA448", "", 256, None, ["ES256"]])
def test_an_algorithm_outside_the_allowlist_is_refused(holder: Holder, alg: Any) -> None:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": holder.jwk}
    refused(holder.forged(header=header), "algorithm is not accepted")


def test_the_allowlist_setting_is_honoured(holder: Holder, settings: Any) -> None:
    settings.JWTAUTH_DPOP_ALGORITHMS = ["Ed25519"]
    refused(holder.proof(), "algorithm is not accepted")


# -- jwk -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("rsa_allowed")
@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "RS256"])
def test_a_private_key_in_the_jwk_is_refused(alg: str, private_keys: dict[str, str]) -> None:
    client = make_holder(alg, private_keys)
    private_jwk = PYJWT[alg].to_jwk(client.private, as_dict=True)
    assert "d" in private_jwk
    refused(client.proof(header={"jwk": private_jwk}), "private key")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_any_private_member_is_refused(holder: Holder, member: str) -> None:
    refused(holder.proof(header={"jwk": {**holder.jwk, member: "AAAA"}}), "private key")


@pytest.mark.usefixtures("rsa_allowed")
@pytest.mark.parametrize(
    ("alg", "key_alg"),
    [
        ("ES256", "Ed25519"),
        ("ES256", "RS256"),
        ("Ed25519", "ES256"),
        ("EdDSA", "RS256"),
        ("RS256", "ES256"),
        ("PS256", "Ed25519"),
    ],
)
def test_a_key_of_another_type_than_alg_is_refused(
    alg: str, key_alg: str, private_keys: dict[str, str]
) -> None:
    # Key confusion: the signature is good for the key, but the key does not fit the alg.
    other = make_holder(key_alg, private_keys)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": other.jwk}
    refused(forge.sign(header, other.claims(), other.sign), "not a key for its algorithm")


def test_another_curve_is_refused(private_keys: dict[str, str]) -> None:
    p384, es384 = load_pem(private_keys["ES384"]), ECAlgorithm(ECAlgorithm.SHA384)
    header = {
        "typ": "dpop+jwt",
        "alg": "ES256",
        "jwk": es384.to_jwk(p384.public_key(), as_dict=True),
    }
    proof = forge.sign(header, good_claims(), lambda data: es384.sign(data, p384))
    refused(proof, "not a key for its algorithm")
    ed448_holder = Holder("EdDSA", ed448.Ed448PrivateKey.generate())
    assert ed448_holder.jwk["crv"] == "Ed448"
    refused(ed448_holder.proof(), "not a key for its algorithm")


@pytest.mark.parametrize(
    "change",
    [
        {"alg": "ES384"},
        {"use": "enc"},
        {"kty": "RSA"},
        {"crv": "P-384"},
        {"x": None},
        {"x": 12},
        {"x": "not base64url!"},
        {"y": OMIT},
        {"extra": "member"},
        {"x5c": ["MIIB"]},
    ],
    ids=repr,
)
def test_a_malformed_or_mislabelled_jwk_is_refused(holder: Holder, change: dict[str, Any]) -> None:
    described = {**holder.jwk, **change}
    described = {name: value for name, value in described.items() if value is not OMIT}
    refused(holder.proof(header={"jwk": described}))


@pytest.mark.parametrize("jwk_value", [None, "a key", [], 7])
def test_a_jwk_that_is_not_an_object_is_refused(holder: Holder, jwk_value: Any) -> None:
    refused(holder.proof(header={"jwk": jwk_value}), "jwk is malformed")


def test_coordinates_must_have_their_exact_length(holder: Holder) -> None:
    x = forge.unb64url(holder.jwk["x"])
    refused(holder.proof(header={"jwk": {**holder.jwk, "x": forge.b64url(b"\0" + x)}}))
    refused(holder.proof(header={"jwk": {**holder.jwk, "x": forge.b64url(x[1:])}}))


def test_a_point_off_the_curve_is_refused(holder: Holder) -> None:
    y = bytearray(forge.unb64url(holder.jwk["y"]))
    y[-1] ^= 1
    off = {**holder.jwk, "y": forge.b64url(bytes(y))}
    refused(holder.forged(header={"typ": "dpop+jwt", "alg": "ES256", "jwk": off}), "not a valid")


@pytest.mark.usefixtures("rsa_allowed")
@pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits")  # PyJWT, signing the weak key
def test_rsa_keys_must_be_2048_to_4096_bits_and_minimal(private_keys: dict[str, str]) -> None:
    weak = Holder("RS256", load_pem(private_keys["RSA-1024"]))
    refused(weak.proof(), "2048 to 4096 bits")
    client = Holder("RS256", load_pem(private_keys["RS256"]))
    padded = {**client.jwk, "n": forge.b64url(b"\0" + forge.unb64url(client.jwk["n"]))}
    refused(client.proof(header={"jwk": padded}), "not minimal")
    refused(client.proof(header={"jwk": {**client.jwk, "e": "Ag"}}), "not a valid public key")


def test_a_key_is_checked_and_parsed_once(holder: Holder) -> None:
    verify(holder.proof())
    loads, parses = jwk._load_members.cache_info(), jwk._parse.cache_info()
    verify(holder.proof())
    verify(holder.proof())
    assert jwk._load_members.cache_info().hits - loads.hits == 2
    assert jwk._load_members.cache_info().misses == loads.misses
    assert jwk._parse.cache_info() == parses


def test_a_key_with_list_members_is_parsed_once_by_its_thumbprint(holder: Holder) -> None:
    described = {**holder.jwk, "key_ops": ["verify"]}  # unhashable: checked each time
    verify(holder.proof(header={"jwk": described}))
    parses = jwk._parse.cache_info()
    verify(holder.proof(header={"jwk": described}))
    assert jwk._parse.cache_info().hits - parses.hits == 1
    assert jwk._parse.cache_info().misses == parses.misses


def test_a_refused_key_is_parsed_each_time_and_never_cached(holder: Holder) -> None:
    y = bytearray(forge.unb64url(holder.jwk["y"]))
    y[-1] ^= 1
    off = {**holder.jwk, "y": forge.b64url(bytes(y))}
    before = jwk._parse.cache_info()
    for _ in range(2):
        refused(holder.forged(header={"typ": "dpop+jwt", "alg": "ES256", "jwk": off}))
    after = jwk._parse.cache_info()
    assert (after.misses - before.misses, after.currsize) == (2, before.currsize)


# -- signature -----------------------------------------------------------------------------------


def test_a_changed_signature_is_refused(holder: Holder) -> None:
    header, payload, signature = holder.proof().split(".")
    raw = bytearray(forge.unb64url(signature))
    raw[5] ^= 0x01
    refused(f"{header}.{payload}.{forge.b64url(bytes(raw))}", "signature is invalid")


def test_changed_claims_are_refused(holder: Holder) -> None:
    header, _, signature = holder.proof().split(".")
    payload = forge.segment(holder.claims())
    refused(f"{header}.{payload}.{signature}", "signature is invalid")


def test_a_proof_signed_by_another_key_is_refused(holder: Holder) -> None:
    # The attacker's proof names the victim's public key but cannot sign with it.
    attacker = Holder("ES256", ec.generate_private_key(ec.SECP256R1()))
    refused(attacker.proof(header={"jwk": holder.jwk}), "signature is invalid")


@pytest.mark.parametrize("length", [0, 1, 63, 65, 72])
def test_an_es256_signature_of_the_wrong_length_is_refused(holder: Holder, length: int) -> None:
    header, payload, _ = holder.proof().split(".")
    signature = forge.b64url(b"\x01" * length) if length else ""
    with pytest.raises(dpop.InvalidDPoPProof):
        verify(f"{header}.{payload}.{signature}")


def test_an_es256_signature_respelt_with_a_leading_zero_is_refused(holder: Holder) -> None:
    # R || 0x00 || S is the same pair of integers, 65 bytes long: not the JWS encoding.
    header, payload, signature = holder.proof().split(".")
    raw = forge.unb64url(signature)
    refused(f"{header}.{payload}.{forge.b64url(raw[:32] + bytes(1) + raw[32:])}", "signature")


def test_a_der_ecdsa_signature_is_refused(holder: Holder) -> None:
    # RFC 7518 §3.4: R || S, not the DER structure cryptography returns.
    der = forge.sign(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.jwk},
        holder.claims(),
        lambda data: holder.private.sign(data, ec.ECDSA(ECAlgorithm.SHA256())),
    )
    refused(der, "signature is invalid")


def test_an_all_zero_ecdsa_signature_is_refused(holder: Holder) -> None:
    header, payload, _ = holder.proof().split(".")
    refused(f"{header}.{payload}.{forge.b64url(bytes(64))}", "signature is invalid")


@pytest.mark.usefixtures("rsa_allowed")
def test_rs256_and_ps256_signatures_are_not_interchangeable(private_keys: dict[str, str]) -> None:
    key = load_pem(private_keys["RS256"])
    pss = Holder("PS256", key)
    signed_pss = pss.proof()
    header = forge.segment({"typ": "dpop+jwt", "alg": "RS256", "jwk": pss.jwk})
    _, payload, signature = signed_pss.split(".")
    refused(f"{header}.{payload}.{signature}", "signature is invalid")


# -- claims --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jti", "htm", "htu", "iat"])
def test_each_required_claim_must_be_present(holder: Holder, name: str) -> None:
    refused(holder.proof(**{name: OMIT}))


@pytest.mark.parametrize("jti", ["", "x" * 257, "a\nb", "\ud800", 7, None, ["a"]], ids=repr)
def test_a_bad_jti_is_refused(holder: Holder, jti: Any) -> None:
    refused(holder.forged(claims=holder.claims(jti=jti)))


@pytest.mark.parametrize("htm", ["POST", "get", "GET ", "", 1])
def test_a_proof_for_another_method_is_refused(holder: Holder, htm: Any) -> None:
    refused(holder.proof(htm=htm))


def test_htm_must_match_the_request_method_exactly(holder: Holder) -> None:
    verify(holder.proof(htm="PATCH"), method="PATCH")
    refused(holder.proof(htm="PATCH"), "another HTTP method", method="PUT")


@pytest.mark.parametrize("skew", [60, 30])
def test_iat_within_the_skew_is_accepted_at_both_edges(
    holder: Holder, settings: Any, skew: int
) -> None:
    settings.JWTAUTH_DPOP_IAT_SKEW = skew
    verify(holder.proof(iat=NOW - skew))
    verify(holder.proof(iat=NOW + skew))
    refused(holder.proof(iat=NOW - skew - 1), "outside the accepted window")
    refused(holder.proof(iat=NOW + skew + 1), "outside the accepted window")


def test_a_proof_ages_out(holder: Holder, clock: Any) -> None:
    proof = holder.proof()
    clock.shift(61)
    refused(proof, "outside the accepted window")


@pytest.mark.parametrize("iat", [str(NOW), True, None, [NOW], OMIT], ids=repr)
def test_a_bad_iat_is_refused(holder: Holder, iat: Any) -> None:
    refused(holder.proof(iat=iat), "iat is missing or not a number")


def test_an_infinite_iat_is_refused(holder: Holder) -> None:
    claims = json.dumps(holder.claims(iat=0)).replace('"iat": 0', '"iat": 1e400')
    refused(holder.forged(claims=claims.encode()), "not a number")


@pytest.mark.parametrize(
    "ath",
    [
        ath_of(TOKEN + "x"),
        ath_of(TOKEN)[:-1],
        ath_of(TOKEN).upper(),
        "",
        "é",
        "\ud800",
        1,
        None,
        OMIT,
    ],
    ids=repr,
)
def test_a_wrong_or_missing_ath_is_refused(holder: Holder, ath: Any) -> None:
    refused(holder.proof(ath=ath))


def test_a_proof_for_another_token_is_refused(holder: Holder) -> None:
    refused(holder.proof(), "ath does not match", access_token=TOKEN + "x")


def test_an_ath_is_ignored_where_no_token_is_presented(holder: Holder) -> None:
    # A client adding ath to every request still gets through a token endpoint.
    verify(holder.proof(htm="POST"), method="POST", access_token=None)


# -- replay (RFC 9449 §11.1) ---------------------------------------------------------------------


@pytest.mark.redis
def test_a_replayed_proof_is_refused(holder: Holder) -> None:
    proof = holder.proof()
    verify(proof)
    refused(proof, "already used")


@pytest.mark.redis
def test_a_jti_is_scoped_to_its_key(holder: Holder) -> None:
    other = Holder("ES256", ec.generate_private_key(ec.SECP256R1()))
    verify(holder.proof(jti="shared"))
    verify(other.proof(jti="shared"))
    refused(holder.proof(jti="shared"), "already used")


@pytest.mark.redis
def test_a_replay_is_refused_even_to_another_url_check(holder: Holder) -> None:
    # The record is made only after every other check passed: a proof refused for its URL
    # is not burnt, and one accepted cannot be replayed anywhere.
    proof = holder.proof()
    refused(proof, "another URL", url=URL + "/other")
    verify(proof)
    refused(proof, "already used")


@pytest.mark.redis
def test_the_record_outlives_the_acceptance_window(holder: Holder) -> None:
    cache = caches["default"]
    for iat in (NOW - 60, NOW, NOW + 60):
        claims = holder.claims(iat=iat)
        verify(holder.proof(**claims))
        kept = cache.ttl(replay.replay_key(thumbprint_of(holder.jwk), claims["jti"]))
        accepted_for = iat + 60 - NOW
        # Accepted until iat + skew; kept a further skew for workers whose clocks lag.
        assert accepted_for + 60 - 2 <= kept <= accepted_for + 60


@pytest.mark.redis
def test_concurrent_replays_let_exactly_one_through(holder: Holder) -> None:
    proof = holder.proof()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            verify(proof)
            results.append("accepted")
        except dpop.InvalidDPoPProof:
            results.append("replay")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["accepted"] + ["replay"] * 7


def _verify_in_child(proof: str) -> str:
    try:
        verify(proof)
    except dpop.InvalidDPoPProof:
        return "replay"
    return "accepted"


@pytest.mark.redis
# Python 3.12 warns on any fork while other threads exist (earlier tests may leave idle ones).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_processes_share_the_replay_cache(holder: Holder) -> None:
    proof = holder.proof()
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_verify_in_child, [proof] * 8)
    assert sorted(results) == ["accepted"] + ["replay"] * 7
    refused(proof, "already used")


@pytest.fixture
def replay_redis(private_redis: Any, settings: Any) -> Any:
    """Make a private Redis the cache, which the test may stop or freeze."""
    use_redis(settings, private_redis)
    return private_redis


@pytest.mark.redis
def test_one_set_nx_per_proof(holder: Holder, replay_redis: Any) -> None:
    verify(holder.proof())
    before = replay_redis.calls("set")
    verify(holder.proof())
    assert replay_redis.calls("set") - before == 1
    with replay_redis.client() as client:
        assert client.dbsize() == 2


def _unavailable(proof: str) -> ServiceUnavailable:
    with pytest.raises(dpop.ReplayCacheUnavailable) as caught:
        verify(proof)
    assert caught.value.status == 503
    assert caught.value.code == "service_unavailable"
    return caught.value


@pytest.mark.redis
def test_a_dead_cache_refuses_every_proof(holder: Holder, replay_redis: Any, caplog: Any) -> None:
    verify(holder.proof())
    replay_redis.stop()
    with caplog.at_level("WARNING", logger="jwtauth"):
        for _ in range(3):
            _unavailable(holder.proof())
    outage = [r.getMessage() for r in caplog.records if "replay cache" in r.getMessage()]
    assert len(outage) == 1, "one warning per outage, not per request"
    assert TOKEN not in caplog.text
    replay_redis.start()
    verify(holder.proof())


@pytest.mark.redis
def test_a_hung_cache_refuses_within_its_socket_timeout(holder: Holder, replay_redis: Any) -> None:
    verify(holder.proof())
    replay_redis.pause()
    try:
        started = time.monotonic()
        _unavailable(holder.proof())
        assert time.monotonic() - started < 2
    finally:
        replay_redis.resume()


@pytest.mark.redis
def test_a_cache_that_swallows_errors_still_fails_closed(
    holder: Holder, replay_redis: Any, settings: Any
) -> None:
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "OPTIONS": {"IGNORE_EXCEPTIONS": True}}
    }
    verify(holder.proof())
    replay_redis.stop()
    assert caches["default"].add("probe", 1) is None  # django-redis hides the error ...
    _unavailable(holder.proof())  # ... and the proof is still refused


# -- nonces (RFC 9449 §8, §9) --------------------------------------------------------------------


@pytest.fixture
def nonces_on(settings: Any) -> None:
    """Require server nonces."""
    settings.JWTAUTH_DPOP_NONCE = True


def _asks_for_nonce(proof: str, **request: Any) -> str:
    with pytest.raises(dpop.UseDPoPNonce) as caught:
        verify(proof, **request)
    assert caught.value.code == "use_dpop_nonce"
    assert caught.value.status == 401
    assert caught.value.token_endpoint_status == 400
    return caught.value.nonce


@pytest.mark.usefixtures("nonces_on")
def test_a_proof_without_the_nonce_gets_one_to_retry_with(holder: Holder) -> None:
    nonce = _asks_for_nonce(holder.proof())
    assert nonce == dpop.current_nonce()
    verify(holder.proof(nonce=nonce))


@pytest.mark.usefixtures("nonces_on")
def test_nonces_rotate_and_the_previous_one_stays_good(holder: Holder, clock: Any) -> None:
    first = dpop.current_nonce()
    clock.shift(299)
    assert dpop.current_nonce() == first
    clock.shift(1)
    second = dpop.current_nonce()
    assert second != first
    verify(holder.proof(nonce=first, iat=NOW + 300))
    clock.shift(300)
    assert _asks_for_nonce(holder.proof(nonce=first, iat=NOW + 600)) == dpop.current_nonce()
    verify(holder.proof(nonce=second, iat=NOW + 600))


@pytest.mark.usefixtures("nonces_on")
def test_the_nonce_lifetime_setting_is_honoured(holder: Holder, clock: Any, settings: Any) -> None:
    settings.JWTAUTH_DPOP_NONCE_LIFETIME = 30
    nonce = dpop.current_nonce()
    clock.shift(60)
    _asks_for_nonce(holder.proof(nonce=nonce, iat=NOW + 60))


@pytest.mark.usefixtures("nonces_on")
@pytest.mark.parametrize(
    "nonce",
    [
        lambda n: n[:-1] + ("A" if n[-1] != "A" else "B"),  # forged MAC
        lambda n: forge.b64url((6_000_001).to_bytes(8, "big") + forge.unb64url(n)[8:]),
        lambda n: n + "A",
        lambda n: n[:-4],
        lambda n: n.encode().hex(),
        lambda n: 12,
        lambda n: None,
        lambda n: "",
    ],
    ids=["forged", "future-step", "longer", "shorter", "hex", "number", "null", "empty"],
)
def test_a_nonce_the_server_did_not_issue_is_refused(holder: Holder, nonce: Any) -> None:
    _asks_for_nonce(holder.forged(claims=holder.claims(nonce=nonce(dpop.current_nonce()))))


@pytest.mark.usefixtures("nonces_on")
def test_a_nonce_from_another_secret_is_refused(holder: Holder, settings: Any) -> None:
    nonce = dpop.current_nonce()
    settings.SECRET_KEY = "another-deployment-" + "s" * 40
    _asks_for_nonce(holder.proof(nonce=nonce))


def test_the_caller_may_require_a_nonce_per_request(holder: Holder) -> None:
    _asks_for_nonce(holder.proof(), nonce_required=True)
    verify(holder.proof(nonce=dpop.current_nonce()), nonce_required=True)


@pytest.mark.usefixtures("nonces_on")
def test_the_caller_may_waive_the_nonce_per_request(holder: Holder) -> None:
    verify(holder.proof(), nonce_required=False)


@pytest.mark.usefixtures("nonces_on")
def test_the_nonce_is_checked_after_the_proof_itself(holder: Holder) -> None:
    # A bad proof learns nothing about nonces; a nonce refusal does not burn the jti.
    refused(holder.proof(htm="POST"), "another HTTP method")
    claims = holder.claims()
    _asks_for_nonce(holder.proof(**claims))
    verify(holder.proof(**{**claims, "nonce": dpop.current_nonce()}))


@pytest.mark.usefixtures("nonces_on")
def test_another_process_issues_and_accepts_the_same_nonce() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    script = (
        "import django, time_machine\n"
        "django.setup()\n"
        "from jwtauth.dpop import nonces\n"
        f"with time_machine.travel({NOW}, tick=False):\n"
        "    print(nonces.current_nonce(), nonces.is_valid(input()))\n"
    )
    here = dpop.current_nonce()
    child = subprocess.run(
        [sys.executable, "-c", script],
        input=here,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs, accepted = child.stdout.split()
    assert (theirs, accepted) == (here, "True")
    assert nonces.is_valid(theirs)


# -- binding (RFC 9449 §6.1, §7.1) ---------------------------------------------------------------


def test_a_bound_token_carries_cnf_jkt_and_reads_back(holder: Holder) -> None:
    jkt = thumbprint_of(holder.jwk)
    raw, _ = tokens.encode(
        tokens.ACCESS, sub="1", sid="s1", lifetime=60, extra=dpop.confirmation(jkt)
    )
    token = tokens.decode(raw)
    assert token.claims["cnf"] == {"jkt": jkt}
    assert dpop.bound_jkt(token.claims) == jkt
    dpop.check_binding(token.claims, verify(holder.proof(ath=ath_of(raw)), access_token=raw))


def test_a_bound_token_needs_a_proof_from_its_key(holder: Holder) -> None:
    claims = dpop.confirmation(thumbprint_of(holder.jwk))
    other = Holder("ES256", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(dpop.DPoPBindingError, match="another key"):
        dpop.check_binding(claims, verify(other.proof()))
    with pytest.raises(dpop.DPoPBindingError, match="send it with DPoP"):
        dpop.check_binding(claims, None)  # presented as Bearer: no downgrade


def test_a_bearer_token_is_refused_under_the_dpop_scheme(holder: Holder) -> None:
    dpop.check_binding({"sub": "1"}, None)
    with pytest.raises(dpop.DPoPBindingError, match="not bound"):
        dpop.check_binding({"sub": "1"}, verify(holder.proof()))


@pytest.mark.parametrize(
    "cnf", [{}, {"jkt": 1}, {"jkt": "short"}, {"jkt": "A" * 44}, "jkt", [], {"x5t#S256": "A" * 43}]
)
def test_a_malformed_confirmation_is_refused(cnf: Any) -> None:
    with pytest.raises(TokenError, match="confirmation"):
        dpop.bound_jkt({"cnf": cnf})


def test_binding_errors_are_token_errors() -> None:
    assert issubclass(dpop.DPoPBindingError, TokenError)
    assert dpop.DPoPBindingError().code == "token_invalid"


# -- challenge headers ---------------------------------------------------------------------------


def test_the_challenge_for_an_invalid_proof() -> None:
    headers = dpop.challenge(dpop.InvalidDPoPProof('A "quoted" \\ detail'))
    assert headers == {
        "WWW-Authenticate": 'DPoP error="invalid_dpop_proof", '
        'error_description="A quoted  detail", algs="ES256 Ed25519 EdDSA"'
    }
    # Not ASCII (a translation, say): the error's English text, for the client's developer.
    headers = dpop.challenge(dpop.InvalidDPoPProof("Une preuve invalide, hélas"))
    assert 'error_description="The DPoP proof is invalid."' in headers["WWW-Authenticate"]


def test_the_challenge_for_a_nonce() -> None:
    headers = dpop.challenge(dpop.UseDPoPNonce("n0nce"))
    assert headers["DPoP-Nonce"] == "n0nce"
    assert headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce", ')
    assert dpop.challenge(dpop.UseDPoPNonce("n0nce"), token_endpoint=True) == {
        "DPoP-Nonce": "n0nce"
    }


def test_the_challenge_for_a_token_error_and_for_no_credential(settings: Any) -> None:
    settings.JWTAUTH_DPOP_ALGORITHMS = ["Ed25519", "ES256"]
    assert dpop.challenge(dpop.DPoPBindingError())["WWW-Authenticate"] == (
        'DPoP error="invalid_token", error_description="The token is bound to another key.", '
        'algs="Ed25519 ES256"'
    )
    assert dpop.challenge() == {"WWW-Authenticate": 'DPoP algs="Ed25519 ES256"'}
    assert dpop.challenge(NotAuthenticated()) == dpop.challenge()
    assert dpop.challenge(dpop.InvalidDPoPProof(), token_endpoint=True) == {}
    assert dpop.challenge(dpop.ReplayCacheUnavailable()) == {}


# -- settings checks -----------------------------------------------------------------------------


def _check_ids() -> list[str]:
    return [message.id for message in checks.check_dpop()]


def test_the_defaults_pass_the_checks() -> None:
    assert _check_ids() == []


@pytest.mark.parametrize(
    "value",
    [[], ["none"], ["HS256"], ["ES256", "HS256"], "ES256", ["ES384"], [["ES256"]], None],
    ids=repr,
)
def test_a_bad_algorithm_allowlist_is_an_error(settings: Any, value: Any) -> None:
    settings.JWTAUTH_DPOP_ALGORITHMS = value
    assert _check_ids() == ["jwtauth.E014"]


@pytest.mark.parametrize("value", [0, -1, 301, "60", True, None])
def test_a_bad_skew_is_an_error(settings: Any, value: Any) -> None:
    settings.JWTAUTH_DPOP_IAT_SKEW = value
    assert _check_ids() == ["jwtauth.E015"]


@pytest.mark.parametrize("value", [9, 3601, "300", None])
def test_a_bad_nonce_lifetime_is_an_error(settings: Any, value: Any) -> None:
    settings.JWTAUTH_DPOP_NONCE_LIFETIME = value
    assert _check_ids() == ["jwtauth.E016"]


@pytest.mark.parametrize(
    "name", ["JWTAUTH_DPOP_ENABLED", "JWTAUTH_DPOP_NONCE", "JWTAUTH_DPOP_REQUIRED"]
)
def test_the_switches_must_be_booleans(settings: Any, name: str) -> None:
    setattr(settings, name, "yes")
    assert _check_ids() == ["jwtauth.E017"]


def test_requiring_dpop_while_it_is_off_is_an_error(settings: Any) -> None:
    settings.JWTAUTH_DPOP_REQUIRED = True
    settings.JWTAUTH_DPOP_ENABLED = False
    assert _check_ids() == ["jwtauth.E021"]


def test_requiring_dpop_with_cookies_warns_that_cookie_logins_are_refused(settings: Any) -> None:
    settings.JWTAUTH_DPOP_REQUIRED = True
    settings.JWTAUTH_COOKIES = True
    assert _check_ids() == ["jwtauth.W005"]
    settings.JWTAUTH_COOKIES = False
    assert _check_ids() == []


def test_the_rsa_algorithms_may_be_allowed(settings: Any) -> None:
    settings.JWTAUTH_DPOP_ALGORITHMS = ["PS256", "RS256", "ES256"]
    assert _check_ids() == []
