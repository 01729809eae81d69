"""Login throttling per username and per client IP, through the cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from jwtauth import throttle
from tests.conftest import PASSWORD, use_redis

pytestmark = pytest.mark.django_db

WRONG = "not the password"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def attempt(
    client: Client, username: str = "alice", password: str = WRONG, ip: str = "10.0.0.1"
) -> Any:
    body = {"username": username, "password": password}
    return client.post("/auth/login/", body, "application/json", REMOTE_ADDR=ip)


def fail(client: Client, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        assert attempt(client, **kwargs).status_code == 401


def assert_throttled(response: Any, window: int = 300) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "error": "throttled",
        "detail": "Too many failed attempts. Try again later.",
    }
    assert 0 < int(response["Retry-After"]) <= window
    assert response["Cache-Control"] == "no-store"


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.JWTAUTH_LOGIN_FAILURE_LIMIT = 3
    settings.JWTAUTH_LOGIN_IP_FAILURE_LIMIT = 10
    settings.JWTAUTH_LOGIN_FAILURE_WINDOW = 300
    return settings


def test_a_username_is_throttled_after_the_limit_even_with_the_right_password(
    client: Client, user: Any, limits: Any
) -> None:
    fail(client, 3)
    assert_throttled(attempt(client, password=PASSWORD))
    assert_throttled(attempt(client, username="ALICE", password=PASSWORD))  # case-folded
    # Another user on the same IP is not affected.
    assert attempt(client, username="bob").status_code == 401


def test_unknown_usernames_are_throttled_like_known_ones(client: Client, limits: Any) -> None:
    fail(client, 3, username="nobody")
    assert_throttled(attempt(client, username="nobody"))


def test_an_ip_is_throttled_across_usernames(client: Client, user: Any, limits: Any) -> None:
    for i in range(10):
        assert attempt(client, username=f"guess{i}").status_code == 401
    assert_throttled(attempt(client, password=PASSWORD))
    assert attempt(client, password=PASSWORD, ip="10.0.0.2").status_code == 200


def test_a_success_resets_the_usernames_counter(client: Client, user: Any, limits: Any) -> None:
    fail(client, 2)
    assert attempt(client, password=PASSWORD).status_code == 200
    fail(client, 2)  # would be 429 on the second one had the counter survived
    fail(client, 1)
    assert_throttled(attempt(client, password=PASSWORD))


def test_a_zero_limit_turns_throttling_off(client: Client, user: Any, settings: Any) -> None:
    settings.JWTAUTH_LOGIN_FAILURE_LIMIT = 0
    settings.JWTAUTH_LOGIN_IP_FAILURE_LIMIT = 0
    fail(client, 12)
    assert attempt(client, password=PASSWORD).status_code == 200


def test_the_window_expires(client: Client, user: Any, limits: Any, clock: Any) -> None:
    """Run on LocMem, whose expiry reads the (travelled) clock; Redis TTLs run on real time."""
    limits.CACHES = LOCMEM
    fail(client, 3)
    clock.shift(299)
    assert_throttled(attempt(client, password=PASSWORD))
    clock.shift(2)
    assert attempt(client, password=PASSWORD).status_code == 200


def test_throttled_attempts_do_not_extend_the_window(
    client: Client, user: Any, limits: Any, clock: Any
) -> None:
    limits.CACHES = LOCMEM
    fail(client, 3)
    clock.shift(200)
    for _ in range(5):
        assert_throttled(attempt(client))
    clock.shift(101)
    assert attempt(client, password=PASSWORD).status_code == 200


@pytest.mark.redis
def test_on_redis_the_window_is_a_ttl_that_failures_do_not_renew(
    client: Client, user: Any, limits: Any
) -> None:
    """Check the Redis key's TTL instead of travelling: Redis expires keys on its own clock.

    Shortening the TTL by hand and failing again shows that a failure never renews it;
    deleting the key stands in for Redis expiring it.
    """
    key = throttle._username_key("alice")
    attempt(client)
    assert 290 <= cache.ttl(key) <= 300  # type: ignore[attr-defined]
    cache.expire(key, 5)  # type: ignore[attr-defined]
    fail(client, 2)
    assert 0 < cache.ttl(key) <= 5  # type: ignore[attr-defined]
    assert_throttled(attempt(client, password=PASSWORD), window=5)  # Retry-After is the TTL
    cache.delete(key)
    assert attempt(client, password=PASSWORD).status_code == 200


@pytest.mark.redis
def test_a_dead_cache_lets_logins_through_rather_than_failing_them(
    client: Client, user: Any, limits: Any, private_redis: Any
) -> None:
    use_redis(limits, private_redis)
    private_redis.stop()
    fail(client, 5)  # no 500, and no throttle to be had without its store
    assert attempt(client, password=PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("same", "other"),
    [
        (["2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"], "2001:db8:0:1::1"),
        (["::ffff:192.0.2.7", "192.0.2.7", "::ffff:192.0.2.7"], "192.0.2.8"),
    ],
    ids=["ipv6-per-64", "ipv4-mapped"],
)
def test_an_ipv6_client_is_counted_per_network(
    client: Client, limits: Any, same: list[str], other: str
) -> None:
    # One IPv6 host holds a whole /64: rotating addresses inside it must not reset the count.
    limits.JWTAUTH_LOGIN_FAILURE_LIMIT = 0  # per-username counting off: spread usernames
    limits.JWTAUTH_LOGIN_IP_FAILURE_LIMIT = 3
    for n, ip in enumerate(same):
        assert attempt(client, username=f"user{n}", ip=ip).status_code == 401
    assert_throttled(attempt(client, username="another", ip=same[0]))
    assert attempt(client, username="another", ip=other).status_code == 401


def test_the_ipv6_prefix_is_a_setting(limits: Any) -> None:
    limits.JWTAUTH_LOGIN_IPV6_PREFIX = 48
    assert throttle.client_network("2001:db8:1:2::1") == "2001:db8:1::/48"
    limits.JWTAUTH_LOGIN_IPV6_PREFIX = 128
    assert throttle.client_network("2001:db8:1:2::1") == "2001:db8:1:2::1/128"


def test_a_successful_login_gives_its_network_slot_back(
    client: Client, user: Any, limits: Any
) -> None:
    limits.JWTAUTH_LOGIN_IP_FAILURE_LIMIT = 2
    for _ in range(5):  # a shared office address: many good logins are no attack
        assert attempt(client, password=PASSWORD).status_code == 200
    fail(client, 2, username="bob")
    assert_throttled(attempt(client, username="carol"))


@pytest.mark.redis
def test_a_hung_cache_costs_logins_one_timeout_not_one_each(
    client: Client, user: Any, limits: Any, private_redis: Any
) -> None:
    import time

    use_redis(limits, private_redis)
    limits.JWTAUTH_CACHE_RETRY_AFTER = 30
    attempt(client)  # connected
    private_redis.pause()
    try:
        started = time.monotonic()
        for _ in range(6):
            assert attempt(client, password=PASSWORD).status_code == 200
        elapsed = time.monotonic() - started
    finally:
        private_redis.resume()
    # Without the breaker each login waited two 0.25 s socket timeouts: 3 s for six.
    assert elapsed < 1.5, elapsed
