"""Issue and verify tokens: round trips, required claims, typing, time, tampering, keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from jwtauth import tokens
from jwtauth.exceptions import TokenError, TokenExpired
from jwtauth.keys import b64url, keyring
from tests.conftest import public_pem


class Subject:
    """A stand-in user: tokens need only a primary key."""

    pk = 42


def issue(kind: str = tokens.ACCESS, lifetime: int = 300, sid: str = "s" * 22) -> tuple[str, Any]:
    return tokens.encode(kind, sub="42", sid=sid, lifetime=lifetime)


def segments(raw: str) -> list[dict[str, Any]]:
    head, body, _ = raw.split(".")
    return [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (head, body)]


def resign_hmac(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """Build a token signed with HS256 and ``secret``, any header and claims we like."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_round_trip(settings: Any, alg: str) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_SECRET_KEY = "z" * 64
    raw, issued = issue()
    verified = tokens.decode(raw)
    assert verified.jti == issued.jti
    assert verified.sub == "42"
    assert segments(raw)[0] == {"alg": alg, "kid": keyring().signing_kid, "typ": "at+jwt"}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_round_trip(settings: Any, private_keys: dict[str, str], alg: str) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_PRIVATE_KEY = private_keys[alg]
    raw, issued = issue(tokens.REFRESH)
    verified = tokens.decode(raw, tokens.REFRESH)
    assert (verified.type, verified.jti, verified.sid) == ("refresh", issued.jti, issued.sid)
    assert segments(raw)[0]["kid"] == keyring().public_jwks[0]["kid"]


def test_issued_claims_are_complete_and_minimal() -> None:
    raw, _ = issue()
    claims = segments(raw)[1]
    assert set(claims) == {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid"}
    assert claims["iss"] == "https://issuer.test"
    assert claims["aud"] == "jwtauth-tests"
    assert claims["exp"] - claims["iat"] == 300


def test_jti_has_128_bits_and_is_unique() -> None:
    jtis = {tokens.new_jti() for _ in range(1000)}
    assert len(jtis) == 1000
    assert all(len(base64.urlsafe_b64decode(j + "==")) >= 16 for j in jtis)


@pytest.mark.parametrize("claim", sorted(tokens.REGISTERED_CLAIMS))
def test_every_required_claim_missing_is_rejected(claim: str) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    del claims[claim]
    forged = resign_hmac(header, claims, keyring().signing_key)
    with pytest.raises(TokenError, match=claim):
        tokens.decode(forged)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "https://evil.test"),
        ("aud", "another-api"),
        ("aud", ["another-api"]),
        ("sub", ""),
        ("sub", 42),
        ("jti", ""),
        ("iat", "1800000000"),
        ("exp", 1.9e9),
        ("nbf", True),
        ("exp", -5),
        ("exp", 2**63),
    ],
)
def test_bad_claim_values_are_rejected(claim: str, value: Any) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    claims[claim] = value
    with pytest.raises(TokenError):
        tokens.decode(resign_hmac(header, claims, keyring().signing_key))


def test_audience_list_containing_ours_is_accepted() -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    claims["aud"] = ["other", "jwtauth-tests"]
    assert tokens.decode(resign_hmac(header, claims, keyring().signing_key)).sub == "42"


def test_access_and_refresh_types_never_cross() -> None:
    access, _ = issue(tokens.ACCESS)
    refresh, _ = issue(tokens.REFRESH)
    with pytest.raises(TokenError, match="refresh"):
        tokens.decode(access, tokens.REFRESH)
    with pytest.raises(TokenError, match="access"):
        tokens.decode(refresh, tokens.ACCESS)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "", None, "AT+JWT", "application/at+jwt"])
def test_wrong_typ_header_is_rejected(typ: Any) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    header["typ"] = typ
    with pytest.raises(TokenError):
        tokens.decode(resign_hmac(header, claims, keyring().signing_key))


def test_expiry_exactly_at_and_just_past_exp(clock: Any) -> None:
    raw, issued = issue(lifetime=60)
    clock.shift(59)
    assert tokens.decode(raw).jti == issued.jti
    clock.shift(1)  # now == exp: RFC 7519 §4.1.4 "on or after" is expired
    with pytest.raises(TokenExpired):
        tokens.decode(raw)


def test_leeway_extends_expiry_by_exactly_its_seconds(settings: Any, clock: Any) -> None:
    settings.JWTAUTH_LEEWAY = 30
    raw, _ = issue(lifetime=60)
    clock.shift(89)
    assert tokens.decode(raw).sub == "42"
    clock.shift(1)
    with pytest.raises(TokenExpired):
        tokens.decode(raw)


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_future_iat_and_nbf_are_rejected_unless_within_leeway(
    settings: Any, clock: Any, claim: str
) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    claims[claim] += 10
    forged = resign_hmac(header, claims, keyring().signing_key)
    with pytest.raises(TokenError, match="not valid yet"):
        tokens.decode(forged)
    settings.JWTAUTH_LEEWAY = 10
    assert tokens.decode(forged).sub == "42"


def test_exp_before_iat_is_rejected() -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    claims["exp"] = claims["iat"]
    with pytest.raises(TokenError):
        tokens.decode(resign_hmac(header, claims, keyring().signing_key))


def flip(segment: str) -> str:
    return ("B" if segment[0] == "A" else "A") + segment[1:]


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampering_with_any_part_is_rejected(part: int) -> None:
    raw, _ = issue()
    parts = raw.split(".")
    parts[part] = flip(parts[part])
    with pytest.raises(TokenError):
        tokens.decode(".".join(parts))


