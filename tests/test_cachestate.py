"""The cache's side of revocation against a private redis-server: the state key, validation on
every (re)connect, repair, conditional fills and writes that Redis refuses, loses or replays.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connections

from jwtauth import cachestate, revocation, sessions
from jwtauth.cachestate import (
    STATE_KEY,
    CacheWriteFailed,
    cutoff_key,
    gate,
    micros,
    session_key,
    token_key,
    user_key,
)
from jwtauth.exceptions import RevocationUnavailable
from services import RedisServer, free_port, wait_until
from tests.conftest import use_redis

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_key_helpers_name_distinct_keys_under_one_prefix() -> None:
    keys = {token_key("a"), session_key("a", "a"), cutoff_key("a"), user_key("a"), STATE_KEY}
    assert len(keys) == 5
    assert all(key.startswith("jwtauth:") for key in keys)


def test_a_session_key_names_its_owner() -> None:
    assert session_key("s", 1) != session_key("s", 2)


def test_micros_counts_from_the_epoch() -> None:
    assert micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.redis.RedisCache",  # Django's own: no public raw client
    ],
)
def test_only_django_redis_caches_hold_revocation_state(settings: Any, backend: str) -> None:
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:1/0"}}
    assert cachestate.store() is None
    assert cachestate.read([token_key("x")]) is None
    cachestate.write({token_key("x"): (1, 10)})  # nothing to write to: the database is all


def test_a_trip_bypasses_the_cache_for_the_retry_delay(settings: Any, caplog: Any) -> None:
    settings.JWTAUTH_CACHE_RETRY_AFTER = 30
    assert not gate.bypassing()
    with caplog.at_level(logging.WARNING, logger="jwtauth"):
        gate.trip(ConnectionError("down"), "a test")
        gate.trip(ConnectionError("down"), "a test")
    assert gate.bypassing()
    assert len(caplog.records) == 1, "one warning per outage window, not per failure"
    gate.failed_at -= 30  # as if the retry delay had passed
    assert not gate.bypassing()


@pytest.mark.parametrize("setting", ["CACHES", "JWTAUTH_CACHE"])
def test_changing_the_cache_forgets_its_failures(settings: Any, setting: str) -> None:
    gate.trip(ConnectionError("down"), "a test")
    assert gate.bypassing()
    if setting == "CACHES":
        settings.CACHES = LOCMEM
    else:
        settings.JWTAUTH_CACHE = "default"
    assert not gate.bypassing()


# A private Redis -------------------------------------------------------------------------


def state_of(server: RedisServer) -> bytes | None:
    """Return the state key's value on ``server`` (whatever the key prefix)."""
    client = server.client()
    keys = client.keys(f"*{STATE_KEY}")
    return client.get(keys[0]) if keys else None


