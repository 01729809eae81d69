"""The revocation invariant under every Redis fault of the design note's table, end to end.

Once a revocation answers success, no process accepts the token again; when that cannot be
made true, the revocation answers 503 ``revocation_unavailable`` instead. Each test runs two
gunicorn instances (A and B) of the demo site on one PostgreSQL and a Redis of the test's own,
has every worker of both cache the token as alive first, breaks Redis the way the row says,
logs out, and checks every worker of both instances. docs/design/revocation-consistency.md
names the test of each row.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loadtest.traffic import claims
from services import Database, Proxy, RedisServer, free_port, wait_until

from .conftest import FaultStack, on_every_worker

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def alive_everywhere(stack: FaultStack, access: str) -> None:
    """Have every worker of both instances accept ``access``, caching it as alive."""
    for server in (0, 1):
        assert set(on_every_worker(stack, server, access)) == {200}


def refused_everywhere(stack: FaultStack, access: str, refresh: str) -> None:
    """Every worker of both instances refuses the access token; both refuse the refresh."""
    for server in (1, 0):
        assert set(on_every_worker(stack, server, access)) == {401}, f"accepted by {server}"
        assert stack.post(server, "/auth/refresh/", refresh=refresh).status == 401


def accepted_everywhere(stack: FaultStack, access: str) -> None:
    """Every worker of both instances still accepts ``access`` (nothing was revoked)."""
    for server in (1, 0):
        assert set(on_every_worker(stack, server, access)) == {200}


def logout(stack: FaultStack, server: int, access: str, refresh: str) -> Any:
    """Log the session out on instance ``server``; return the reply."""
    return stack.post(server, "/auth/logout/", token=access, refresh=refresh)


def assert_refused_loudly(reply: Any) -> None:
    """The revocation answered a clean 503 naming why, not a success."""
    assert reply.status == 503, reply.raw
    assert reply.body["error"] == "revocation_unavailable"


def session(stack: FaultStack, index: int) -> tuple[str, str]:
    """Return a fresh (access, refresh) pair of user ``index``, cached alive everywhere."""
    ((access, refresh),) = stack.issue_sessions(stack.usernames[index : index + 1], 1)
    alive_everywhere(stack, access)
    return access, refresh


def out_of_memory(stack: FaultStack) -> Any:
    """Make Redis refuse every write that needs memory (OOM); return a client to undo it."""
    # maxmemory reached under noeviction: SET is refused, reads are still served, DEL works.
    client = stack.redis.client()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)
    return client


def test_writes_refused_for_memory_delete_instead_and_hold(stack: FaultStack) -> None:
    access, refresh = session(stack, 30)
    client = out_of_memory(stack)
    assert logout(stack, 0, access, refresh).status == 204
    refused_everywhere(stack, access, refresh)
    client.config_set("maxmemory", 0)
    refused_everywhere(stack, access, refresh)
    mget = stack.redis.calls("mget")
    session(stack, 31)  # the cache is trusted again once repaired
    assert stack.redis.calls("mget") > mget
    refused_everywhere(stack, access, refresh)


def test_writes_refused_by_a_read_only_replica_refuse_the_revocation(stack: FaultStack) -> None:
    # Demoted during a failover: it serves reads (the alive entries) and refuses writes.
    access, refresh = session(stack, 32)
    client = stack.redis.client()
    client.replicaof("127.0.0.1", free_port())
    try:
        assert_refused_loudly(logout(stack, 0, access, refresh))
        accepted_everywhere(stack, access)  # nothing was revoked, so nothing is half-done
    finally:
        client.replicaof("no", "one")
    assert logout(stack, 0, access, refresh).status == 204
    refused_everywhere(stack, access, refresh)


@pytest.fixture
def persistent_redis(stack: FaultStack, request: Any) -> Iterator[RedisServer]:
    """A Redis with persistence (``request.param``: rdb or aof) serving both instances."""
    workdir = stack.workdir / f"redis-{request.param}-{free_port()}"
    workdir.mkdir()
    server = RedisServer(workdir, persist=request.param)
    server.start()
    try:
        with stack.serving({"REDIS_URL": server.url}, {"REDIS_URL": server.url}):
            yield server
    finally:
        server.stop()


@pytest.mark.parametrize("persistent_redis", ["rdb"], indirect=True)
def test_a_restart_from_an_older_snapshot_keeps_the_logout(
    stack: FaultStack, persistent_redis: RedisServer
) -> None:
    access, refresh = session(stack, 33)
    persistent_redis.client().save()  # the snapshot: the alive entries, before the logout
    assert logout(stack, 0, access, refresh).status == 204
    refused_everywhere(stack, access, refresh)
    persistent_redis.stop()  # a crash: no shutdown save
    persistent_redis.start()  # loads dump.rdb
    refused_everywhere(stack, access, refresh)


@pytest.mark.parametrize("persistent_redis", ["aof"], indirect=True)
def test_an_append_only_file_that_lost_its_last_second_keeps_the_logout(
    stack: FaultStack, persistent_redis: RedisServer
) -> None:
    access, refresh = session(stack, 34)
    aof = persistent_redis.dir / "appendonlydir"  # Redis 7's multi-part AOF
    wait_until(lambda: aof.is_dir() and any(aof.iterdir()), "the append-only file")
    on_disk = persistent_redis.dir / "on-disk-before-logout"
    shutil.copytree(aof, on_disk)  # what fsync had written when the logout came
    assert logout(stack, 0, access, refresh).status == 204
    persistent_redis.stop()
    shutil.rmtree(aof)
    shutil.copytree(on_disk, aof)  # the last second never reached the disk
    persistent_redis.start()
    refused_everywhere(stack, access, refresh)


@pytest.mark.parametrize("command", ["flushall", "flushdb"])
def test_a_flush_after_the_logout_keeps_it(stack: FaultStack, command: str) -> None:
    access, refresh = session(stack, 35)
    assert logout(stack, 1, access, refresh).status == 204
    getattr(stack.redis.client(), command)()
    refused_everywhere(stack, access, refresh)


def test_a_revocation_while_redis_hangs_is_refused_and_nothing_half_done(
    stack: FaultStack,
) -> None:
    access, refresh = session(stack, 36)
    stack.redis.pause()
    stack.paused = True
    assert_refused_loudly(logout(stack, 0, access, refresh))
    stack.redis.resume()
    stack.paused = False
    accepted_everywhere(stack, access)
    assert logout(stack, 0, access, refresh).status == 204  # the client's retry
    refused_everywhere(stack, access, refresh)


@pytest.fixture
def partitioned(stack: FaultStack) -> Iterator[Proxy]:
    """Instance A reaches Redis through a link that can be cut; B reaches it directly."""
    proxy = Proxy(stack.redis.port)
    proxy.start()
    try:
        with stack.serving({"REDIS_URL": proxy.url}, {}):
            yield proxy
    finally:
        proxy.stop()


def test_a_partial_partition_refuses_revocations_on_the_cut_off_side(
    stack: FaultStack, partitioned: Proxy
) -> None:
    access, refresh = session(stack, 37)
    partitioned.cut()
    try:
        # A cannot reach Redis, where B reads the alive entries: A must not answer success.
        assert_refused_loudly(logout(stack, 0, access, refresh))
        assert stack.get(1, "/api/me/", access).status == 200  # consistent: not revoked
        # B can: its logout holds on B at once, and on A, which reads the database meanwhile.
        assert logout(stack, 1, access, refresh).status == 204
        refused_everywhere(stack, access, refresh)
    finally:
        partitioned.heal()
    refused_everywhere(stack, access, refresh)


def test_workers_killed_right_after_a_refused_write_lose_nothing(stack: FaultStack) -> None:
    # Nothing a revocation needs may live only in a worker's memory (a queue of missed
    # writes, say): every worker of A is killed (as a recycle or an OOM kill would end it)
    # right after a logout whose cache write Redis refused.
    access, refresh = session(stack, 38)
    client = out_of_memory(stack)
    assert logout(stack, 0, access, refresh).status == 204
    assert stack.servers[0].kill_workers() == stack.workers
    client.config_set("maxmemory", 0)
    refused_everywhere(stack, access, refresh)


def copy_rows(source: Database, target: Database, tables: list[str]) -> None:
    """Copy ``tables`` from ``source`` into ``target``, as a replica had them at this moment."""
    with source.connect() as src, target.connect() as dst:
        for table in tables:
            name = sql.Identifier(table)
            dst.execute(sql.SQL("DELETE FROM {}").format(name))
            with (
                src.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(name)) as out,
                dst.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(name)) as into,
            ):
                for block in out:
                    into.write(block)


@pytest.fixture
def lagging_replica(stack: FaultStack) -> Iterator[Database]:
    """A read replica that stopped replicating (lags forever); reads are routed to it."""
    replica = Database(stack.db.url, f"{stack.db.name}_replica")
    replica.create()
    try:
        stack.manage_on(replica.url, "migrate", "--noinput")
        with stack.serving(
            {"DATABASE_REPLICA_URL": replica.url}, {"DATABASE_REPLICA_URL": replica.url}
        ):
            yield replica
    finally:
        replica.drop()


def test_revocation_state_is_never_read_from_a_lagging_replica(
    stack: FaultStack, lagging_replica: Database
) -> None:
    copy_rows(stack.db, lagging_replica, ["auth_user"])  # logins read users there
    access, refresh = stack.login(stack.usernames[39], server=0)
    tables = ["jwtauth_tokensession", "jwtauth_revokedtoken", "jwtauth_usercutoff"]
    copy_rows(stack.db, lagging_replica, tables)  # the replica has the session, alive
    assert logout(stack, 0, access, refresh).status == 204  # written to the primary
    stack.redis.client().flushall()  # every lookup now misses the cache and reads a database
    refused_everywhere(stack, access, refresh)
    with psycopg.connect(lagging_replica.url) as conn:  # the replica still says alive
        row = conn.execute(
            "SELECT revoked_at FROM jwtauth_tokensession WHERE sid = %s", (claims(access)["sid"],)
        ).fetchone()
    assert row == (None,)
