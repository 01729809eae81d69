"""The revocation core against real Redis and PostgreSQL: costs, kinds, races and outages."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection

from jwtauth import cachestate, revocation, sessions, signals, tokens
from jwtauth.cachestate import cutoff_key, token_key
from jwtauth.conf import conf
from jwtauth.exceptions import RevocationUnavailable, TokenRevoked
from jwtauth.models import RevokedToken, TokenSession, UserCutoff
from tests.conftest import use_redis

pytestmark = pytest.mark.django_db(transaction=True)

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


class RedisServer:
    """Talk to the private Redis directly: command statistics, raw reads, write refusal."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.client = redis.Redis.from_url(server.url, socket_timeout=2)

    def commands(self) -> Counter[str]:
        """Return how many times each command ran since the server started."""
        stats = self.client.info("commandstats")
        return Counter({name.removeprefix("cmdstat_"): row["calls"] for name, row in stats.items()})


@pytest.fixture
def redis_cache(private_redis: Any, settings: Any) -> Iterator[RedisServer]:
    """Make the private Redis the default cache, with the suite's short socket timeouts."""
    use_redis(settings, private_redis)
    server = RedisServer(private_redis)
    yield server
    server.client.close()


def commands_during(server: RedisServer, action: Callable[[], Any]) -> Counter[str]:
    """Run ``action`` and return the Redis commands it caused (our INFO calls excluded)."""
    before = server.commands()
    action()
    delta = server.commands() - before
    del delta["info"]
    return delta


def raises_revoked(token: tokens.Token, **kwargs: Any) -> bool:
    """Return whether ``check`` refuses ``token``."""
    try:
        revocation.check(token, **kwargs)
    except TokenRevoked:
        return True
    return False


# Lookups ---------------------------------------------------------------------------------


@pytest.mark.redis
def test_warm_lookup_is_one_mget_and_no_query(
    redis_cache: RedisServer, pair: Any, django_assert_num_queries: Any
) -> None:
    revocation.check(pair.access_token)
    with django_assert_num_queries(0):
        sent = commands_during(redis_cache, lambda: revocation.check(pair.access_token))
    assert sent == {"mget": 1}


def open_connections(someone: Any) -> None:
    """Validate the cache's connection and load the fill script, so neither is counted."""
    revocation.check(sessions.start(someone).access_token)


@pytest.mark.redis
def test_cold_lookup_is_one_query_then_one_conditional_fill_then_warm(
    redis_cache: RedisServer, other_user: Any, pair: Any, django_assert_num_queries: Any
) -> None:
    open_connections(other_user)
    with django_assert_num_queries(1):
        sent = commands_during(redis_cache, lambda: revocation.check(pair.access_token))
    # The fill: one script that reads the state and, if no revocation came, sets three NX.
    assert sent == {"mget": 1, "evalsha": 1, "get": 1, "set": 3}
    with django_assert_num_queries(0):
        sent = commands_during(redis_cache, lambda: revocation.check(pair.access_token))
    assert sent == {"mget": 1}


@pytest.mark.redis
def test_user_cache_folds_the_user_into_the_same_mget(
    redis_cache: RedisServer,
    user: Any,
    other_user: Any,
    pair: Any,
    django_assert_num_queries: Any,
) -> None:
    open_connections(other_user)
    with django_assert_num_queries(2):
        sent = commands_during(
            redis_cache, lambda: revocation.check(pair.access_token, with_user=True)
        )
    assert sent == {"mget": 1, "evalsha": 1, "get": 1, "set": 4}
    with django_assert_num_queries(0):
        found = revocation.check(pair.access_token, with_user=True)
    assert found == user
    sent = commands_during(redis_cache, lambda: revocation.check(pair.access_token, with_user=True))
    assert sent == {"mget": 1}