def run_id_of(server: RedisServer) -> bytes:
    return server.run_id().encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis: SAVE writes a snapshot that the next start() loads."""
    own = RedisServer(tmp_path, persist="rdb")
    own.start()
    yield own
    own.stop()


def refused(token: Any) -> bool:
    return revocation.is_revoked(token)


pytestmark = pytest.mark.django_db(transaction=True)


def test_first_use_claims_the_server_with_its_run_id(settings: Any, server: RedisServer) -> None:
    use_redis(settings, server)
    assert state_of(server) is None
    assert cachestate.read([token_key("x")]) is not None
    state = state_of(server)
    assert state is not None
    assert state.startswith(run_id_of(server) + b":")


def test_a_lookup_distrusts_a_state_that_does_not_name_the_server(
    settings: Any, server: RedisServer, pair: Any, django_assert_num_queries: Any
) -> None:
    use_redis(settings, server)
    revocation.check(pair.access_token)
    with django_assert_num_queries(0):
        revocation.check(pair.access_token)
    # Another server's state, as a failover or a restored snapshot would bring.
    server.client().set(caches["default"].make_key(STATE_KEY), b"0" * 40 + b":g")
    assert cachestate.read([token_key("x")]) is None, "not trusted on this request"
    snapshot = cachestate.read([token_key("x")])  # validated (and repaired) on the next
    assert snapshot is not None
    assert snapshot.state.startswith(run_id_of(server) + b":")


@pytest.mark.redis
def test_a_restart_from_an_older_snapshot_brings_back_no_revoked_token(
    settings: Any, server: RedisServer, pair: Any
) -> None:
    use_redis(settings, server)
    assert not refused(pair.access_token)  # "alive" entries are now in Redis
    server.client().save()  # the snapshot a crash will restart from
    sessions.end(pair.access_token)  # answered success: tombstones in Redis, rows in the DB
    assert refused(pair.access_token)
    before = run_id_of(server)
    server.stop()
    server.start()  # loads dump.rdb: the alive entries, not the tombstones
    assert run_id_of(server) != before
    keys = revocation._Names.of(pair.access_token)
    assert server.client().get(caches["default"].make_key(keys.session)) != b"-1"
    assert refused(pair.access_token), "the restored alive entries must not be trusted"
    assert refused(pair.access_token)


@pytest.mark.redis
def test_reconnecting_to_a_restarted_server_validates_it_before_trusting_it(
    settings: Any, server: RedisServer, pair: Any, user: Any, django_assert_num_queries: Any
) -> None:
    use_redis(settings, server)
    other = sessions.start(user)
    assert not refused(other.access_token)
    server.client().save()
    revocation.revoke_session(other.access_token.sid)
    server.stop()
    server.start()
    # The pooled connection is dead; the lookup reconnects, learns the new run_id, repairs.
    assert refused(other.access_token)
    assert refused(other.access_token)
    with django_assert_num_queries(0):
        assert refused(other.access_token)
    assert not refused(pair.access_token)


@pytest.mark.redis
def test_a_flushed_cache_is_not_trusted_until_repaired(
    settings: Any, server: RedisServer, pair: Any, user: Any
) -> None:
    use_redis(settings, server)
    dead = sessions.start(user)
    revocation.revoke(dead.access_token)
    assert not refused(pair.access_token)
    server.client().flushall()
    assert cachestate.read([token_key("x")]) is None
    assert refused(dead.access_token)
    state = state_of(server)
    assert state is not None
    assert state.startswith(run_id_of(server) + b":"), "repaired"
    assert server.client().get(caches["default"].make_key(token_key(dead.access_token.jti)))


@pytest.mark.redis
@pytest.mark.parametrize("fault", ["flushall", "flushdb", "evicted"])
def test_a_fill_from_a_read_older_than_a_revocation_never_lands(
    settings: Any, server: RedisServer, pair: Any, monkeypatch: Any, fault: str
) -> None:
    use_redis(settings, server)
    token = pair.access_token
    cachestate.read([token_key("x")])  # validated
    read_db = revocation._state_from_db
    client = server.client()

    def read_then_revoke_and_lose_it(token: Any) -> Any:
        state = read_db(token)  # the reader saw "alive"...
        revocation.revoke(token)  # ...a revocation answered success...
        if fault == "evicted":  # ...and Redis lost its tombstone (LRU, say)
            client.delete(caches["default"].make_key(token_key(token.jti)))
        else:
            getattr(client, fault)()
        return state

    monkeypatch.setattr(revocation, "_state_from_db", read_then_revoke_and_lose_it)
    assert not refused(token), "the read happened before the revocation"
    monkeypatch.undo()
    alive = client.get(caches["default"].make_key(token_key(token.jti)))
    assert alive != b"0", "the stale fill must have been refused"
    assert refused(token)


# Writes Redis refuses --------------------------------------------------------------------


@pytest.mark.redis
def test_out_of_memory_revocations_delete_instead_and_hold(
    settings: Any, server: RedisServer, pair: Any, caplog: Any, django_assert_num_queries: Any
) -> None:
    use_redis(settings, server)
    assert not refused(pair.access_token)  # alive entries cached
    client = server.client()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # every write that needs memory is refused (OOM)
    caplog.set_level(logging.WARNING, logger="jwtauth")
    sessions.end(pair.access_token)  # answers success: the alive entries and state are gone
    assert "deleted instead" in caplog.text
    assert state_of(server) is None
    assert refused(pair.access_token), "read from the database"
    client.config_set("maxmemory", 0)
    gate.reset()
    assert refused(pair.access_token)
    assert refused(pair.access_token)
    with django_assert_num_queries(0):
        assert refused(pair.access_token), "repaired and refilled once memory is back"


@pytest.mark.redis
def test_a_read_only_replica_refuses_the_revocation_loudly(
    settings: Any, server: RedisServer, pair: Any, caplog: Any
) -> None:
    use_redis(settings, server)
    assert not refused(pair.access_token)
    client = server.client()
    # Demoted during a failover: it keeps serving reads, and refuses writes (READONLY).
    client.replicaof("127.0.0.1", free_port())
    caplog.set_level(logging.ERROR, logger="jwtauth")
    try:
        with pytest.raises(RevocationUnavailable) as raised:
            sessions.end(pair.access_token)
        assert raised.value.code == "revocation_unavailable"
        assert "revocation refused" in caplog.text
    finally:
        client.replicaof("no", "one")
    assert not refused(pair.access_token), "nothing was revoked: the rows rolled back"
    gate.reset()
    sessions.end(pair.access_token)
    assert refused(pair.access_token)


@pytest.mark.redis
def test_an_unreachable_cache_refuses_the_revocation_and_changes_nothing(
    settings: Any, server: RedisServer, pair: Any
) -> None:
    use_redis(settings, server)
    assert not refused(pair.access_token)
    server.stop()
    with pytest.raises(RevocationUnavailable):
        revocation.revoke_session(pair.access_token.sid)
    from jwtauth.models import TokenSession

    assert TokenSession.objects.get(sid=pair.access_token.sid).revoked_at is None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_cache_lost_between_the_commit_and_the_second_write_is_reported(
    settings: Any, server: RedisServer, pair: Any, caplog: Any
) -> None:
    from django.db import transaction

    use_redis(settings, server)
    assert not refused(pair.access_token)
    caplog.set_level(logging.ERROR, logger="jwtauth")

    def revoke_then_lose_the_cache() -> None:
        with transaction.atomic():
            revocation.revoke_session(pair.access_token.sid)  # the first write lands
            server.stop()  # before the commit's write

    with pytest.raises(RevocationUnavailable) as raised:
        revoke_then_lose_the_cache()
    assert raised.value.detail == RevocationUnavailable.unconfirmed
    assert "not confirmed in the cache" in caplog.text
    assert refused(pair.access_token), "recorded: the database refuses it"


@pytest.mark.redis
def test_a_revocation_waits_for_the_replicas_it_is_told_to(
    settings: Any, server: RedisServer, tmp_path: Path, pair: Any, user: Any
) -> None:
    use_redis(settings, server)
    settings.JWTAUTH_CACHE_MIN_REPLICAS = 1
    with pytest.raises(RevocationUnavailable):  # no replica acknowledges
        revocation.revoke(pair.access_token)
    assert not refused(pair.access_token)
    replica_dir = tmp_path / "replica"
    replica_dir.mkdir()
    replica = RedisServer(replica_dir, extra=("--replicaof", "127.0.0.1", str(server.port)))
    replica.start()
    try:
        # Synced on both sides: the master counts a replica for WAIT once it is online there.
        wait_until(
            lambda: (
                replica.client().info("replication").get("master_link_status") == "up"
                and server.client().info("replication").get("slave0", {}).get("state") == "online"
            ),
            "the replica to sync",
        )
        # A replica that is slow to answer (a busy CI machine) is the default 0.1 s's concern,
        # not this test's: here it only has to answer at all.
        settings.JWTAUTH_CACHE_REPLICA_TIMEOUT = 2.0
        revocation.revoke(pair.access_token)  # acknowledged by the replica (WAIT)
        key = caches["default"].make_key(token_key(pair.access_token.jti))
        assert replica.client().get(key) == b"1"
    finally:
        replica.stop()


def test_a_failed_write_is_a_cache_write_failure(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }
    with pytest.raises(CacheWriteFailed):
        cachestate.write({token_key("x"): (1, 10)})


# Connections -----------------------------------------------------------------------------


def names_with(server: RedisServer, values: dict[str, bytes]) -> list[str]:
    """Write ``values`` raw under the cache's key names; return the names."""
    with server.client() as client:  # closed: clients_of() counts what stays connected
        for name, value in values.items():
            client.set(caches["default"].make_key(name), value, ex=60)
    return list(values)


