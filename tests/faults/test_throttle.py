"""The login throttle under real concurrency: guesses racing over gunicorn workers.

A check-then-count throttle lets every guess that arrives while the first hashes run through
its check (measured before the fix: 12-13 of 40 concurrent guesses checked with a limit of 5).
Each attempt now takes a slot before its hash, so no more than the limit is ever checked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services import PASSWORD

from .conftest import FaultStack

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

LIMIT = 5  # JWTAUTH_LOGIN_FAILURE_LIMIT's default, which the demo site keeps


def test_concurrent_guesses_never_exceed_the_limit(stack: FaultStack) -> None:
    username = stack.usernames[50]
    guesses = [f"wrong guess {n}" for n in range(39)]
    guesses.insert(25, PASSWORD)  # the right one, late in the burst

    def guess(index: int) -> int:
        reply = stack.post(index % 2, "/auth/login/", username=username, password=guesses[index])
        return reply.status

    with ThreadPoolExecutor(len(guesses)) as pool:
        statuses = list(pool.map(guess, range(len(guesses))))
    checked = statuses.count(401) + statuses.count(200)  # a 429 was refused before its hash
    print(f"\n{len(guesses)} concurrent guesses: {checked} checked, {statuses.count(429)} refused")
    assert set(statuses) <= {200, 401, 429}
    assert checked <= LIMIT
    assert statuses.count(429) >= len(guesses) - LIMIT