def test_per_process_cache_is_never_used(
    settings: Any, pair: Any, django_assert_num_queries: Any
) -> None:
    settings.CACHES = LOCMEM
    for _ in range(2):
        with django_assert_num_queries(1):
            revocation.check(pair.access_token)
    names = revocation._Names.of(pair.access_token)
    assert caches["default"].get_many([*names.state(), names.user]) == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_per_process_cache_sees_another_process_revoke_at_once(
    settings: Any, pair: Any, django_assert_num_queries: Any
) -> None:
    settings.CACHES = LOCMEM
    assert not raises_revoked(pair.access_token)
    run_in_other_process(f"revocation.revoke_session({pair.access_token.sid!r})")
    with django_assert_num_queries(1):
        assert raises_revoked(pair.access_token)


def run_in_other_process(statement: str) -> None:
    """Run ``statement`` in a fresh Python process on this test database, without Redis."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    code = f"import django; django.setup(); from jwtauth import revocation; {statement}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": ""}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        check=True,
        timeout=60,
    )


# What can be revoked ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoke_one_token_by_jti(pair: Any, kind: str) -> None:
    token = getattr(pair, kind)
    other = pair.refresh_token if kind == "access_token" else pair.access_token
    revocation.revoke(token, reason="stolen")
    assert revocation.is_revoked(token)
    assert not revocation.is_revoked(other)
    row = RevokedToken.objects.get(jti=token.jti)
    assert (row.token_type, row.user_id, row.reason) == (token.type, int(token.sub), "stolen")
    assert row.expires_at == datetime.fromtimestamp(token.exp, UTC)


def test_revoke_session_kills_the_whole_family_only(user: Any, pair: Any) -> None:
    rotated = sessions.rotate(pair.refresh_token)
    elsewhere = sessions.start(user)
    assert revocation.revoke_session(pair.access_token.sid, reason="lost phone")
    family = [pair.access_token, pair.refresh_token, rotated.access_token, rotated.refresh_token]
    assert all(revocation.is_revoked(token) for token in family)
    assert not revocation.is_revoked(elsewhere.access_token)
    assert not revocation.is_revoked(elsewhere.refresh_token)
    assert not revocation.revoke_session(pair.access_token.sid), "already revoked"


def test_user_cutoff_kills_earlier_sessions_and_spares_later_ones(
    clock: Any, user: Any, other_user: Any
) -> None:
    first, second = sessions.start(user), sessions.start(user)
    bystander = sessions.start(other_user)
    clock.shift(10)
    revocation.revoke_user(user.pk, reason="logout everywhere")
    assert all(
        revocation.is_revoked(t) for p in (first, second) for t in (p.access_token, p.refresh_token)
    )
    assert not revocation.is_revoked(bystander.access_token)
    clock.shift(1)
    later = sessions.start(user)
    assert not revocation.is_revoked(later.access_token)
    assert not revocation.is_revoked(later.refresh_token)


def test_cutoff_covers_a_login_in_the_same_clock_tick(clock: Any, user: Any) -> None:
    pair = sessions.start(user)
    cutoff = revocation.revoke_user(user.pk)
    assert cutoff > TokenSession.objects.get(sid=pair.access_token.sid).created_at
    assert revocation.is_revoked(pair.access_token)


def test_cutoff_covers_a_session_stamped_by_a_clock_running_ahead(clock: Any, user: Any) -> None:
    clock.shift(30)  # the server that handled this login runs 30 s ahead
    ahead = sessions.start(user)
    clock.shift(-30)
    revocation.revoke_user(user.pk)
    assert revocation.is_revoked(ahead.access_token)


def test_token_of_an_unknown_session_is_dead(user: Any) -> None:
    orphan = tokens.issue_pair(user, "no-such-session")
    assert revocation.is_revoked(orphan.access_token)


@pytest.mark.redis
def test_unknown_session_lookup_does_not_cache_a_false_cutoff(clock: Any, user: Any) -> None:
    pair = sessions.start(user)
    revocation.check(pair.access_token)  # caches the session as live and "no cutoff"
    clock.shift(1)
    revocation.revoke_user(user.pk)
    caches["default"].delete(cutoff_key(user.pk))  # as Redis evicts or expires it
    assert revocation.is_revoked(tokens.issue_pair(user, "purged-session").access_token)
    assert caches["default"].get(cutoff_key(user.pk)) is None
    assert revocation.is_revoked(pair.access_token)


# The cache-aside race, both interleavings -----------------------------------------------


def revoke_kind(kind: str, token: tokens.Token) -> None:
    """Revoke ``token`` by jti, by session or by user cutoff."""
    if kind == "token":
        revocation.revoke(token)
    elif kind == "session":
        revocation.revoke_session(token.sid)
    else:
        revocation.revoke_user(token.sub)


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["token", "session", "user"])
def test_fill_never_overwrites_a_revocation_written_after_the_read(
    monkeypatch: Any, pair: Any, kind: str, django_assert_num_queries: Any
) -> None:
    token = pair.access_token
    read_db = revocation._state_from_db

    def read_then_revoke(token: tokens.Token) -> Any:
        state = read_db(token)  # the reader saw "not revoked" ...
        revoke_kind(kind, token)  # ... and the revoker wrote DB + cache before the fill
        return state

    monkeypatch.setattr(revocation, "_state_from_db", read_then_revoke)
    assert not raises_revoked(token), "the read happened before the revocation"
    monkeypatch.undo()
    names = revocation._Names.of(token)
    # The stale fill was refused whole: the revocation moved the generation on.
    assert caches["default"].get(names.token) != 0
    # A cutoff alone cannot tell a session is dead without the session's start: one read.
    with django_assert_num_queries(1 if kind == "user" else 0):
        assert raises_revoked(token), "the stale fill must not have replaced the revocation"
    with django_assert_num_queries(0):
        assert raises_revoked(token)


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["token", "session", "user"])
def test_revocation_after_the_fill_overwrites_the_negative_entry(
    pair: Any, kind: str, django_assert_num_queries: Any
) -> None:
    token = pair.access_token
    assert not raises_revoked(token)
    revoke_kind(kind, token)
    with django_assert_num_queries(0):
        assert raises_revoked(token)


def test_unrevoke_clears_the_cache(pair: Any) -> None:
    revocation.revoke(pair.access_token)
    assert raises_revoked(pair.access_token)
    assert revocation.unrevoke_token(pair.access_token.jti) == 1
    assert not raises_revoked(pair.access_token)
    assert revocation.unrevoke_token(pair.access_token.jti) == 0


@pytest.mark.redis
def test_unrevoke_racing_a_reader_is_corrected_on_commit(
    monkeypatch: Any, pair: Any, django_capture_on_commit_callbacks: Any
) -> None:
    token = pair.access_token
    revocation.revoke(token)
    caches["default"].delete(token_key(token.jti))
    read_db = revocation._state_from_db

    def read_then_unrevoke(token: tokens.Token) -> Any:
        state = read_db(token)
        revocation.unrevoke_token(token.jti)
        return state

    with django_capture_on_commit_callbacks(execute=True):
        monkeypatch.setattr(revocation, "_state_from_db", read_then_unrevoke)
        assert raises_revoked(token)
        monkeypatch.undo()
        # The un-revocation moved the generation on: the stale "revoked" refill was refused.
        assert caches["default"].get(token_key(token.jti)) is None
    assert caches["default"].get(token_key(token.jti)) is None
    assert not raises_revoked(token)


# TTLs ------------------------------------------------------------------------------------


@pytest.mark.redis
def test_fills_never_outlive_the_token(settings: Any, clock: Any, pair: Any) -> None:
    settings.JWTAUTH_NEGATIVE_CACHE_TIMEOUT = 10_000
    clock.shift(pair.access_token.exp - pair.access_token.iat - 10)
    revocation.check(pair.access_token)
    for key in revocation._Names.of(pair.access_token).state():
        assert 0 < caches["default"].ttl(key) <= 10


@pytest.mark.redis
def test_fills_are_capped_by_the_negative_cache_timeout(pair: Any) -> None:
    revocation.check(pair.refresh_token)
    for key in revocation._Names.of(pair.refresh_token).state():
        assert 0 < caches["default"].ttl(key) <= 300


@pytest.mark.redis
def test_zero_negative_cache_timeout_fills_nothing(settings: Any, pair: Any) -> None:
    settings.JWTAUTH_NEGATIVE_CACHE_TIMEOUT = 0
    revocation.check(pair.access_token)
    assert caches["default"].get_many(revocation._Names.of(pair.access_token).state()) == {}


@pytest.mark.redis
def test_revoked_entry_lives_as_long_as_the_token(clock: Any, pair: Any) -> None:
    clock.shift(pair.access_token.exp - pair.access_token.iat - 20)
    revocation.revoke(pair.access_token)
    assert 0 < caches["default"].ttl(token_key(pair.access_token.jti)) <= 20


# Redis down ------------------------------------------------------------------------------


@pytest.fixture
def live_and_dead(user: Any, pair: Any) -> tuple[tokens.Token, tokens.Token]:
    """Return a live access token and a revoked one, both already in the cache."""
    dead = sessions.start(user).access_token
    revocation.revoke(dead)
    revocation.check(pair.access_token)
    assert raises_revoked(dead)
    return pair.access_token, dead


def warnings_of(caplog: Any) -> list[str]:
    """Return the messages of WARNING records on the jwtauth logger."""
    records = [r for r in caplog.records if r.name == "jwtauth"]
    return [r.getMessage() for r in records if r.levelno == logging.WARNING]


@pytest.mark.redis
def test_redis_killed_falls_back_to_the_database(
    redis_cache: RedisServer,
    private_redis: Any,
    live_and_dead: Any,
    caplog: Any,
    django_assert_num_queries: Any,
) -> None:
    live, dead = live_and_dead
    private_redis.stop()
    caplog.set_level(logging.WARNING, logger="jwtauth")
    with django_assert_num_queries(2):
        assert not raises_revoked(live)
        assert raises_revoked(dead)
    assert len(warnings_of(caplog)) == 1, "one warning per outage, not one per request"
    assert "ConnectionError" in warnings_of(caplog)[0]


@pytest.mark.redis
def test_hung_redis_costs_one_timeout_then_is_bypassed(
    redis_cache: RedisServer, private_redis: Any, live_and_dead: Any
) -> None:
    live, dead = live_and_dead
    private_redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        assert not raises_revoked(live)
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(25):
            assert not raises_revoked(live)
            assert raises_revoked(dead)
        rest = time.monotonic() - started
    finally:
        private_redis.process.send_signal(signal.SIGCONT)
    print(f"hung Redis: first lookup {first:.3f}s, next 50 lookups {rest:.3f}s")
    assert first >= 0.2, "the first lookup waited for the socket timeout"
    # Without the breaker each of the 50 would wait the 0.25 s socket timeout: 12.5 s.
    assert rest < 2.5, "the breaker spared the next lookups the timeout"


@pytest.mark.redis
def test_redis_back_is_used_again_without_restart(
    settings: Any,
    redis_cache: RedisServer,
    private_redis: Any,
    live_and_dead: Any,
    django_assert_num_queries: Any,
) -> None:
    live, dead = live_and_dead
    private_redis.stop()
    assert not raises_revoked(live)
    private_redis.start()  # same port, empty: no persistence
    assert "mget" not in commands_during(redis_cache, lambda: raises_revoked(live))
    settings.JWTAUTH_CACHE_RETRY_AFTER = 0  # as if the retry delay had elapsed
    sent = commands_during(redis_cache, lambda: raises_revoked(live))
    # A new connection: validated first (the empty server is repaired), then the lookup.
    assert sent["mget"] == 1
    assert sent["evalsha"] + sent["eval"] >= 2
    assert raises_revoked(dead), "read from the database, then cached"
    with django_assert_num_queries(0):
        assert not raises_revoked(live)
        assert raises_revoked(dead)


def elapse_retry_delay() -> None:
    """Move the breaker's last failure back by the retry delay, as if that time had passed."""
    cachestate.gate.failed_at -= float(conf.CACHE_RETRY_AFTER)