def clients_of(server: RedisServer) -> int:
    """Return how many normal client connections the server has (ours excluded)."""
    return len(server.client().client_list(_type="normal")) - 1


def read(*names: str) -> dict[str, bytes]:
    store = cachestate.store()
    assert store is not None
    snapshot = store.read(list(names))
    assert snapshot is not None
    return snapshot.values


def test_reads_return_the_raw_values_of_present_keys(settings: Any, server: RedisServer) -> None:
    use_redis(settings, server)
    values = {"int": b"1", "k:\u00e9:\u00fc": b"non-ASCII key", "long": b"x" * 100_000}
    names_with(server, values)
    assert read(*values, "missing") == values


def test_sequential_lookups_share_one_connection(settings: Any, server: RedisServer) -> None:
    use_redis(settings, server)
    names_with(server, {"k": b"1"})
    for _ in range(50):
        assert read("k") == {"k": b"1"}
    assert clients_of(server) == 1


def test_a_connection_killed_while_idle_is_replaced_and_validated_again(
    settings: Any, server: RedisServer
) -> None:
    use_redis(settings, server)
    names_with(server, {"k": b"1"})
    assert read("k") == {"k": b"1"}
    validations = server.calls("evalsha") + server.calls("eval")
    assert server.client().client_kill_filter(_type="normal", skipme=True) >= 1
    assert read("k") == {"k": b"1"}  # no error: redis-py reconnects; jwtauth validates first
    assert server.calls("evalsha") + server.calls("eval") > validations


