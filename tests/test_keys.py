"""Key loading: HMAC kids reveal nothing, JWKs follow RFC 7517/7638, PEM text or file paths."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from jwtauth import keys
from jwtauth.exceptions import KeyConfigurationError
from tests.conftest import public_pem


def test_hmac_kid_is_stable_and_does_not_contain_the_secret() -> None:
    secret = b"s" * 64
    assert keys.hmac_kid(secret) == keys.hmac_kid(secret)
    assert keys.hmac_kid(secret) != keys.hmac_kid(b"t" * 64)
    assert b"sss" not in keys.hmac_kid(secret).encode()


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 §3.1 gives this RSA key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    e = "AQAB"
    from cryptography.hazmat.primitives.asymmetric import rsa

    def to_int(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    public = rsa.RSAPublicNumbers(to_int(e), to_int(n)).public_key()
    jwk = keys.public_jwk(public, "RS256")
    assert jwk["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert (jwk["use"], jwk["alg"], jwk["kty"]) == ("sig", "RS256", "RSA")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_public_jwks_never_carry_private_members(
    settings: Any, private_keys: dict[str, str], alg: str
) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_PRIVATE_KEY = private_keys[alg]
    [jwk] = keys.keyring().public_jwks
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    members = {k: v for k, v in jwk.items() if k not in {"kid", "use", "alg"}}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    assert jwk["kid"] == keys.b64url(hashlib.sha256(canonical).digest())


def test_symmetric_keyring_publishes_nothing() -> None:
    ring = keys.keyring()
    assert ring.is_symmetric
    assert ring.public_jwks == []


def test_pem_text_or_path(tmp_path: Any, private_keys: dict[str, str]) -> None:
    pem = public_pem(private_keys["RS256"])
    path = tmp_path / "pub.pem"
    path.write_text(pem)
    assert keys.read_pem(pem, "X") == keys.read_pem(str(path), "X")


def test_unreadable_pem_path_names_the_setting(tmp_path: Any) -> None:
    with pytest.raises(KeyConfigurationError, match="JWTAUTH_PUBLIC_KEY") as info:
        keys.read_pem(str(tmp_path / "nope.pem"), "JWTAUTH_PUBLIC_KEY")
    assert info.value.check_id == "jwtauth.E005"


def test_public_key_must_match_algorithm(private_keys: dict[str, str]) -> None:
    with pytest.raises(KeyConfigurationError, match="ES256"):
        keys.load_public_key(public_pem(private_keys["RS256"]), "ES256", "JWTAUTH_PUBLIC_KEY")
