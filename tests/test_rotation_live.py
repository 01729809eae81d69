"""Refresh retries over real HTTP: two gunicorn instances sharing PostgreSQL and Redis.

Issue 14 measured it on main: four concurrent refreshes of one token gave one 200 and three
401 ``token_reused``, and the whole session died, the winner's new tokens included. Here the
same token is sent at once to two separate instances (each with two worker processes), as two
tabs or a retrying proxy behind a load balancer would: every request must be answered with the
one successor, because the compare-and-set lives in the database, not in a process. Older
generations stay theft on either instance. The interval's edges are tested in-process with
the clock seam (``tests/test_sessions.py``); these tests run the real processes.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from loadtest.traffic import Client, Reply, claims
from services import PASSWORD, Stack

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

RACERS = 8  # concurrent refreshes of one token per round, half to each instance
INSTANCES = 2


class RotationStack(Stack):
    """The demo site on two gunicorn instances, with settings the tests may change."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(
            workdir, db_name=f"jwtauth_rotation_{os.getpid()}", instances=INSTANCES, workers=2
        )
        self.extra: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        """Return the site's environment, with the tests' settings on top."""
        return {**super().env, **self.extra}

    def call(self, server: int, path: str, token: str | None = None, **body: Any) -> Reply:
        """Send one request to instance ``server`` on a connection of its own."""
        client = Client([s.address for s in self.servers], timeout=30)
        try:
            method = "POST" if body or path != "/api/me/" else "GET"
            return client.call(server, method, path, token=token, body=body or None)
        finally:
            client.close()

    def login(self, username: str) -> dict[str, Any]:
        """Log ``username`` in on the first instance; return the token pair."""
        reply = self.call(0, "/auth/login/", username=username, password=PASSWORD)
        assert reply.status == 200, reply.raw
        return dict(reply.body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: Any) -> Iterator[RotationStack]:
    """Start the database, a private Redis and the two instances once for the module."""
    site = RotationStack(tmp_path_factory.mktemp("rotation"))
    try:
        site.start()
        site.create_users(4, prefix="rot")
        yield site
    finally:
        site.close()


@pytest.fixture
def site(stack: RotationStack) -> Iterator[RotationStack]:
    """Return the stack; afterwards, require that no instance logged a traceback."""
    yield stack
    assert not stack.tracebacks()


def race(site: RotationStack, refresh: str) -> list[tuple[Reply, float, float]]:
    """POST ``refresh`` RACERS times at once, alternating instances; time each request."""
    start = threading.Barrier(RACERS)

    def one(i: int) -> tuple[Reply, float, float]:
        client = Client([s.address for s in site.servers], timeout=30)
        try:
            client.call(i % INSTANCES, "GET", "/api/ping/")  # connected before the start line
            start.wait()
            began = time.monotonic()
            reply = client.call(i % INSTANCES, "POST", "/auth/refresh/", body={"refresh": refresh})
            return reply, began, time.monotonic()
        finally:
            client.close()

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def overlapped(results: list[tuple[Reply, float, float]]) -> bool:
    """Tell whether some requests really were in flight together."""
    spans = sorted((began, ended) for _, began, ended in results)
    return any(nxt[0] < cur[1] for cur, nxt in itertools.pairwise(spans))


def works_everywhere(site: RotationStack, access: str) -> bool:
    """Tell whether both instances accept ``access``."""
    return all(site.call(i, "/api/me/", token=access).status == 200 for i in range(INSTANCES))


def refused_everywhere(site: RotationStack, access: str, error: str = "token_revoked") -> bool:
    """Tell whether both instances refuse ``access`` with ``error``."""
    replies = [site.call(i, "/api/me/", token=access) for i in range(INSTANCES)]
    return all((r.status, r.body["error"]) == (401, error) for r in replies)


def test_concurrent_refreshes_on_two_instances_all_get_the_one_successor(
    site: RotationStack,
) -> None:
    for _ in range(3):
        first = site.login("rot0000")
        results = race(site, first["refresh"])
        assert overlapped(results)
        replies = [reply for reply, _, _ in results]
        assert [r.status for r in replies] == [200] * RACERS, [r.raw for r in replies]
        # One successor for everyone (HS256 re-signs it byte for byte): the family did not fork.
        assert len({r.body["refresh"] for r in replies}) == 1
        assert len({claims(r.body["access"])["jti"] for r in replies}) == RACERS
        assert {claims(r.body["refresh"])["sid"] for r in replies} == {
            claims(first["refresh"])["sid"]
        }
        for reply in replies[:INSTANCES]:
            assert works_everywhere(site, reply.body["access"])
        # The successor rotates the family once, on either instance...
        successor = replies[0].body["refresh"]
        third = site.call(1, "/auth/refresh/", refresh=successor)
        assert third.status == 200
        # ...after which the first token is two generations old: theft, whatever the timing.
        reuse = site.call(0, "/auth/refresh/", refresh=first["refresh"])
        assert (reuse.status, reuse.body["error"]) == (401, "token_reused")
        assert refused_everywhere(site, third.body["access"])
        assert refused_everywhere(site, replies[-1].body["access"])


def test_a_retry_on_the_other_instance_gets_the_same_successor(site: RotationStack) -> None:
    first = site.login("rot0001")
    rotated = site.call(0, "/auth/refresh/", refresh=first["refresh"])
    retried = site.call(1, "/auth/refresh/", refresh=first["refresh"])
    assert (rotated.status, retried.status) == (200, 200)
    assert retried.body["refresh"] == rotated.body["refresh"]
    assert works_everywhere(site, retried.body["access"])
    assert works_everywhere(site, rotated.body["access"])
    onward = site.call(1, "/auth/refresh/", refresh=retried.body["refresh"])
    assert onward.status == 200
    assert works_everywhere(site, onward.body["access"])


def test_with_no_interval_concurrent_refreshes_kill_the_session_as_before(
    site: RotationStack,
) -> None:
    """Every reuse is theft when the interval is 0: one winner, and the family revoked."""
    site.extra = {"JWT_REFRESH_REUSE_INTERVAL": "0"}
    site.start_servers()
    try:
        first = site.login("rot0002")
        results = race(site, first["refresh"])
        replies = [reply for reply, _, _ in results]
        winners = [r for r in replies if r.status == 200]
        assert len(winners) == 1, [r.raw for r in replies]
        assert {(r.status, r.body["error"]) for r in replies if r.status != 200} <= {
            (401, "token_reused"),
            (401, "token_revoked"),
        }
        assert refused_everywhere(site, winners[0].body["access"])
    finally:
        site.extra = {}
        site.start_servers()