def test_a_late_reply_is_never_read_by_the_next_lookup(settings: Any, server: RedisServer) -> None:
    import redis

    use_redis(settings, server)
    names_with(server, {"a": b"1", "b": b"2"})
    store = cachestate.store()
    assert store is not None
    assert read("a") == {"a": b"1"}
    server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            store.read(["b"])
    finally:
        server.resume()
    # The frozen server now answers the MGET of "b" on the connection that timed out; had
    # that connection gone back to the pool connected, this lookup would read b's value.
    for _ in range(3):
        assert read("a") == {"a": b"1"}


def test_threads_never_read_each_others_replies(settings: Any, server: RedisServer) -> None:
    import threading

    use_redis(settings, server)
    names_with(server, {f"t{n}": str(n).encode() for n in range(8)})
    wrong: list[tuple[int, Any]] = []

    def work(n: int) -> None:
        for _ in range(300):
            found = read(f"t{n}", "absent")
            if found != {f"t{n}": str(n).encode()}:
                wrong.append((n, found))
        connections.close_all()  # a validation may have read the database in this thread

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert 1 <= clients_of(server) <= 8  # at most one per thread


def test_the_pools_connection_limit_holds(settings: Any, server: RedisServer) -> None:
    import threading

    use_redis(
        settings,
        server,
        CONNECTION_POOL_CLASS="redis.BlockingConnectionPool",
        CONNECTION_POOL_KWARGS={"max_connections": 2, "timeout": 5},
    )
    names_with(server, {"k": b"1"})
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                assert read("k") == {"k": b"1"}
        except BaseException as e:  # reported below
            failures.append(e)
        finally:
            connections.close_all()  # a validation may have read the database in this thread

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert clients_of(server) <= 2


# Python 3.12 warns on any fork while other threads exist (earlier tests may leave idle ones);
# the child only does lookups on its own new connection and leaves through os._exit.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(settings: Any, server: RedisServer) -> None:
    import os

    use_redis(settings, server)
    names_with(server, {"parent": b"1", "child": b"2"})
    assert read("parent") == {"parent": b"1"}  # a connection is now idle in the pool
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which reports by exit status
        ok = all(read("child") == {"child": b"2"} for _ in range(300))
        os._exit(0 if ok else 1)
    results = [read("parent") for _ in range(300)]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(found == {"parent": b"1"} for found in results)


def test_a_claim_rides_in_the_lookups_round_trip(settings: Any, server: RedisServer) -> None:
    use_redis(settings, server)
    names_with(server, {"k": b"1"})
    read("k")  # validated
    before = (server.calls("mget"), server.calls("set"))
    first, again = cachestate.Claim("jwtauth:once:x", 30), cachestate.Claim("jwtauth:once:x", 30)
    store = cachestate.store()
    assert store is not None
    snapshot = store.read(["k"], first)
    assert snapshot is not None
    assert snapshot.values == {"k": b"1"}
    assert store.read(["k"], again) is not None
    assert (first.taken, again.taken) == (True, False)
    assert (server.calls("mget"), server.calls("set")) == (before[0] + 2, before[1] + 2)
    key = caches["default"].make_key("jwtauth:once:x")
    assert 0 < server.client().ttl(key) <= 30


def test_a_claim_the_cache_could_not_make_stays_unknown(settings: Any, server: RedisServer) -> None:
    use_redis(settings, server)
    read("k")
    server.stop()
    claim = cachestate.Claim("jwtauth:once:y", 30)
    assert cachestate.read(["k"], claim) is None
    assert claim.taken is None  # the caller fails closed (DPoP: 503)
