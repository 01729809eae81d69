"""Redis killed, hung, flushed and starved under load: the database keeps revocations true.

The servers are gunicorn instances of the demo site with ``JWT_CACHE_RETRY_AFTER=1``: after a
cache failure each worker reads the database alone for one second, then tries Redis again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from loadtest.traffic import LoadRun, Mix, Outcome, percentile
from services import Gunicorn, wait_until

from .conftest import FaultStack, on_every_worker

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

OUTAGE_P99_MS = 250


def pooled_load(stack: FaultStack, clients: int = 6, per_user: int = 60) -> LoadRun:
    """Return a load of reads, refreshes and logouts over sessions issued beforehand."""
    pairs = stack.issue_sessions(stack.usernames[:8], per_user)
    mix = Mix(reads_per_session=6, refresh_every=3)
    return LoadRun([s.address for s in stack.servers], clients=clients, pairs=pairs, mix=mix)


def keep_running(load: LoadRun, seconds: float, at_least: int = 50) -> None:
    """Let the load run on for ``seconds`` and at least ``at_least`` more answered requests."""
    target = load.served() + at_least
    deadline = time.monotonic() + seconds
    wait_until(
        lambda: time.monotonic() >= deadline and load.served() >= target,
        f"{at_least} more requests",
        seconds + 60,
    )
    assert all(t.is_alive() for t in load.threads), "the pool of issued sessions ran out"


def assert_sound(outcome: Outcome) -> None:
    """No error (so no 5xx and no valid token refused), no revoked token accepted."""
    assert outcome.errors == []
    assert outcome.revoked_accepted == []
    assert outcome.dead_probes() > 0


def test_redis_killed_mid_load_then_restarted(stack: FaultStack) -> None:
    load = pooled_load(stack).start()
    try:
        keep_running(load, 1)
        assert stack.redis.calls("mget") > 0  # the cache is in use before the outage
        before = time.monotonic()
        keep_running(load, 2)
        down = time.monotonic()
        stack.redis.stop()
        keep_running(load, 3, at_least=100)
        up = time.monotonic()
        stack.redis.start()  # same port, empty: a restart without persistence
        wait_until(lambda: stack.redis.calls("mget") > 0, "MGET after the restart", 1.0 + 2.0)
        back_after = time.monotonic() - up
        keep_running(load, 1)
    finally:
        outcome = load.stop()
    assert_sound(outcome)
    during = outcome.window(down, up)
    kinds = {r.kind for r in during}
    # Valid tokens kept working from the database while Redis was gone; logouts were refused
    # loudly (they could not be put in force in the cache) and held once it was back.
    assert {"read", "refresh", "logout"} <= kinds
    assert outcome.refused_revocations > 0
    p99 = percentile([r.ms for r in during], 99)
    p99_before = percentile([r.ms for r in outcome.window(before, down)], 99)
    print(
        f"\nredis down {up - down:.1f}s: {len(during)} requests, p99 {p99:.0f} ms "
        f"(before: {p99_before:.0f} ms); cache used again {back_after:.2f}s after the restart"
    )
    # On a quiet machine the bound is 250 ms; on a machine busy with other work the outage
    # must at least not make the tail worse than the same load had just before it.
    assert p99 < max(OUTAGE_P99_MS, 1.5 * p99_before)
    # Back after the restart: entries are written again (fills of the emptied cache).
    assert stack.redis.calls("set") > 0


def test_redis_hung_mid_load_then_resumed(stack: FaultStack) -> None:
    # SIGSTOP: connections are accepted but nothing answers, so each attempt costs the socket
    # timeout (0.25 s); the circuit breaker keeps that to one lookup per worker per second.
    # Revocations cannot be put in force meanwhile: each logout pays one timeout and answers
    # 503 with Retry-After, and its client sends it again once that has passed (retrying at
    # once would hold a worker per attempt, and the reads would queue behind the logouts);
    # once Redis answers again, with its data, they succeed.
    load = pooled_load(stack).start()
    try:
        keep_running(load, 1)
        before = time.monotonic()
        keep_running(load, 2)
        down = time.monotonic()
        stack.redis.pause()
        stack.paused = True
        keep_running(load, 3, at_least=100)
        up = time.monotonic()
        stack.redis.resume()
        stack.paused = False
        keep_running(load, 3)
    finally:
        outcome = load.stop()
    assert_sound(outcome)
    assert outcome.refused_revocations > 0
    window = outcome.window(down, up)
    lookups = [r.ms for r in window if r.kind in {"read", "refresh"}]
    p50_before = percentile(
        [r.ms for r in outcome.window(before, down) if r.kind in {"read", "refresh"}], 50
    )
    p50, p99, worst = percentile(lookups, 50), percentile(lookups, 99), max(r.ms for r in window)
    print(
        f"\nredis hung {up - down:.1f}s: {len(window)} requests, reads and refreshes p50 "
        f"{p50:.0f} ms (before: {p50_before:.0f} ms), p99 {p99:.0f} ms; max of all {worst:.0f} "
        f"ms; {outcome.refused_revocations} revocations refused (retried)"
    )
    # Were every lookup to wait for the 0.25 s socket timeout, the median would grow by it.
    assert p50 < p50_before + 200
    assert worst < 3000  # a few socket timeouts at most, never a hang


def repeatedly(action: Callable[[], None], stop: threading.Event) -> threading.Thread:
    """Run ``action`` in a loop on a thread until ``stop`` is set."""

    def loop() -> None:
        while not stop.is_set():
            action()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def logged_out_tokens(stack: FaultStack, count: int) -> list[tuple[str, str]]:
    """Return (access, refresh) pairs whose sessions were logged out, cached as revoked."""
    pairs = stack.issue_sessions(stack.usernames[8:9], count)
    for access, refresh in pairs:
        assert stack.get(0, "/api/me/", access).status == 200  # cache "alive" first
        assert stack.get(1, "/api/me/", access).status == 200
        reply = stack.post(0, "/auth/logout/", token=access, refresh=refresh)
        assert reply.status == 204
        assert stack.get(1, "/api/me/", access).status == 401  # and now "revoked"
    return pairs


def assert_still_dead(stack: FaultStack, pairs: list[tuple[str, str]]) -> None:
    """Every token of ``pairs`` is refused on both instances."""
    for access, refresh in pairs:
        for server in (0, 1):
            reply = stack.get(server, "/api/me/", access)
            assert (reply.status, reply.body["error"]) == (401, "token_revoked")
            reply = stack.post(server, "/auth/refresh/", refresh=refresh)
            assert reply.status == 401


def flush(client: redis.Redis, stop: threading.Event) -> None:
    """Empty the whole cache, then pause 50 ms (pacing the flushes, not waiting on the app)."""
    client.flushall()
    stop.wait(0.05)


def test_flushall_mid_load_keeps_revocations(stack: FaultStack) -> None:
    dead = logged_out_tokens(stack, 3)
    client = stack.redis.client()
    stop = threading.Event()
    load = pooled_load(stack).start()
    try:
        keep_running(load, 1)
        flusher = repeatedly(lambda: flush(client, stop), stop)
        keep_running(load, 3, at_least=100)
        stop.set()
        flusher.join()
        assert_still_dead(stack, dead)
        keep_running(load, 1)
    finally:
        stop.set()
        outcome = load.stop()
    assert_sound(outcome)
    assert_still_dead(stack, dead)


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])
@pytest.mark.parametrize("headroom", [None, 512 * 1024], ids=["1mb-starved", "evicting"])
def test_evicted_cache_keeps_revocations(
    stack: FaultStack, headroom: int | None, policy: str
) -> None:
    # "1mb" is below what an empty Redis already uses: it evicts all it can and then refuses
    # writes (OOM errors the app must survive); a limit 512 KiB above its current use keeps
    # it working while LRU eviction throws out revocation entries among the junk. Under
    # volatile-lru only keys with a TTL go: the junk gets one, as every jwtauth entry has
    # (except the state key, which therefore is never evicted).
    dead = logged_out_tokens(stack, 3)
    client = stack.redis.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", policy)
    client.config_set("maxmemory", "1mb" if headroom is None else used + headroom)
    junk = b"x" * 512
    counter = iter(range(10**9))
    refused = []

    def fill() -> None:
        try:
            client.set(f"junk:{next(counter)}", junk, ex=3600)
        except redis.ResponseError:
            refused.append(1)  # OOM: nothing left to evict; the app sees the same error

    stop = threading.Event()
    load = pooled_load(stack).start()
    try:
        keep_running(load, 1)
        filler = repeatedly(fill, stop)
        keep_running(load, 3, at_least=100)
        assert_still_dead(stack, dead)
        keep_running(load, 1)
    finally:
        stop.set()
        outcome = load.stop()
    filler.join()
    evicted = int(client.info("stats")["evicted_keys"])
    print(f"\nused {used} B before; evicted keys: {evicted}; junk writes refused: {len(refused)}")
    assert evicted > 0
    if headroom is not None:
        assert evicted > 1000
    assert_sound(outcome)
    assert_still_dead(stack, dead)


def test_logout_on_a_server_still_bypassing_redis_reaches_the_others(stack: FaultStack) -> None:
    # Redis comes back while one server still bypasses it (its retry delay has not run out)
    # and another already reads it again: a logout on the first must not leave the second an
    # "alive" entry it filled from the database just before.
    patient = Gunicorn(
        {**stack.env, "JWT_CACHE_RETRY_AFTER": "60"}, stack.workers, stack.workdir / "patient.log"
    )
    patient.start()
    try:
        stack.servers.append(patient)
        (access, refresh), (other, _) = stack.issue_sessions(stack.usernames[12:13], 2)
        stack.redis.stop()
        assert set(on_every_worker(stack, 2, access)) == {200}  # from the database; tripped
        stack.redis.start()
        mget = stack.redis.calls("mget")
        wait_until(
            lambda: (
                stack.get(1, "/api/me/", other).status == 200 and stack.redis.calls("mget") > mget
            ),
            "instance B to use Redis again",
        )
        assert set(on_every_worker(stack, 1, access)) == {200}  # B caches it "alive"
        assert stack.post(2, "/auth/logout/", token=access, refresh=refresh).status == 204
        assert set(on_every_worker(stack, 1, access)) == {401}
    finally:
        stack.servers.remove(patient)
        patient.stop()
