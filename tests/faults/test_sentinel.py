"""Redis Sentinel: a failover that loses a write must not bring a revoked token back.

One master, one replica and three sentinels on loopback serve two gunicorn instances configured
as docs/deployment.md shows (``REDIS_SENTINELS``, ``REDIS_SENTINEL_MASTER``). The replica is cut
off (frozen) so it misses the logout's writes, the master is killed, and Sentinel promotes the
replica, which still holds the alive entries: every worker of both instances must refuse the
token afterwards, or the logout must not have answered success.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services import Sentinels, free_port, wait_until

from .conftest import FaultStack
from .test_consistency import accepted_everywhere, logout, refused_everywhere, session

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def sentinels(stack: FaultStack, request: Any) -> Iterator[Sentinels]:
    """A Sentinel set serving both instances; ``request.param`` sets JWT_CACHE_MIN_REPLICAS."""
    workdir = stack.workdir / f"sentinel-{free_port()}"  # a plain name: Redis parses it
    workdir.mkdir()
    cluster = Sentinels(workdir)
    cluster.start()
    env = {"REDIS_SENTINELS": cluster.addresses, "REDIS_SENTINEL_MASTER": Sentinels.NAME}
    if request.param is not None:
        env["JWT_CACHE_MIN_REPLICAS"] = str(request.param)
    try:
        with stack.serving(env, env):
            yield cluster
    finally:
        cluster.stop()


def fail_over(cluster: Sentinels) -> None:
    """Kill the master, thaw the replica and wait until Sentinel has promoted it."""
    master, replica = cluster.nodes
    master.stop()
    replica.resume()
    wait_until(lambda: cluster.master_port() == replica.port, "Sentinel to promote", 60)
    wait_until(lambda: _is_master(replica), "the replica to take the master role", 60)


def _is_master(node: Any) -> bool:
    try:
        return bool(node.client().info("replication")["role"] == "master")
    except Exception:
        return False


@pytest.mark.parametrize("sentinels", [0], indirect=True, ids=["no-wait"])
def test_a_failover_that_lost_the_logout_is_repaired_from_the_database(
    stack: FaultStack, sentinels: Sentinels
) -> None:
    # Without WAIT the master acknowledges alone: the logout answers success, the replica
    # never sees it, and becomes the master. Its state key names the old master's run_id,
    # so every app server clears the recent revocations' entries before trusting it.
    access, refresh = session(stack, 44)
    _, replica = sentinels.nodes
    replica.pause()  # cut off: it will miss the writes
    assert logout(stack, 0, access, refresh).status == 204
    fail_over(sentinels)
    refused_everywhere(stack, access, refresh)


@pytest.mark.parametrize("sentinels", [None], indirect=True, ids=["default-wait"])
def test_a_logout_the_replica_did_not_acknowledge_is_refused_loudly(
    stack: FaultStack, sentinels: Sentinels
) -> None:
    # The default under Sentinel: a revocation waits for one replica's acknowledgement. With
    # the replica cut off it cannot, so the logout answers 503 and nothing is revoked; after
    # the failover the token is still accepted everywhere, consistently.
    access, refresh = session(stack, 45)
    _, replica = sentinels.nodes
    replica.pause()
    reply = logout(stack, 0, access, refresh)
    assert (reply.status, reply.body["error"]) == (503, "revocation_unavailable")
    fail_over(sentinels)
    accepted_everywhere(stack, access)
    # A promoted master without a replica cannot acknowledge either: until the old master
    # rejoins as its replica, revocations are refused rather than left unreplicated.
    master, _ = sentinels.nodes
    master.start_as_replica_of(replica.port)
    wait_until(lambda: _replicas(replica) == 1, "the old master to rejoin as a replica", 60)
    # The client retries, as a 503 tells it to, until the new replica acknowledges in time.
    wait_until(lambda: logout(stack, 1, access, refresh).status == 204, "a logout to hold", 30)
    refused_everywhere(stack, access, refresh)


def _replicas(node: Any) -> int:
    try:
        return int(node.client().info("replication")["connected_slaves"])
    except Exception:
        return 0
