"""Sessions: start, rotation (cost, reuse, grace, races on PostgreSQL), end and listing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from jwtauth import revocation, sessions
from jwtauth.exceptions import TokenError, TokenReused, TokenRevoked
from jwtauth.models import TokenSession
from jwtauth.tokens import TokenPair

pytestmark = pytest.mark.django_db


def alive(pair: TokenPair) -> bool:
    """Tell whether neither token of ``pair`` is revoked."""
    return not (
        revocation.is_revoked(pair.access_token) or revocation.is_revoked(pair.refresh_token)
    )


def test_start_records_the_session_without_the_token(user: Any) -> None:
    pair = sessions.start(user, user_agent="x" * 300, ip_address="2001:db8::1")
    row = TokenSession.objects.get(sid=pair.access_token.sid)
    assert row.user == user
    assert row.refresh_jti == pair.refresh_token.jti
    assert row.expires_at == datetime.fromtimestamp(pair.refresh_token.exp, UTC)
    assert row.user_agent == "x" * sessions.MAX_USER_AGENT
    assert row.ip_address == "2001:db8::1"
    assert pair.refresh_token.sid == pair.access_token.sid
    assert alive(pair)


def test_rotate_spends_the_refresh_token_and_keeps_the_family(clock: Any, pair: Any) -> None:
    clock.shift(60)
    new = sessions.rotate(pair.refresh_token)
    assert new.refresh_token.sid == pair.refresh_token.sid
    assert new.refresh_token.jti != pair.refresh_token.jti
    row = TokenSession.objects.get(sid=pair.refresh_token.sid)
    assert (row.refresh_jti, row.previous_refresh_jti) == (
        new.refresh_token.jti,
        pair.refresh_token.jti,
    )
    assert row.refreshed_at == row.last_used_at == datetime.fromtimestamp(1_800_000_060, UTC)
    assert row.expires_at == datetime.fromtimestamp(new.refresh_token.exp, UTC)
    assert alive(new)


@pytest.mark.redis
def test_rotate_costs_at_most_four_statements_with_a_warm_cache(
    pair: Any, django_assert_max_num_queries: Any
) -> None:
    revocation.check(pair.refresh_token)
    with django_assert_max_num_queries(4) as captured:
        sessions.rotate(pair.refresh_token)
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    # SAVEPOINT and RELEASE stand for BEGIN and COMMIT outside the test's own transaction.
    assert statements == ["SAVEPOINT", "SELECT", "UPDATE", "RELEASE"]


@pytest.mark.redis
def test_rotating_a_fresh_refresh_token_is_three_statements_in_one_transaction(
    pair: Any, django_assert_max_num_queries: Any
) -> None:
    fresh = sessions.rotate(pair.refresh_token).refresh_token  # its jti is not cached yet
    with django_assert_max_num_queries(5) as captured:
        sessions.rotate(fresh)
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    # The revocation check's read, the user and the compare-and-set, between BEGIN and COMMIT.
    assert statements == ["SAVEPOINT", "SELECT", "SELECT", "UPDATE", "RELEASE"]


def test_reuse_revokes_the_whole_family(pair: Any) -> None:
    stolen = pair.refresh_token
    descendant = sessions.rotate(stolen)  # the thief, first
    with pytest.raises(TokenReused):
        sessions.rotate(stolen)  # the victim, second
    assert not alive(descendant)
    assert not alive(pair)
    row = TokenSession.objects.get(sid=stolen.sid)
    assert row.revoke_reason == "refresh token reuse"
    with pytest.raises(TokenRevoked):
        sessions.rotate(descendant.refresh_token)


def test_reuse_of_an_older_generation_is_reuse(pair: Any) -> None:
    second = sessions.rotate(pair.refresh_token)
    third = sessions.rotate(second.refresh_token)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert not alive(third)


def test_reuse_leaves_other_sessions_alone(user: Any, pair: Any) -> None:
    other = sessions.start(user)
    sessions.rotate(pair.refresh_token)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert alive(other)


def test_grace_window_refuses_a_retry_without_killing_the_family(
    settings: Any, clock: Any, pair: Any
) -> None:
    settings.JWTAUTH_REFRESH_REUSE_GRACE = 10
    new = sessions.rotate(pair.refresh_token)
    clock.shift(10)
    with pytest.raises(TokenError) as refused:
        sessions.rotate(pair.refresh_token)
    assert not isinstance(refused.value, TokenRevoked)
    assert alive(new)
    newer = sessions.rotate(new.refresh_token)
    clock.shift(11)
    with pytest.raises(TokenReused):
        sessions.rotate(new.refresh_token)
    assert not alive(newer)


def test_grace_window_does_not_cover_older_generations(
    settings: Any, clock: Any, pair: Any
) -> None:
    settings.JWTAUTH_REFRESH_REUSE_GRACE = 10
    second = sessions.rotate(pair.refresh_token)
    sessions.rotate(second.refresh_token)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)


def test_revoked_session_cannot_rotate(pair: Any) -> None:
    revocation.revoke_session(pair.refresh_token.sid)
    with pytest.raises(TokenRevoked) as refused:
        sessions.rotate(pair.refresh_token)
    assert not isinstance(refused.value, TokenReused)


def test_revoked_refresh_token_cannot_rotate(pair: Any) -> None:
    revocation.revoke(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        sessions.rotate(pair.refresh_token)


def test_inactive_user_cannot_rotate(django_user_model: Any, user: Any, pair: Any) -> None:
    # A queryset update sends no signal, so only rotate's own check stands in the way.
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TokenRevoked):
        sessions.rotate(pair.refresh_token)
    assert TokenSession.objects.get(sid=pair.refresh_token.sid).refresh_jti == (
        pair.refresh_token.jti
    )


def test_deleted_user_cannot_rotate(user: Any, pair: Any) -> None:
    user.delete()
    with pytest.raises(TokenRevoked):
        sessions.rotate(pair.refresh_token)


def test_end_revokes_the_token_and_its_session(user: Any, pair: Any) -> None:
    other = sessions.start(user)
    sessions.end(pair.access_token)
    assert revocation.is_revoked(pair.access_token)
    assert revocation.is_revoked(pair.refresh_token)
    assert alive(other)


def test_for_user_lists_live_sessions_newest_first(clock: Any, user: Any, other_user: Any) -> None:
    old = sessions.start(user, user_agent="old")
    clock.shift(1)
    new = sessions.start(user, user_agent="new")
    clock.shift(1)
    ended = sessions.start(user, user_agent="ended")
    sessions.end(ended.access_token)
    sessions.start(other_user)
    listed = [row.sid for row in sessions.for_user(user)]
    assert listed == [new.access_token.sid, old.access_token.sid]
    clock.shift(old.refresh_token.exp - old.refresh_token.iat)
    assert list(sessions.for_user(user)) == []


# Concurrent rotation on PostgreSQL -------------------------------------------------------


def race(workers: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` in ``workers`` threads released at once; return results or errors."""
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def work(index: int) -> None:
        try:
            connection.ensure_connection()  # connect before the start line, not after it
            barrier.wait()
            results[index] = action()
        except Exception as e:
            results[index] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [0, 30])
def test_concurrent_rotations_of_one_token_have_one_winner(
    settings: Any, user: Any, grace: int
) -> None:
    settings.JWTAUTH_REFRESH_REUSE_GRACE = grace
    for _ in range(5):
        pair = sessions.start(user)
        results = race(8, lambda pair=pair: sessions.rotate(pair.refresh_token))
        winners = [r for r in results if isinstance(r, TokenPair)]
        losers = [r for r in results if not isinstance(r, TokenPair)]
        assert len(winners) == 1, results
        assert all(isinstance(r, TokenError) for r in losers), results
        live = [p for p in winners if alive(p)]
        if grace:
            # Losers inside the grace window are refused without killing the family.
            assert not any(isinstance(r, TokenRevoked) for r in losers), results
            assert len(live) == 1
        else:
            assert any(isinstance(r, TokenReused) for r in losers), results
            assert live == [], "the losers' reuse revoked the family"
