"""Attack the signature and the algorithm: RFC 8725 §2.1, §3.1, §3.2; jwt_tool -X a/n/b/k/p.

Every test first takes a genuine token of the server under attack, changes one thing, and
expects jwtauth's 401. ``test_control_*`` prove the genuine token and the re-signing helper
work, so that each 401 is owed to the attack and not to a broken fixture.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.security import forge
from tests.security.conftest import ALGORITHMS, Server, new_private_key
from tests.security.expect import refused

# jwt_tool -X a and CVE-2015-9235: every spelling a lenient library has been caught accepting.
NONE_SPELLINGS = ["none", "None", "NONE", "nOnE", "NoNe", "none ", " none", "none\x00", "", None]
HMAC_GUESSES = [
    b"secret",
    b"jwt-secret",
    b"your-256-bit-secret",
    b"changeme",
    b"password",
    b"jwtauth",
    b"jwtauth-demo",
    # The placeholder of .env.example, in case someone deployed it as is.
    b"change-me-to-at-least-64-random-characters-use-secrets-token-urlsafe-64",
]
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _header(server: Server, **changes: Any) -> dict[str, Any]:
    header, _ = forge.parts(server.pair["access"])
    header.update(changes)
    return header


def _claims(server: Server) -> dict[str, Any]:
    return forge.parts(server.pair["access"])[1]


def test_control_genuine_token_is_accepted(server: Server) -> None:
    response = server.me(server.pair["access"])
    assert response.status == 200
    assert response.json()["username"] == "alice"


def test_control_resigned_token_is_accepted(server: Server) -> None:
    """Re-signing the genuine header and claims with the real key yields a working token."""
    assert server.me(server.resign(server.pair["access"])).status == 200


@pytest.mark.parametrize("alg", NONE_SPELLINGS, ids=repr)
@pytest.mark.parametrize("signature", ["empty", "original"])
def test_alg_none(server: Server, alg: str | None, signature: str) -> None:
    """RFC 8725 §2.1: an unsecured JWS must never pass, in any spelling, signed or not."""
    token = forge.sign(_header(server, alg=alg), _claims(server), None)
    if signature == "original":
        token += server.pair["access"].rsplit(".", 1)[1]
    refused(server.me(token), "token_invalid")


def test_alg_missing(server: Server) -> None:
    header = _header(server)
    del header["alg"]
    refused(server.me(forge.sign(header, _claims(server), None)), "token_invalid")


@pytest.mark.parametrize(
    "strip",
    [
        pytest.param(lambda sig: "", id="empty"),
        pytest.param(lambda sig: sig[: len(sig) // 2], id="truncated"),
        pytest.param(lambda sig: "A" * len(sig), id="all-zero-bytes"),
        pytest.param(lambda sig: sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"), id="last-bytes"),
        pytest.param(lambda sig: sig + "A" * 4, id="extended"),
    ],
)
def test_stripped_or_damaged_signature(server: Server, strip: Any) -> None:
    """jwt_tool -X n (CVE-2020-28042): a null or altered signature must not verify."""
    head, body, sig = server.pair["access"].split(".")
    refused(server.me(f"{head}.{body}.{strip(sig)}"), "token_invalid")


def test_signature_segment_missing(server: Server) -> None:
    head, body, _ = server.pair["access"].split(".")
    refused(server.me(f"{head}.{body}"), "token_invalid")


def test_non_canonical_base64_signature(server: Server) -> None:
    """The same signature bytes spelt differently (unused low bits set) are not our token.

    RFC 4648 §3.5 lets a decoder ignore the pad bits; jwtauth accepts a token only in the exact
    form it issued, so nothing keyed on the token text can be sidestepped with a respelling.
    """
    head, body, sig = server.pair["access"].split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_bits = (len(sig) * 6) % 8
    assert spare_bits, "this signature length has no spare bits"
    last = alphabet.index(sig[-1])
    respelt = sig[:-1] + alphabet[last ^ 1]
    assert forge.unb64url(respelt) == forge.unb64url(sig)
    refused(server.me(f"{head}.{body}.{respelt}"), "token_invalid")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_empty_key(server: Server, alg: str) -> None:
    """jwt_tool -X b (CVE-2019-20933): an HMAC made with an empty key."""
    token = forge.sign(_header(server, alg=alg), _claims(server), forge.hmac_signer(b"", alg))
    refused(server.me(token), "token_invalid")


@pytest.mark.parametrize("guess", HMAC_GUESSES, ids=lambda g: g.decode()[:24])
def test_hmac_with_guessed_key(server: Server, guess: bytes) -> None:
    """jwt_tool -C: a dictionary attack on the HMAC secret finds nothing."""
    token = forge.sign(_header(server, alg="HS256"), _claims(server), forge.hmac_signer(guess))
    refused(server.me(token), "token_invalid")


def test_hmac_with_kid_as_key(server: Server) -> None:
    """The ``kid`` is public; it must not be (or reveal) the HMAC secret."""
    header = _header(server, alg="HS256")
    token = forge.sign(header, _claims(server), forge.hmac_signer(header["kid"].encode()))
    refused(server.me(token), "token_invalid")


def test_hmac_secret_is_not_django_secret_key(hs256: Server) -> None:
    """A leaked Django SECRET_KEY must not forge tokens (system check jwtauth.E004)."""
    secret = hs256.stack.django_secret.encode()
    token = forge.sign(_header(hs256), _claims(hs256), forge.hmac_signer(secret))
    refused(hs256.me(token), "token_invalid")


def _attacker_signer(alg: str) -> forge.Signer:
    if alg.startswith("HS"):
        return forge.hmac_signer(secrets.token_bytes(64), alg)
    return forge.private_signer(new_private_key(alg))


def test_signed_by_another_key_of_the_same_algorithm(server: Server) -> None:
    """The plainest forgery: the right algorithm and kid, the attacker's own key."""
    token = forge.sign(_header(server), _claims(server), _attacker_signer(server.alg))
    refused(server.me(token), "token_invalid")


