"""The real stack for fault tests: gunicorn instances, a database and a Redis of the run's own.

One stack serves the whole session (creating and migrating the database and booting gunicorn
take seconds); each test gets it back healthy: Redis running, unpaused, emptied and without a
memory limit, and the servers restarted when a test asked for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from loadtest.traffic import Client, Reply
from services import PASSWORD, Gunicorn, Stack

USERS = 64


class FaultStack(Stack):
    """A :class:`Stack` with what the fault tests share: users, a client, row checks."""

    usernames: list[str]
    paused = False

    def client(self) -> Client:
        """Return a client of every instance (index 0 is A, 1 is B)."""
        return Client([s.address for s in self.servers], timeout=30)

    def login(self, username: str, server: int = 0) -> tuple[str, str]:
        """Log ``username`` in over HTTP; return (access, refresh)."""
        client = self.client()
        try:
            reply = client.call(
                server, "POST", "/auth/login/", body={"username": username, "password": PASSWORD}
            )
        finally:
            client.close()
        assert reply.status == 200, reply.raw
        return reply.body["access"], reply.body["refresh"]

    def get(self, server: int, path: str, token: str) -> Reply:
        """Send one authenticated GET to instance ``server``."""
        client = self.client()
        try:
            return client.call(server, "GET", path, token=token)
        finally:
            client.close()

    def post(self, server: int, path: str, token: str | None = None, **body: Any) -> Reply:
        """Send one POST with a JSON body to instance ``server``."""
        client = self.client()
        try:
            return client.call(server, "POST", path, token=token, body=body)
        finally:
            client.close()

    def rows(self, jti: str, sid: str) -> tuple[bool, bool]:
        """Return (a RevokedToken row exists for ``jti``, session ``sid`` is revoked)."""
        with self.db.connect() as conn:
            token = conn.execute(
                "SELECT count(*) FROM jwtauth_revokedtoken WHERE jti = %s", (jti,)
            ).fetchone()
            session = conn.execute(
                "SELECT revoked_at IS NOT NULL FROM jwtauth_tokensession WHERE sid = %s", (sid,)
            ).fetchone()
        assert token is not None
        assert session is not None, f"no session {sid}"
        return bool(token[0]), bool(session[0])

    @contextmanager
    def serving(
        self, *envs: dict[str, str], args: tuple[str, ...] = ()
    ) -> Iterator[list[Gunicorn]]:
        """Serve with one instance per ``envs`` (overrides of :attr:`env`), then as before.

        For the faults that need another Redis (persistent, Sentinel) or another route to it.
        """
        self.stop_servers()
        self.servers = [
            Gunicorn({**self.env, **env}, self.workers, self.workdir / f"custom-{i}.log", args)
            for i, env in enumerate(envs)
        ]
        try:
            for server in self.servers:
                server.start()
            yield self.servers
            tracebacks = self.tracebacks()
        finally:
            self.start_servers()
        assert not tracebacks, f"gunicorn logged tracebacks:\n{tracebacks[-4000:]}"

    def heal(self) -> None:
        """Bring Redis back to a running, empty, unlimited state."""
        if self.paused:
            self.redis.resume()
            self.paused = False
        if self.redis.process is None:
            self.redis.start()
        r = self.redis.client()
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")
        r.flushall()
        r.config_resetstat()


def on_every_worker(stack: FaultStack, server: int, token: str) -> list[int]:
    """GET /api/me/ with ``token`` from several clients at once; return the statuses.

    Sync workers take one request each, so concurrent requests reach every worker (with Redis
    hung, the first one a worker takes lasts the socket timeout, which spreads them further).
    """
    with ThreadPoolExecutor(stack.workers * 3) as pool:
        calls = [
            pool.submit(stack.get, server, "/api/me/", token) for _ in range(stack.workers * 3)
        ]
        return [call.result().status for call in calls]


@pytest.fixture(scope="session")
def _fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    workdir: Path = tmp_path_factory.mktemp("faults")
    stack = FaultStack(workdir, db_name=f"jwtauth_faults_{os.getpid()}", retry_after=1.0)
    try:
        stack.start()
        stack.usernames = stack.create_users(USERS, prefix="fault")
        yield stack
    finally:
        stack.close()


@pytest.fixture
def stack(_fault_stack: FaultStack) -> Iterator[FaultStack]:
    """Return the running stack, healthy; heal it (and check its logs) after the test."""
    _fault_stack.heal()
    yield _fault_stack
    _fault_stack.heal()
    tracebacks = _fault_stack.tracebacks()
    if tracebacks:
        _fault_stack.start_servers()  # fresh logs for the next test
    assert not tracebacks, f"gunicorn logged tracebacks:\n{tracebacks[-4000:]}"
