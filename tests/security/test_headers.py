"""Attack the JOSE header: ``kid`` injection, key URLs and embedded keys, ``crit``, ``typ``.

RFC 8725 §2.9 and §3.10 (do not trust received key references), §3.11 (explicit typing) and
jwt_tool's -X s (spoofed JWKS), -X i (inline JWK, CVE-2018-0114) and its ``kid`` playbook.
Most attacks are signed twice: with what the attacker has (an empty HMAC key, the attacker's
own key), and with the server's real key, to prove the header alone gets the token refused.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.security import forge
from tests.security.conftest import Attacker, Server
from tests.security.expect import refused

KID_INJECTIONS = [
    "../../../../../../../dev/null",
    "/dev/null",
    "../../../../../../etc/passwd",
    "/proc/self/environ",
    "file:///dev/null",
    "x' UNION SELECT 'attacker';--",
    "' OR '1'='1",
    "1; DROP TABLE jwtauth_revokedtoken;--",
    "jwtauth_tokensession",
    "|sleep 5",
    "`sleep 5`",
    "$(sleep 5)",
    "; cat /etc/passwd",
    "\\\\attacker\\share",
    "%00",
    "\u202e",
    "A" * 2048,
    "",
]
KID_TYPES = [None, 0, 1, True, ["kid"], {"$ne": None}, {"kid": "x"}, 1.5]
# With ``alg: HS256`` a confused server would use the file's content or the query's result as
# the secret; jwt_tool signs with an empty key (/dev/null) or the injected value.
KID_SECRETS = [b"", b"attacker", b"1"]


@pytest.fixture
def rsa_attacker() -> tuple[rsa.RSAPrivateKey, str]:
    """An attacker's RSA key and its PEM."""
    key = rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, pem


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": forge.b64url(numbers.n.to_bytes(size, "big")),
        "e": forge.b64url(numbers.e.to_bytes(3, "big")),
    }


def _certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key, hashes.SHA256())
    )
    return forge.b64url(cert.public_bytes(serialization.Encoding.DER))


