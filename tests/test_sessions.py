"""Sessions: start, rotation (cost, reuse, grace, races on PostgreSQL), end and listing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from jwtauth import dpop, revocation, sessions
from jwtauth.dpop import InvalidDPoPProof, Proof
from jwtauth.dpop.client import DPoPKey
from jwtauth.exceptions import TokenError, TokenExpired, TokenReused, TokenRevoked
from jwtauth.models import TokenSession
from jwtauth.tokens import REFRESH, TokenPair, decode, encode

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


def test_reuse_revokes_the_whole_family(clock: Any, pair: Any) -> None:
    stolen = pair.refresh_token
    descendant = sessions.rotate(stolen)  # the thief, first
    clock.shift(31)  # past the reuse interval
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


def test_reuse_leaves_other_sessions_alone(clock: Any, user: Any, pair: Any) -> None:
    other = sessions.start(user)
    sessions.rotate(pair.refresh_token)
    clock.shift(31)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert alive(other)


# Retries within the reuse interval ----------------------------------------------------------


def test_a_retry_within_the_interval_gets_the_very_same_successor(clock: Any, pair: Any) -> None:
    new = sessions.rotate(pair.refresh_token)
    clock.shift(30)  # the interval's last instant (the default, 30 s)
    retry = sessions.rotate(pair.refresh_token)
    assert retry.refresh == new.refresh
    assert retry.refresh_token == new.refresh_token
    assert retry.access_token.jti != new.access_token.jti
    assert alive(retry)
    row = TokenSession.objects.get(sid=pair.refresh_token.sid)
    assert (row.refresh_jti, row.previous_refresh_jti) == (
        new.refresh_token.jti,
        pair.refresh_token.jti,
    )
    # The retry wrote nothing: the session was last used at the rotation.
    assert row.refreshed_at == datetime.fromtimestamp(1_800_000_000, UTC)


def test_one_past_the_interval_the_previous_token_is_reuse(clock: Any, pair: Any) -> None:
    new = sessions.rotate(pair.refresh_token)
    clock.shift(30.000001)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert not alive(new)


def test_the_interval_counts_from_the_rotation_that_spent_the_token(
    settings: Any, clock: Any, pair: Any
) -> None:
    settings.JWTAUTH_REFRESH_REUSE_INTERVAL = 10
    second = sessions.rotate(pair.refresh_token)
    clock.shift(9)
    third = sessions.rotate(second.refresh_token)
    clock.shift(10)  # 19 s after the first rotation, 10 s after the second
    assert sessions.rotate(second.refresh_token).refresh == third.refresh
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert not alive(third)


def test_an_interval_of_zero_makes_every_reuse_theft(settings: Any, pair: Any) -> None:
    settings.JWTAUTH_REFRESH_REUSE_INTERVAL = 0
    new = sessions.rotate(pair.refresh_token)
    with pytest.raises(TokenReused):
        sessions.rotate(pair.refresh_token)
    assert not alive(new)


def test_a_retry_never_revives_a_successor_revoked_by_its_id(pair: Any) -> None:
    new = sessions.rotate(pair.refresh_token)
    revocation.revoke(new.refresh_token, reason="admin")
    with pytest.raises(TokenRevoked) as refused:
        sessions.rotate(pair.refresh_token)
    assert not isinstance(refused.value, TokenReused)


def test_a_retry_of_a_revoked_family_is_refused(pair: Any) -> None:
    sessions.rotate(pair.refresh_token)
    revocation.revoke_session(pair.refresh_token.sid)
    with pytest.raises(TokenRevoked) as refused:
        sessions.rotate(pair.refresh_token)
    assert not isinstance(refused.value, TokenReused)


def test_a_retry_does_not_outlive_the_sessions_lifetime(
    settings: Any, clock: Any, pair: Any
) -> None:
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = timedelta(days=1)
    clock.shift(24 * 3600 - 600)  # ten minutes of the session left
    new = sessions.rotate(pair.refresh_token)
    clock.shift(20)
    retry = sessions.rotate(pair.refresh_token)
    end = pair.refresh_token.iat + 24 * 3600
    assert retry.refresh_token.exp == new.refresh_token.exp == end
    assert retry.access_token.exp == end  # not the hour an access token usually gets
    assert alive(retry)


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "EdDSA", "ES256"])
def test_the_successor_is_re_derived_for_every_algorithm(
    settings: Any, private_keys: dict[str, str], user: Any, algorithm: str
) -> None:
    settings.JWTAUTH_ALGORITHM = algorithm
    if algorithm != "HS256":
        settings.JWTAUTH_PRIVATE_KEY = private_keys[algorithm]
    first = sessions.start(user)
    new = sessions.rotate(first.refresh_token)
    retry = sessions.rotate(first.refresh_token)
    assert decode(retry.refresh, REFRESH) == new.refresh_token
    signed, signature = retry.refresh.rsplit(".", 1)
    assert signed == new.refresh.rsplit(".", 1)[0]  # the same header and claims
    if algorithm == "ES256":
        # ECDSA signs with a random nonce: an equally valid signature of the same token.
        assert decode(new.refresh, REFRESH) == decode(retry.refresh, REFRESH)
    else:
        assert signature == new.refresh.rsplit(".", 1)[1]  # byte for byte


# DPoP: the key a session is bound to (RFC 9449 §5, §6) -------------------------------------


def proof_of(key: DPoPKey) -> Proof:
    """Return what a verified proof from ``key`` tells the sessions: its thumbprint."""
    return Proof(jkt=key.thumbprint, jti="proof", iat=0, alg=key.alg)


def test_a_session_started_with_a_proof_is_bound_to_its_key(user: Any, dpop_key: DPoPKey) -> None:
    pair = sessions.start(user, proof=proof_of(dpop_key))
    for token in (pair.access_token, pair.refresh_token):
        assert dpop.bound_jkt(token.claims) == dpop_key.thumbprint
    assert TokenSession.objects.get(sid=pair.access_token.sid).dpop_jkt == dpop_key.thumbprint


def test_a_rotation_keeps_the_binding(clock: Any, bound_pair: Any, dpop_key: DPoPKey) -> None:
    clock.shift(60)
    new = sessions.rotate(bound_pair.refresh_token, proof=proof_of(dpop_key))
    for token in (new.access_token, new.refresh_token):
        assert dpop.bound_jkt(token.claims) == dpop_key.thumbprint


@pytest.mark.parametrize("key", [None, "other"])
def test_a_rotation_without_the_bound_key_spends_nothing(
    bound_pair: Any, key: str | None, django_assert_num_queries: Any
) -> None:
    proof = proof_of(DPoPKey.generate()) if key else None
    with django_assert_num_queries(0), pytest.raises(InvalidDPoPProof):
        sessions.rotate(bound_pair.refresh_token, proof=proof)
    row = TokenSession.objects.get(sid=bound_pair.refresh_token.sid)
    assert (row.refresh_jti, row.revoked_at) == (bound_pair.refresh_token.jti, None)


def test_a_bearer_session_is_not_bound_later(pair: Any, dpop_key: DPoPKey) -> None:
    with pytest.raises(InvalidDPoPProof):
        sessions.rotate(pair.refresh_token, proof=proof_of(dpop_key))
    assert dpop.bound_jkt(sessions.rotate(pair.refresh_token).access_token.claims) is None


@pytest.mark.parametrize("algorithm", ["HS256", "ES256"])
def test_a_retry_is_answered_with_the_same_bound_successor(
    settings: Any, private_keys: dict[str, str], clock: Any, user: Any, algorithm: str
) -> None:
    settings.JWTAUTH_ALGORITHM = algorithm
    if algorithm != "HS256":
        settings.JWTAUTH_PRIVATE_KEY = private_keys[algorithm]
    key = DPoPKey.generate()
    first = sessions.start(user, proof=proof_of(key))
    new = sessions.rotate(first.refresh_token, proof=proof_of(key))
    clock.shift(5)
    retry = sessions.rotate(first.refresh_token, proof=proof_of(key))
    # Re-derived from the row, the successor keeps its cnf: the same token as the rotation's.
    assert decode(retry.refresh, REFRESH) == new.refresh_token
    assert dpop.bound_jkt(retry.access_token.claims) == key.thumbprint


def test_a_retry_without_the_key_is_refused_before_it_counts_as_reuse(
    clock: Any, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    sessions.rotate(bound_pair.refresh_token, proof=proof_of(dpop_key))
    clock.shift(5)
    with pytest.raises(InvalidDPoPProof):
        sessions.rotate(bound_pair.refresh_token, proof=proof_of(DPoPKey.generate()))
    assert TokenSession.objects.get(sid=bound_pair.refresh_token.sid).revoked_at is None


# The session policy: idle timeout, absolute lifetime, cap -------------------------------------


def test_tokens_carry_the_login_time_and_never_outlive_the_session(
    settings: Any, clock: Any, user: Any
) -> None:
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(hours=2)
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = timedelta(hours=3)
    pair = sessions.start(user)
    login = 1_800_000_000
    assert pair.access_token.claims["auth_time"] == pair.refresh_token.claims["auth_time"] == login
    assert pair.refresh_token.exp == login + 2 * 3600  # idle timeout, not the 7 days
    clock.shift(90 * 60)
    rotated = sessions.rotate(pair.refresh_token)
    assert rotated.refresh_token.claims["auth_time"] == login
    assert rotated.refresh_token.exp == login + 3 * 3600  # the absolute lifetime now
    clock.shift(90 * 60 - 1800)  # half an hour left
    last = sessions.rotate(rotated.refresh_token)
    assert last.access_token.exp == last.refresh_token.exp == login + 3 * 3600


def test_an_idle_session_dies_at_refresh(settings: Any, clock: Any, pair: Any) -> None:
    clock.shift(3600)
    new = sessions.rotate(pair.refresh_token)
    # The timeout is lowered after the token was issued: the refresh enforces the new one.
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(hours=1)
    clock.shift(3600)
    with pytest.raises(TokenExpired, match="unused for too long"):
        sessions.rotate(new.refresh_token)
    assert list(sessions.for_user(new.refresh_token.sub)) == []
    row = TokenSession.objects.with_state().get(sid=pair.refresh_token.sid)
    assert (row.state, row.revoked_at) == ("expired", None)


def test_a_session_dies_at_its_absolute_lifetime_whatever_its_rotations(
    settings: Any, clock: Any, pair: Any
) -> None:
    for _ in range(29):
        clock.shift(24 * 3600)
        pair = sessions.rotate(pair.refresh_token)
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = timedelta(days=29)
    with pytest.raises(TokenExpired, match="maximum lifetime"):
        sessions.rotate(pair.refresh_token)
    assert TokenSession.objects.with_state().get().state == "expired"


def test_no_idle_timeout_and_no_lifetime_leave_the_refresh_lifetime(
    settings: Any, clock: Any, user: Any
) -> None:
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = None
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = None
    pair = sessions.start(user)
    for _ in range(40):
        clock.shift(6 * 24 * 3600)
        pair = sessions.rotate(pair.refresh_token)
    assert pair.refresh_token.exp == pair.refresh_token.iat + 7 * 24 * 3600
    assert alive(pair)


def test_a_login_past_the_cap_revokes_the_least_recently_used_session(
    settings: Any, clock: Any, user: Any, other_user: Any
) -> None:
    settings.JWTAUTH_MAX_SESSIONS_PER_USER = 3
    oldest = sessions.start(user, user_agent="oldest, but refreshed")
    clock.shift(1)
    idle = sessions.start(user, user_agent="idle")
    clock.shift(1)
    third = sessions.start(user, user_agent="third")
    bobs = [sessions.start(other_user) for _ in range(3)]
    clock.shift(1)
    oldest = sessions.rotate(oldest.refresh_token)  # used most recently now
    clock.shift(1)
    fourth = sessions.start(user, user_agent="fourth")
    assert not alive(idle)
    assert all(alive(p) for p in (oldest, third, fourth, *bobs))
    row = TokenSession.objects.get(sid=idle.access_token.sid)
    assert row.revoke_reason == sessions.CAP_REASON
    assert [s.user_agent for s in sessions.for_user(user)] == [
        "fourth",
        "third",
        "oldest, but refreshed",
    ]


def test_dead_sessions_do_not_count_against_the_cap(settings: Any, user: Any) -> None:
    settings.JWTAUTH_MAX_SESSIONS_PER_USER = 2
    ended = sessions.start(user)
    sessions.end(ended.access_token)
    first, second = sessions.start(user), sessions.start(user)
    assert alive(first)
    assert alive(second)


def test_no_cap(settings: Any, user: Any) -> None:
    settings.JWTAUTH_MAX_SESSIONS_PER_USER = None
    pairs = [sessions.start(user) for _ in range(5)]
    assert sessions.enforce_cap(user) == 0
    assert all(alive(p) for p in pairs)


def test_a_refresh_token_without_auth_time_is_refused(user: Any, pair: Any) -> None:
    _raw, token = encode(REFRESH, sub=str(user.pk), sid=pair.refresh_token.sid, lifetime=60)
    with pytest.raises(TokenError, match="auth_time"):
        sessions.rotate(token)
    assert alive(pair)


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


def test_for_user_leaves_out_sessions_started_before_the_users_cutoff(
    clock: Any, user: Any
) -> None:
    sessions.start(user, user_agent="before")
    revocation.revoke_user(user.pk, reason="password changed")
    clock.shift(1)
    sessions.start(user, user_agent="after")
    assert [row.user_agent for row in sessions.for_user(user)] == ["after"]
    states = {r.user_agent: (r.state, r.cutoff_reason) for r in TokenSession.objects.with_state()}
    assert states == {
        "before": ("revoked", "password changed"),
        "after": ("live", "password changed"),
    }


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
def test_concurrent_refreshes_of_one_token_all_get_the_one_successor(user: Any) -> None:
    """Issue 14: 4 concurrent refreshes gave one 200, three 401s and a dead session."""
    for _ in range(5):
        pair = sessions.start(user)
        results = race(8, lambda pair=pair: sessions.rotate(pair.refresh_token))
        assert all(isinstance(r, TokenPair) for r in results), results
        assert {r.refresh for r in results} == {results[0].refresh}  # one successor, no fork
        assert len({r.access_token.jti for r in results}) == 8
        assert all(alive(r) for r in results)
        row = TokenSession.objects.get(sid=pair.refresh_token.sid)
        assert row.refresh_jti == results[0].refresh_token.jti
        assert row.previous_refresh_jti == pair.refresh_token.jti


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_no_interval_concurrent_refreshes_have_one_winner_and_kill_the_family(
    settings: Any, user: Any
) -> None:
    settings.JWTAUTH_REFRESH_REUSE_INTERVAL = 0
    for _ in range(5):
        pair = sessions.start(user)
        results = race(8, lambda pair=pair: sessions.rotate(pair.refresh_token))
        winners = [r for r in results if isinstance(r, TokenPair)]
        losers = [r for r in results if not isinstance(r, TokenPair)]
        assert len(winners) == 1, results
        assert all(isinstance(r, TokenRevoked) for r in losers), results
        assert any(isinstance(r, TokenReused) for r in losers), results
        assert not alive(winners[0]), "the losers' reuse revoked the family"
