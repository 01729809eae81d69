"""The load run as a test: zero errors and zero revoked tokens accepted.

By default a 10-second smoke run with 16 clients; ``JWTAUTH_LOAD_SECONDS`` (at most 180) and
``JWTAUTH_LOAD_CLIENTS`` run a longer one, like ``python -m loadtest`` (docs/operations.md).
"""

from __future__ import annotations

import os
import time

import pytest

from loadtest.traffic import LoadRun, Mix, summary
from services import PASSWORD, wait_until

from .conftest import USERS, FaultStack

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

SECONDS = float(os.environ.get("JWTAUTH_LOAD_SECONDS", "10"))
CLIENTS = int(os.environ.get("JWTAUTH_LOAD_CLIENTS", "16"))


def test_load_mixed_clients_on_two_instances(stack: FaultStack) -> None:
    assert 0 < SECONDS <= 180
    assert CLIENTS <= USERS  # one user per client: no login throttling
    usernames = stack.usernames[-CLIENTS:]
    load = LoadRun(
        [s.address for s in stack.servers],
        clients=CLIENTS,
        usernames=usernames,
        password=PASSWORD,
        # A quarter of the sessions log in for real (each a full PBKDF2 hash); the rest are
        # issued beforehand, so that even the smoke run logs out (and probes) many times.
        pairs=stack.issue_sessions(usernames, 8),
        mix=Mix(reads_per_session=8, refresh_every=4, login_share=0.25),
    )
    load.start()
    # Run the time asked for, and on a slow machine a little longer if need be, until enough
    # logouts have been probed for the zero below to mean something.
    deadline = time.monotonic() + SECONDS
    wait_until(
        lambda: time.monotonic() >= deadline and load.outcome.dead_probes() >= 10,
        "ten presentations of revoked tokens",
        SECONDS + 120,
    )
    outcome = load.stop()
    report = summary(outcome)
    print(f"\nload {SECONDS:.0f}s x {CLIENTS} clients: {report}")
    assert outcome.errors == []
    assert report["status_429"] == 0
    assert outcome.revoked_accepted == []
    kinds = {r.kind for r in outcome.records}
    assert {"login", "read", "refresh", "logout", "dead-read", "dead-refresh"} <= kinds