@pytest.mark.parametrize(
    ("victim", "origin"), [(a, b) for a in ALGORITHMS for b in ALGORITHMS if a != b]
)
def test_token_of_another_server_is_refused(servers: Any, victim: str, origin: str) -> None:
    """Same issuer, audience, database and users: a token signed for another deployment."""
    refused(servers[victim].me(servers[origin].pair["access"]), "token_invalid")


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES384", "ES512", "HS256", "EdDSA"])
def test_algorithm_switch_with_original_signature(rs256: Server, alg: str) -> None:
    """RFC 8725 §3.1: the algorithm is pinned; the header cannot choose another."""
    sig = rs256.pair["access"].rsplit(".", 1)[1]
    token = forge.sign(_header(rs256, alg=alg), _claims(rs256), None) + sig
    refused(rs256.me(token), "token_invalid")


# -- key confusion: jwt_tool -X k, CVE-2016-5431, RFC 8725 §2.1 ------------------------------


def _published_key(server: Server) -> tuple[dict[str, str], Any]:
    """Fetch the server's JWKS and rebuild its public key, as an attacker would."""
    response = server.request("GET", "/.well-known/jwks.json")
    assert response.status == 200
    jwk = response.json()["keys"][0]
    if jwk["kty"] == "RSA":
        n, e = (int.from_bytes(forge.unb64url(jwk[m]), "big") for m in ("n", "e"))
        return jwk, rsa.RSAPublicNumbers(e, n).public_key()
    if jwk["kty"] == "EC":
        x, y = (int.from_bytes(forge.unb64url(jwk[m]), "big") for m in ("x", "y"))
        return jwk, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return jwk, ed25519.Ed25519PublicKey.from_public_bytes(forge.unb64url(jwk["x"]))