@pytest.mark.redis
def test_a_hung_redis_refuses_revocations_after_one_timeout(
    redis_cache: RedisServer,
    private_redis: Any,
    user: Any,
    live_and_dead: Any,
    caplog: Any,
) -> None:
    family = [sessions.start(user) for _ in range(8)]
    assert not any(raises_revoked(p.access_token) for p in family)  # cached as live
    caplog.set_level(logging.ERROR, logger="jwtauth")
    private_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(RevocationUnavailable):
            revocation.revoke_sessions([p.access_token.sid for p in family])
        revoking = time.monotonic() - started
    finally:
        private_redis.process.send_signal(signal.SIGCONT)
    print(f"hung Redis: 8 session revocations refused in {revoking:.3f}s")
    assert revoking < 1.0, "one write for all eight sessions, one socket timeout"
    assert "revocation refused" in caplog.text
    assert not TokenSession.objects.filter(revoked_at__isnull=False).exists(), "rolled back"
    elapse_retry_delay()
    assert revocation.revoke_sessions([p.access_token.sid for p in family]) == 8
    assert all(raises_revoked(p.access_token) for p in family)


# Signals and logging ---------------------------------------------------------------------


@pytest.fixture
def received() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Collect (signal name, kwargs) for every jwtauth signal sent during the test."""
    log: list[tuple[str, dict[str, Any]]] = []
    names = ["token_revoked", "session_revoked", "user_tokens_revoked"]
    handlers = {}
    for name in names:

        def handler(sender: Any, signal: Any, _name: str = name, **kwargs: Any) -> None:
            log.append((_name, {"sender": sender, **kwargs}))

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield log
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def test_signals_carry_the_documented_arguments(
    clock: Any, user: Any, admin_user: Any, pair: Any, received: list[Any]
) -> None:
    revocation.revoke(pair.access_token, reason="stolen", revoked_by=admin_user)
    revocation.revoke_session(pair.access_token.sid, reason="lost", revoked_by=admin_user)
    cutoff = revocation.revoke_user(user.pk, reason="all", revoked_by=admin_user)
    assert received == [
        (
            "token_revoked",
            {
                "sender": RevokedToken,
                "jti": pair.access_token.jti,
                "token_type": "access",
                "user_id": user.pk,
                "reason": "stolen",
                "revoked_by": admin_user,
            },
        ),
        (
            "session_revoked",
            {
                "sender": TokenSession,
                "sid": pair.access_token.sid,
                "user_id": user.pk,
                "reason": "lost",
                "revoked_by": admin_user,
            },
        ),
        (
            "user_tokens_revoked",
            {
                "sender": UserCutoff,
                "user_id": user.pk,
                "cutoff": cutoff,
                "reason": "all",
                "revoked_by": admin_user,
            },
        ),
    ]
    assert UserCutoff.objects.get(user=user).cutoff == cutoff


def test_logs_name_jti_user_and_reason_never_the_raw_token(
    user: Any, pair: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="jwtauth")
    sessions.end(pair.access_token, reason="logout")
    revocation.revoke(pair.refresh_token, reason="stolen")
    revocation.revoke_user(user.pk, reason="password changed")
    cachestate.gate.trip(ConnectionError(pair.access), "a lookup")  # even a noisy error
    text = caplog.text
    assert f"jti={pair.access_token.jti} user={user.pk} reason=logout" in text
    assert f"sid={pair.access_token.sid} user={user.pk} reason=logout" in text
    assert f"user={user.pk} reason=password changed" in text
    for raw in (pair.access, pair.refresh):
        assert raw not in text
        assert raw.split(".")[2] not in text, "not even the signature"