def test_payload_swapped_under_original_signature_is_rejected() -> None:
    raw, _ = issue()
    header_b64, _, sig = raw.split(".")
    claims = segments(raw)[1] | {"sub": "1"}
    with pytest.raises(TokenError, match="signature"):
        tokens.decode(f"{header_b64}.{b64url(json.dumps(claims).encode())}.{sig}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None])
@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_alg_none_in_every_spelling_is_rejected(alg: Any, signature: str) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    header["alg"] = alg
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    with pytest.raises(TokenError):
        tokens.decode(f"{head}.{body}.{signature}")


def test_hs256_signed_with_the_rsa_public_key_is_rejected(
    settings: Any, private_keys: dict[str, str]
) -> None:
    settings.JWTAUTH_ALGORITHM = "RS256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["RS256"]
    raw, _ = issue()
    header, claims = segments(raw)
    header["alg"] = "HS256"
    forged = resign_hmac(header, claims, public_pem(private_keys["RS256"]).encode())
    with pytest.raises(TokenError, match="algorithm"):
        tokens.decode(forged)


@pytest.mark.parametrize(
    "kid", ["unknown", "../../dev/null", "' OR 1=1 --", "$(id)", "k" * 10000, 7]
)
def test_unknown_kid_is_rejected_without_trying_other_keys(kid: Any) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    header["kid"] = kid
    with pytest.raises(TokenError, match=r"unknown key|well-formed"):
        tokens.decode(resign_hmac(header, claims, keyring().signing_key))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://evil.test/jwks.json"),
        ("x5u", "https://evil.test/cert.pem"),
        ("jwk", {"kty": "oct", "k": "AAAA"}),
        ("crit", ["exp"]),
        ("b64", False),
    ],
)
def test_header_members_that_steer_verification_are_rejected(name: str, value: Any) -> None:
    raw, _ = issue()
    header, claims = segments(raw)
    header[name] = value
    with pytest.raises(TokenError, match="header"):
        tokens.decode(resign_hmac(header, claims, keyring().signing_key))


def test_hmac_key_rotation_with_fallbacks(settings: Any) -> None:
    old_secret = "o" * 64
    settings.JWTAUTH_SECRET_KEY = old_secret
    raw, _ = issue()
    settings.JWTAUTH_SECRET_KEY = "n" * 64
    settings.JWTAUTH_SECRET_KEY_FALLBACKS = [old_secret]
    assert tokens.decode(raw).sub == "42"
    settings.JWTAUTH_SECRET_KEY_FALLBACKS = []
    with pytest.raises(TokenError, match="unknown key"):
        tokens.decode(raw)


def test_asymmetric_key_rotation_with_fallbacks(
    settings: Any, private_keys: dict[str, str]
) -> None:
    settings.JWTAUTH_ALGORITHM = "RS256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["RS256"]
    raw, _ = issue()
    settings.JWTAUTH_PRIVATE_KEY = private_keys["RS256-other"]
    settings.JWTAUTH_PUBLIC_KEY_FALLBACKS = [public_pem(private_keys["RS256"])]
    assert tokens.decode(raw).sub == "42"
    assert len(keyring().public_jwks) == 2
    settings.JWTAUTH_PUBLIC_KEY_FALLBACKS = []
    with pytest.raises(TokenError, match="unknown key"):
        tokens.decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a.b",
        "a.b.c.d",
        "....",
        "@@@.###.$$$",
        "a" * 5000,
        b"\xff\xfe.\x00.\x01",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "e30.e30.AAAA",
        "W10.e30.AAAA",
        "bnVsbA.e30.AAAA",
    ],
)
def test_malformed_input_is_a_token_error(raw: Any) -> None:
    with pytest.raises(TokenError):
        tokens.decode(raw)


def test_deeply_nested_json_is_a_token_error() -> None:
    head = b64url(("[" * 100000 + "]" * 100000).encode())
    with pytest.raises(TokenError):
        tokens.decode(f"{head}.e30.AAAA")


def test_extra_claims_hook_adds_claims_but_cannot_override(settings: Any) -> None:
    settings.JWTAUTH_EXTRA_CLAIMS = lambda user: {"scope": "read"}
    pair = tokens.issue_pair(Subject(), "sid-1")
    assert tokens.decode(pair.access).claims["scope"] == "read"
    assert "scope" not in tokens.decode(pair.refresh, tokens.REFRESH).claims
    settings.JWTAUTH_EXTRA_CLAIMS = lambda user: {"sub": "1"}
    with pytest.raises(ImproperlyConfigured, match="sub"):
        tokens.issue_pair(Subject(), "sid-1")


def test_extra_claims_cannot_set_a_dpop_binding(settings: Any) -> None:
    # cnf would bind a bearer session's tokens to a key of the project's choosing, or (set to
    # junk) lock the user out: it is jwtauth's alone (RFC 9449 §6.1).
    settings.JWTAUTH_EXTRA_CLAIMS = lambda user: {"cnf": {"jkt": "A" * 43}}
    with pytest.raises(ImproperlyConfigured, match="cnf"):
        tokens.issue_pair(Subject(), "sid-1")


def test_extra_claims_hook_by_dotted_path(settings: Any) -> None:
    settings.JWTAUTH_EXTRA_CLAIMS = "tests.test_tokens.scope_claims"
    assert tokens.decode(tokens.issue_pair(Subject(), "s").access).claims["scope"] == "x"


def scope_claims(user: Any) -> dict[str, str]:
    return {"scope": "x"}


def test_issue_time_follows_the_clock_seam(monkeypatch: Any) -> None:
    from datetime import UTC, datetime

    monkeypatch.setattr(tokens, "now", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    _, token = issue()
    assert token.iat == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