def _parts(server: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    return forge.parts(server.pair["access"])


# -- kid injection ---------------------------------------------------------------------------


def _timed(server: Server, token: str) -> Any:
    started = time.monotonic()
    response = server.me(token)
    # An injected "sleep 5" did not run: each answer comes far quicker than that.
    assert time.monotonic() - started < 4
    return response


@pytest.mark.parametrize("kid", KID_INJECTIONS, ids=lambda k: repr(k)[:30])
def test_kid_injection(server: Server, stack: Any, kid: str) -> None:
    """Path traversal, SQL, shell and oddities in ``kid``: an unknown kid, nothing more."""
    header, claims = _parts(server)
    for alg in ("HS256", server.alg):
        for secret in KID_SECRETS:
            token = forge.sign(header | {"alg": alg, "kid": kid}, claims, forge.hmac_signer(secret))
            refused(_timed(server, token), "token_invalid")
        refused(_timed(server, server.forge(header | {"alg": alg, "kid": kid}, claims)))
    # The SQL went nowhere: the tables are there and the genuine token still works.
    stack.query("SELECT COUNT(*) FROM jwtauth_revokedtoken")
    assert server.me(server.pair["access"]).status == 200


@pytest.mark.parametrize("kid", KID_TYPES, ids=repr)
def test_kid_of_another_json_type(server: Server, kid: Any) -> None:
    header, claims = _parts(server)
    refused(server.me(server.forge(header | {"kid": kid}, claims)), "token_invalid")


@pytest.mark.parametrize("member", ["alg", "kid", "typ"])
def test_header_member_missing(server: Server, member: str) -> None:
    """Signed with the real key, a header without one of its three members is refused."""
    header, claims = _parts(server)
    del header[member]
    refused(server.me(server.forge(header, claims)), "token_invalid")


def test_kid_of_published_key_with_hmac(rs256: Server) -> None:
    """The JWKS ``kid`` is public: naming it with ``alg: HS256`` picks no secret."""
    header, claims = _parts(rs256)
    token = forge.sign(header | {"alg": "HS256"}, claims, forge.hmac_signer(header["kid"].encode()))
    refused(rs256.me(token), "token_invalid")


# -- key references: jku, x5u, jwk, x5c (the server must never fetch or trust them) ------------


def _key_headers(attacker: Attacker, key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {
        "jku": {"jku": attacker.url("/jwks.json")},
        "x5u": {"x5u": attacker.url("/cert.pem")},
        "jwk": {"jwk": _jwk(key, kid)},
        "x5c": {"x5c": [_certificate(key)]},
        "jku+x5u+jwk": {
            "jku": attacker.url("/jwks.json"),
            "x5u": attacker.url("/cert.pem"),
            "jwk": _jwk(key, kid),
        },
        "kid-url": {"kid": attacker.url("/key")},
        "jku-redirect": {"jku": f"{attacker.url('/jwks.json')}#@trusted.example"},
    }


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c", "jku+x5u+jwk", "kid-url"])
def test_key_reference_to_attacker_key(
    rs256: Server, attacker: Attacker, rsa_attacker: Any, member: str
) -> None:
    """jwt_tool -X s / -X i: a token signed by the attacker naming the attacker's key."""
    key, pem = rsa_attacker
    before = len(attacker.hits)
    header, claims = _parts(rs256)
    for kid in ("attacker", header["kid"]):
        extra = _key_headers(attacker, key, kid)[member]
        token = forge.sign(header | {"kid": kid} | extra, claims, forge.private_signer(pem))
        refused(rs256.me(token), "token_invalid")
    assert attacker.hits[before:] == [], "the server fetched an attacker URL"


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c", "jku-redirect"])
def test_key_reference_with_genuine_signature(
    server: Server, attacker: Attacker, rsa_attacker: Any, member: str
) -> None:
    """Even correctly signed, a header carrying a key reference is refused and not followed."""
    before = len(attacker.hits)
    header, claims = _parts(server)
    extra = _key_headers(attacker, rsa_attacker[0], header["kid"])[member]
    refused(server.me(server.forge(header | extra, claims)), "token_invalid")
    assert attacker.hits[before:] == [], "the server fetched an attacker URL"


def test_control_attacker_server_is_reachable(attacker: Attacker) -> None:
    """The "attacker URL" answers, so zero hits above means the server never asked."""
    import urllib.request

    before = len(attacker.hits)
    with urllib.request.urlopen(attacker.url("/probe"), timeout=5) as response:  # noqa: S310
        assert response.status == 200
    assert attacker.hits[before:] == ["/probe"]


# -- crit, typ and other header members --------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"]},
        {"crit": ["urn:example:unknown"], "urn:example:unknown": True},
        {"crit": ["b64"], "b64": False},
        {"crit": []},
        {"crit": "b64"},
    ],
    ids=["crit-registered", "crit-unknown", "crit-b64-false", "crit-empty", "crit-string"],
)
def test_crit_extensions(server: Server, extra: dict[str, Any]) -> None:
    """RFC 7515 §4.1.11: an extension the server does not understand makes the token invalid."""
    header, claims = _parts(server)
    refused(server.me(server.forge(header | extra, claims)), "token_invalid")


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "AT+JWT", "application/at+jwt", "rt+jwt", "", None, 1, ["at+jwt"]]
)
def test_typ_confusion(server: Server, typ: Any) -> None:
    """RFC 8725 §3.11: only ``at+jwt`` is an access token, spelt exactly so."""
    header, claims = _parts(server)
    refused(server.me(server.forge(header | {"typ": typ}, claims)), "token_invalid")


@pytest.mark.parametrize(
    "extra",
    [
        {"cty": "JWT"},
        {"zip": "DEF"},
        {"enc": "A256GCM"},
        {"epk": {}},
        {"x5t": "AAAA"},
        {"b64": True},
    ],
    ids=lambda e: next(iter(e)),
)
def test_unexpected_header_member(server: Server, extra: dict[str, Any]) -> None:
    """Nested tokens, compression, encryption hints: none belongs in our tokens' header."""
    header, claims = _parts(server)
    refused(server.me(server.forge(header | extra, claims)), "token_invalid")


def test_duplicate_alg_member(server: Server) -> None:
    """RFC 7515 §5.2: with duplicate members the last one counts, and it is checked."""
    header, claims = _parts(server)
    members = ",".join(f'"{k}":"{v}"' for k, v in header.items())
    raw_header = "{" + members + ',"alg":"none"}'
    refused(server.me(forge.sign(raw_header, claims, server.signer())), "token_invalid")
