"""PostgreSQL connections killed under the app: a clean 503, then service; never half a logout.

To make a request lose its connection *in the middle* (after Django's connection health
check passed), the test locks the table the request needs next, waits until the request's
backend is blocked on that lock, then kills every backend of the database with
``pg_terminate_backend`` and releases the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest

from loadtest.traffic import LoadRun, Mix, Reply, claims
from services import wait_until

from .conftest import FaultStack

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@contextmanager
def in_background(call: Callable[[], Reply]) -> Iterator[list[Reply]]:
    """Run ``call`` on a thread; the list holds its reply once the block has ended."""
    result: list[Reply] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join(timeout=30)
    assert result, "the request never finished"


def kill_while_blocked(stack: FaultStack, table: str, call: Callable[[], Reply]) -> Reply:
    """Send ``call`` while ``table`` is locked, kill its blocked connection, return the reply."""
    with psycopg.connect(stack.db.url) as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with in_background(call) as reply:
            wait_until(lambda: stack.db.lock_waiters() > 0, f"a request to wait on {table}")
            assert stack.db.terminate_backends(holder) >= 1
            holder.rollback()
    return reply[0]


def assert_clean_503(reply: Reply) -> None:
    """A 503 with jwtauth's JSON error body: no 500, no HTML traceback page."""
    assert reply.status == 503, reply.raw
    assert reply.body["error"] == "service_unavailable"


def test_connection_killed_while_loading_the_user_is_a_clean_503(stack: FaultStack) -> None:
    access, _ = stack.issue_sessions(stack.usernames[10:11], 1)[0]
    assert stack.get(0, "/api/me/", access).status == 200  # the revocation state is cached
    # /api/me/ now needs the database only to load the user, outside jwtauth's own views.
    reply = kill_while_blocked(stack, "auth_user", lambda: stack.get(0, "/api/me/", access))
    assert_clean_503(reply)
    assert stack.get(0, "/api/me/", access).status == 200  # the next one reconnects


def test_connection_killed_mid_logout_leaves_no_half_revocation(stack: FaultStack) -> None:
    access, refresh = stack.issue_sessions(stack.usernames[10:11], 1)[0]
    c = claims(access)
    for server in (0, 1):
        assert stack.get(server, "/api/me/", access).status == 200
    # The logout writes the token's row, then the session's: kill it between the two.
    reply = kill_while_blocked(
        stack,
        "jwtauth_tokensession",
        lambda: stack.post(0, "/auth/logout/", token=access, refresh=refresh),
    )
    assert_clean_503(reply)
    assert stack.rows(c["jti"], c["sid"]) == (False, False)  # all or nothing: nothing
    # Nothing was revoked, so the session still works everywhere...
    for server in (0, 1):
        assert stack.get(server, "/api/me/", access).status == 200
    # ...and the retried logout revokes all of it.
    assert stack.post(0, "/auth/logout/", token=access, refresh=refresh).status == 204
    assert stack.rows(c["jti"], c["sid"]) == (True, True)
    for server in (0, 1):
        assert stack.get(server, "/api/me/", access).status == 401
        assert stack.post(server, "/auth/refresh/", refresh=refresh).status == 401


def test_connection_killed_mid_refresh_is_a_clean_503(stack: FaultStack) -> None:
    _, refresh = stack.issue_sessions(stack.usernames[10:11], 1)[0]
    reply = kill_while_blocked(
        stack, "jwtauth_tokensession", lambda: stack.post(1, "/auth/refresh/", refresh=refresh)
    )
    assert_clean_503(reply)
    # The rotation rolled back: the same refresh token is still the family's current one.
    reply = stack.post(1, "/auth/refresh/", refresh=refresh)
    assert reply.status == 200
    assert stack.get(0, "/api/me/", reply.body["access"]).status == 200


def test_connections_killed_repeatedly_under_load(stack: FaultStack) -> None:
    pairs = stack.issue_sessions(stack.usernames[:8], 60)
    mix = Mix(reads_per_session=6, refresh_every=3, allow_503=True)
    load = LoadRun([s.address for s in stack.servers], clients=6, pairs=pairs, mix=mix)
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        with stack.db.connect() as conn:
            while not stop.wait(0.05):  # pacing the kills, not waiting on the app
                killed.append(stack.db.terminate_backends(conn))

    load.start()
    try:
        wait_until(lambda: load.served() >= 100, "load to start")
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        deadline = time.monotonic() + 4
        wait_until(lambda: time.monotonic() >= deadline, "the kills", 10)
        stop.set()
        thread.join()
        calm = time.monotonic()
        served = load.served()
        wait_until(
            lambda: time.monotonic() >= calm + 2 and load.served() >= served + 150,
            "load after the kills",
            60,
        )
    finally:
        stop.set()
        outcome = load.stop()
    print(
        f"\nkilled {sum(killed)} connections in {len(killed)} rounds; "
        f"{outcome.unavailable} clean 503s out of {len(outcome.records)} requests"
    )
    assert sum(killed) > 0
    # Every failure was a clean 503 (retried by the client); nothing else went wrong.
    assert outcome.errors == []
    assert outcome.revoked_accepted == []
    after = outcome.window(calm + 1.0, float("inf"))
    assert after
    assert all(r.status != 503 for r in after)  # service is back
    # Every logout is all or nothing in the database, whatever it answered.
    for jti, sid, status in outcome.logouts:
        token_row, session_revoked = stack.rows(jti, sid)
        assert token_row == session_revoked, (status, jti, sid)
        if status == 204:
            assert token_row


def test_database_refusing_connections_answers_503_then_recovers(stack: FaultStack) -> None:
    access, refresh = stack.issue_sessions(stack.usernames[11:12], 1)[0]
    assert stack.get(0, "/api/me/", access).status == 200
    ident = stack.db.name
    with stack.db.connect("postgres") as admin:
        admin.execute(f'ALTER DATABASE "{ident}" ALLOW_CONNECTIONS false')
        try:
            stack.db.terminate_backends(admin)  # nobody can reconnect now: the DB is "down"
            for server in (0, 1):
                assert_clean_503(stack.get(server, "/api/me/", access))
                assert_clean_503(stack.post(server, "/auth/refresh/", refresh=refresh))
                assert_clean_503(stack.post(server, "/auth/login/", username="x", password="y"))
        finally:
            admin.execute(f'ALTER DATABASE "{ident}" ALLOW_CONNECTIONS true')
    for server in (0, 1):
        assert stack.get(server, "/api/me/", access).status == 200
    reply = stack.post(1, "/auth/refresh/", refresh=refresh)
    assert reply.status == 200