def _verifies(server: Server, public: Any) -> bool:
    head, body, sig = server.pair["access"].split(".")
    data, signature = f"{head}.{body}".encode(), forge.unb64url(sig)
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(public, ec.EllipticCurvePublicKey):
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(signature, data)
    return True


def _key_spellings(jwk: dict[str, str], public: Any) -> dict[str, bytes]:
    """Every byte string a confused verifier might use as the HMAC secret."""
    spki = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spellings = {
        "spki-pem": spki,
        "spki-pem-no-newline": spki.rstrip(b"\n"),
        "spki-pem-crlf": spki.replace(b"\n", b"\r\n"),
        "spki-der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":")).encode(),
    }
    if isinstance(public, rsa.RSAPublicKey):
        spellings["pkcs1-pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        spellings["ssh"] = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        spellings["modulus"] = forge.unb64url(jwk["n"])
    elif isinstance(public, ec.EllipticCurvePublicKey):
        spellings["uncompressed-point"] = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        spellings["raw"] = forge.unb64url(jwk["x"])
    return spellings


@pytest.fixture(params=["RS256", "ES256", "EdDSA"])
def asymmetric(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """Each server that publishes a public key."""
    return servers[request.param]


def test_control_published_key_verifies_genuine_tokens(asymmetric: Server) -> None:
    """The rebuilt key really is the server's key, so the confusion attack is a fair one."""
    jwk, public = _published_key(asymmetric)
    assert _verifies(asymmetric, public)
    assert jwk["kid"] == forge.parts(asymmetric.pair["access"])[0]["kid"]


@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_key_confusion_public_key_as_hmac_secret(asymmetric: Server, hmac_alg: str) -> None:
    """Sign HS* with the published public key, in every spelling, under the real kid."""
    jwk, public = _published_key(asymmetric)
    for name, secret in _key_spellings(jwk, public).items():
        header = _header(asymmetric, alg=hmac_alg, kid=jwk["kid"])
        token = forge.sign(header, _claims(asymmetric), forge.hmac_signer(secret, hmac_alg))
        response = asymmetric.me(token)
        assert response.status == 401, (name, response.status)
        refused(response, "token_invalid")


# -- ECDSA: jwt_tool -X p, CVE-2022-21449 -----------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(bytes(64), id="r=s=0"),
        pytest.param(P256_ORDER.to_bytes(32, "big") * 2, id="r=s=n"),
        pytest.param(bytes(31) + b"\x01" + P256_ORDER.to_bytes(32, "big"), id="r=1,s=n"),
        pytest.param(encode_dss_signature(0, 0), id="der-r=s=0"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(1), id="one-zero-byte"),
    ],
)
def test_psychic_signature(es256: Server, signature: bytes) -> None:
    """r = s = 0 (and relatives) must never verify an ECDSA signature."""
    head, body, _ = es256.pair["access"].split(".")
    refused(es256.me(f"{head}.{body}.{forge.b64url(signature)}"), "token_invalid")


def test_psychic_signature_on_tampered_claims(es256: Server) -> None:
    """The real exploit: any claims at all, "signed" with r = s = 0."""
    claims = _claims(es256) | {"sub": "2"}
    refused(es256.me(forge.sign(_header(es256), claims, lambda _: bytes(64))), "token_invalid")


# -- token shapes that are not a JWS compact serialisation -------------------------------------


def test_jwe_shaped_token(server: Server) -> None:
    """Five segments (JWE, RFC 7516) are not accepted in place of a signed token."""
    head, body, sig = server.pair["access"].split(".")
    refused(server.me(f"{head}..{body}.{sig}.AAAA"), "token_invalid")


def test_json_serialisation(server: Server) -> None:
    """The JWS JSON serialisation (RFC 7515 §7.2) is not what the header may carry."""
    head, body, sig = server.pair["access"].split(".")
    as_json = json.dumps({"payload": body, "protected": head, "signature": sig})
    response = server.me(as_json)
    refused(response, "token_invalid")
