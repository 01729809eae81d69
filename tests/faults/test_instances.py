"""Two separate gunicorn instances sharing PostgreSQL and Redis: a revocation anywhere holds
everywhere on the very next request.

Each token is first accepted by every worker of both instances, so that each has the token's
"alive" state in the shared cache before the revocation; an admin revocation runs in a third,
separate process (a Django shell of the site), as the admin site would.
"""

from __future__ import annotations

import pytest

from .conftest import FaultStack

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def accepted_everywhere(stack: FaultStack, access: str) -> None:
    """Have every worker of both instances accept ``access`` (and cache it as alive)."""
    for server in (0, 1):
        for _ in range(stack.workers * 2):
            assert stack.get(server, "/api/me/", access).status == 200


def refused_everywhere(stack: FaultStack, access: str, refresh: str) -> None:
    """Both tokens are refused by both instances, as revoked."""
    for server in (1, 0):
        reply = stack.get(server, "/api/me/", access)
        assert (reply.status, reply.body["error"]) == (401, "token_revoked")
        reply = stack.post(server, "/auth/refresh/", refresh=refresh)
        assert reply.status == 401


def test_logout_on_one_instance_is_refused_by_the_other(stack: FaultStack) -> None:
    access, refresh = stack.login(stack.usernames[20], server=0)
    accepted_everywhere(stack, access)
    assert stack.post(0, "/auth/logout/", token=access, refresh=refresh).status == 204
    refused_everywhere(stack, access, refresh)


def test_refresh_on_one_instance_retires_the_old_token_on_the_other(stack: FaultStack) -> None:
    access, refresh = stack.login(stack.usernames[21], server=1)
    accepted_everywhere(stack, access)
    rotated = stack.post(1, "/auth/refresh/", refresh=refresh)
    assert rotated.status == 200
    # Within the reuse interval the spent token is a retry, on the other instance too: the
    # same successor...
    retry = stack.post(0, "/auth/refresh/", refresh=refresh)
    assert (retry.status, retry.body["refresh"]) == (200, rotated.body["refresh"])
    newer = stack.post(1, "/auth/refresh/", refresh=rotated.body["refresh"])
    assert newer.status == 200
    # ...but two generations old, it is reuse on the other instance: the whole family dies...
    reply = stack.post(0, "/auth/refresh/", refresh=refresh)
    assert (reply.status, reply.body["error"]) == (401, "token_reused")
    # ...so the tokens the last rotation issued are refused by both, at once.
    refused_everywhere(stack, newer.body["access"], newer.body["refresh"])


def test_admin_session_revocation_is_refused_by_both(stack: FaultStack) -> None:
    access, refresh = stack.login(stack.usernames[22], server=0)
    accepted_everywhere(stack, access)
    sid = stack.get(1, "/auth/sessions/", access).body["sessions"][0]["id"]
    assert stack.revoke_session(sid)
    refused_everywhere(stack, access, refresh)


def test_admin_revoke_all_of_a_user_is_refused_by_both(stack: FaultStack) -> None:
    username = stack.usernames[23]
    first = stack.login(username, server=0)
    second = stack.login(username, server=1)
    for access, _ in (first, second):
        accepted_everywhere(stack, access)
    stack.revoke_user(username)
    for access, refresh in (first, second):
        refused_everywhere(stack, access, refresh)
    # A login after the cutoff works on both.
    access, _ = stack.login(username, server=1)
    for server in (0, 1):
        assert stack.get(server, "/api/me/", access).status == 200
