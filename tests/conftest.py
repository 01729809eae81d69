"""Shared fixtures: users, token pairs, a movable clock, keys, and a private Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.core.cache import cache

from jwtauth import cachestate, dpop, requestauth, sessions, tokens
from jwtauth.conf import forget_derived
from jwtauth.dpop.client import DPoPKey
from services import RedisServer

PASSWORD = "correct horse battery staple"
# The challenge to a request without a credential: every scheme taken (RFC 6750 §3.1, RFC 9449
# §7.1), DPoP with the default algorithms.
NO_CREDENTIAL = 'Bearer, DPoP algs="ES256 Ed25519 EdDSA"'
IN_CI = bool(os.environ.get("CI"))


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Skip real-service tests locally when the service is not configured; never in CI."""
    missing = {
        "redis": not settings.REDIS_URL,
        "postgres": not settings.DATABASE_URL,
    }
    for item in items:
        for marker, absent in missing.items():
            if absent and item.get_closest_marker(marker):
                if IN_CI:
                    raise pytest.UsageError(
                        f"{item.nodeid} needs {marker}, which CI must provide "
                        "(set DATABASE_URL / REDIS_URL)."
                    )
                item.add_marker(pytest.mark.skip(reason=f"{marker} not configured"))


def pytest_configure(config: Any) -> None:
    """Declare the markers for tests that need the real services."""
    config.addinivalue_line("markers", "redis: needs the real Redis (REDIS_URL)")
    config.addinivalue_line("markers", "postgres: needs the real PostgreSQL (DATABASE_URL)")


@pytest.fixture(autouse=True)
def _isolate() -> Iterator[None]:
    """Give every test a clean cache (our prefix only), circuit breaker and derived state."""
    forget_derived()
    cachestate.reset()
    yield
    cachestate.reset()
    forget_derived()
    if settings.REDIS_URL:
        cache.delete_pattern("*")  # type: ignore[attr-defined]
    else:
        cache.clear()


@pytest.fixture
def password() -> str:
    """Return the password every fixture user has."""
    return PASSWORD


@pytest.fixture
def user(django_user_model: Any) -> Any:
    """Return an active user named alice."""
    return django_user_model.objects.create_user("alice", "alice@example.test", PASSWORD)


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    """Return a second active user, bob."""
    return django_user_model.objects.create_user("bob", "bob@example.test", PASSWORD)


@pytest.fixture
def pair(user: Any) -> Any:
    """Return a fresh token pair from a new session of ``user``."""
    return sessions.start(user, user_agent="pytest", ip_address="127.0.0.1")


@pytest.fixture
def dpop_key() -> DPoPKey:
    """Return a client's DPoP key (EC P-256, ES256)."""
    return DPoPKey.generate()


@pytest.fixture
def bound_pair(user: Any, dpop_key: DPoPKey) -> Any:
    """Return a token pair of a new session of ``user`` bound to ``dpop_key`` (RFC 9449 §6)."""
    proof = dpop.Proof(jkt=dpop_key.thumbprint, jti="login", iat=0, alg=dpop_key.alg)
    return sessions.start(user, user_agent="pytest", ip_address="127.0.0.1", proof=proof)


def bound_access(pair: Any, jkt: str = "A" * 43) -> str:
    """Return an access token of ``pair``'s session bound to the key ``jkt`` (RFC 9449 §6.1).

    Signed directly with the token core, as any token of the session would be bound.
    """
    claims = {"auth_time": pair.access_token.iat, "cnf": {"jkt": jkt}}
    raw, _ = tokens.encode(
        tokens.ACCESS,
        sub=pair.access_token.sub,
        sid=pair.access_token.sid,
        lifetime=60,
        extra=claims,
    )
    return raw


def dpop_headers(
    key: DPoPKey, method: str, path: str, access: str | None = None, nonce: str | None = None
) -> dict[str, str]:
    """Return test-client kwargs for a DPoP request to ``path`` on ``testserver``.

    A fresh proof for ``method`` and the URL the test client uses; with ``access``, the proof's
    ``ath`` and ``Authorization: DPoP <access>``.
    """
    url = f"http://testserver{path}"
    headers = {"HTTP_DPOP": key.proof(method, url, access_token=access, nonce=nonce)}
    if access is not None:
        headers["HTTP_AUTHORIZATION"] = f"DPoP {access}"
    return headers


@pytest.fixture
def auth_header(pair: Any) -> dict[str, str]:
    """Return test-client kwargs carrying the access token as a Bearer header."""
    return {"HTTP_AUTHORIZATION": f"Bearer {pair.access}"}


@pytest.fixture
def clock() -> Iterator[Any]:
    """Freeze time at a known instant; ``clock.shift(seconds)`` moves it."""
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        yield traveller


def _pem(private: Any) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private_pem: str) -> str:
    """Return the PEM public key matching ``private_pem``."""
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def private_keys() -> dict[str, str]:
    """Return one PEM private key per asymmetric algorithm (and a second RSA one)."""
    return {
        "RS256": _pem(rsa.generate_private_key(65537, 2048)),
        "RS256-other": _pem(rsa.generate_private_key(65537, 2048)),
        # A deliberately weak key, to prove the checks refuse it.
        "RSA-1024": _pem(rsa.generate_private_key(65537, 1024)),  # noqa: S505
        "ES256": _pem(ec.generate_private_key(ec.SECP256R1())),
        "ES384": _pem(ec.generate_private_key(ec.SECP384R1())),
        "EdDSA": _pem(ed25519.Ed25519PrivateKey.generate()),
    }


def use_redis(settings: Any, server: RedisServer, **options: Any) -> None:
    """Make ``server`` the default cache, with the suite's short socket timeouts."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25, **options},
        }
    }


@pytest.fixture
def private_redis(tmp_path: Any) -> Iterator[RedisServer]:
    """Start a private Redis the test can kill; stop it afterwards."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every credential verification (jwtauth.requestauth's one call of verify_access)."""
    calls: list[str] = []
    original = requestauth.verify_access

    def counting(raw: str) -> Any:
        calls.append(raw)
        return original(raw)

    monkeypatch.setattr(requestauth, "verify_access", counting)
    return calls
