"""Tests of jwtauth.purge: which rows are dead, batching by primary key, one DELETE per batch."""

from __future__ import annotations

import itertools
import math
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jwtauth import purge
from jwtauth.clock import now
from jwtauth.models import RevokedToken, TokenSession, UserCutoff

HOUR = timedelta(hours=1)
_serial = itertools.count()


def revoked_rows(expiries: list[timedelta]) -> list[RevokedToken]:
    """Insert one revoked token per offset from now, in order, and return them."""
    moment = now()
    return RevokedToken.objects.bulk_create(
        RevokedToken(
            jti=f"jti-{i:06d}",
            token_type="access",
            expires_at=moment + offset,
            revoked_at=moment - 2 * HOUR,
        )
        for i, offset in enumerate(expiries)
    )


def mixed(n: int) -> tuple[set[str], set[str]]:
    """Insert ``n`` revoked tokens, two expired for every live one, interleaved by pk."""
    offsets = [HOUR if i % 3 == 0 else -HOUR for i in range(n)]
    rows = revoked_rows(offsets)
    live = {r.jti for r, o in zip(rows, offsets, strict=True) if o > timedelta(0)}
    dead = {r.jti for r in rows} - live
    return dead, live


def sessions(user: Any, expiries: list[timedelta], **extra: Any) -> list[TokenSession]:
    """Insert one session of ``user`` per offset from now."""
    moment = now()
    return TokenSession.objects.bulk_create(
        TokenSession(
            sid=f"sid-{next(_serial):06d}",
            user=user,
            created_at=moment - 8 * 24 * HOUR,
            expires_at=moment + offset,
            refresh_jti=f"r-{i}",
            **extra,
        )
        for i, offset in enumerate(expiries)
    )


def deletes(queries: CaptureQueriesContext) -> list[str]:
    """Return the DELETE statements among captured queries."""
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]


def target(label: str, **kwargs: Any) -> purge.Target:
    """Return the purge target called ``label``."""
    return next(t for t in purge.targets(**kwargs) if t.label == label)


def test_cutoffs_respect_leeway_grace_and_lifetimes(clock: Any, settings: Any) -> None:
    settings.JWTAUTH_LEEWAY = 30
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=7)
    moment = now()

    before = purge.cutoffs(grace=timedelta(minutes=5))

    dead_before = moment - timedelta(seconds=30) - timedelta(minutes=5)
    assert before == {
        "revoked tokens": dead_before,
        "sessions": dead_before,
        "user cutoffs": dead_before - timedelta(days=7),
        "deleted users": dead_before - timedelta(days=7),
    }


def test_sessions_wait_for_access_tokens_that_outlive_refresh_tokens(
    clock: Any, settings: Any
) -> None:
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(days=2)
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=1)

    before = purge.cutoffs()

    assert before["sessions"] == now() - timedelta(days=1)
    assert before["user cutoffs"] == now() - timedelta(days=2)


@pytest.mark.django_db
def test_purge_deletes_exactly_the_expired_revoked_tokens(clock: Any) -> None:
    dead, live = mixed(60)

    deleted = purge.purge(target("revoked tokens"), batch_size=7)

    assert deleted == len(dead) == 40
    assert set(RevokedToken.objects.values_list("jti", flat=True)) == live


@pytest.mark.django_db
def test_a_token_still_inside_the_leeway_is_kept(clock: Any, settings: Any) -> None:
    settings.JWTAUTH_LEEWAY = 60
    revoked_rows([-timedelta(seconds=90), -timedelta(seconds=30), timedelta(0)])

    deleted = purge.purge(target("revoked tokens"))

    assert deleted == 1
    assert sorted(RevokedToken.objects.values_list("jti", flat=True)) == [
        "jti-000001",
        "jti-000002",
    ]


@pytest.mark.django_db
def test_grace_period_keeps_recently_expired_rows(clock: Any) -> None:
    revoked_rows([-3 * HOUR, -HOUR / 2, -timedelta(seconds=1)])

    deleted = purge.purge(target("revoked tokens", grace=HOUR))

    assert deleted == 1
    assert RevokedToken.objects.count() == 2


@pytest.mark.django_db
def test_expiry_boundary_is_exclusive(clock: Any) -> None:
    revoked_rows([-timedelta(microseconds=1), timedelta(0), timedelta(microseconds=1)])

    assert purge.purge(target("revoked tokens")) == 1
    assert sorted(RevokedToken.objects.values_list("jti", flat=True)) == [
        "jti-000001",
        "jti-000002",
    ]


@pytest.mark.django_db
def test_sessions_are_purged_after_expiry_whether_revoked_or_not(clock: Any, user: Any) -> None:
    expired = sessions(user, [-HOUR, -2 * HOUR])
    sessions(user, [-HOUR], revoked_at=now() - 3 * HOUR)
    live = sessions(user, [HOUR, 24 * HOUR])
    revoked_live = sessions(user, [HOUR], revoked_at=now())

    deleted = purge.purge(target("sessions"), batch_size=2)

    assert deleted == len(expired) + 1
    assert set(TokenSession.objects.values_list("sid", flat=True)) == {
        s.sid for s in live + revoked_live
    }


@pytest.mark.django_db
def test_user_cutoffs_are_kept_for_one_refresh_lifetime(
    clock: Any, settings: Any, user: Any, other_user: Any, django_user_model: Any
) -> None:
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=7)
    third = django_user_model.objects.create_user("carol")
    moment = now()
    UserCutoff.objects.create(user=user, cutoff=moment - timedelta(days=7, seconds=1))
    UserCutoff.objects.create(user=other_user, cutoff=moment - timedelta(days=7))
    UserCutoff.objects.create(user=third, cutoff=moment - HOUR)

    deleted = purge.purge(target("user cutoffs"))

    assert deleted == 1
    assert set(UserCutoff.objects.values_list("user_id", flat=True)) == {other_user.pk, third.pk}


@pytest.mark.django_db
@pytest.mark.parametrize(("rows", "batch_size"), [(60, 7), (60, 8), (60, 40), (60, 1000)])
def test_one_delete_statement_per_batch_and_no_batch_over_size(
    clock: Any, rows: int, batch_size: int
) -> None:
    dead, _ = mixed(rows)
    batches: list[purge.Batch] = []

    with CaptureQueriesContext(connection) as queries:
        purge.purge(target("revoked tokens"), batch_size=batch_size, on_batch=batches.append)

    expected = math.ceil(len(dead) / batch_size)
    assert len(deletes(queries)) == len(batches) == expected
    assert all(0 < b.deleted <= batch_size for b in batches)
    assert sum(b.deleted for b in batches) == len(dead)
    assert [b.number for b in batches] == list(range(1, expected + 1))
    # Ranges are contiguous and ascending: (None, u1], (u1, u2], ...
    assert [b.lower for b in batches[1:]] == [b.upper for b in batches[:-1]]
    assert batches[0].lower is None


@pytest.mark.django_db
def test_no_rows_are_loaded_into_python(clock: Any) -> None:
    mixed(30)

    with CaptureQueriesContext(connection) as queries:
        purge.purge(target("revoked tokens"), batch_size=4)

    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert selects
    # Every read is one primary key value: a batch bound.
    assert all(s.startswith('SELECT "jwtauth_revokedtoken"."id" AS "pk" FROM') for s in selects)
    assert all("LIMIT 1" in s for s in selects)


@pytest.mark.django_db
def test_each_delete_is_bounded_by_primary_key_and_expiry(clock: Any) -> None:
    mixed(20)

    with CaptureQueriesContext(connection) as queries:
        purge.purge(target("revoked tokens"), batch_size=5)

    statements = deletes(queries)
    assert statements
    for sql in statements:
        assert '"expires_at" <' in sql
        assert '"id" <=' in sql
    assert all('"id" >' in sql for sql in statements[1:])


@pytest.mark.django_db
def test_nothing_to_purge_runs_no_delete(clock: Any) -> None:
    revoked_rows([HOUR, 2 * HOUR])

    with CaptureQueriesContext(connection) as queries:
        assert purge.purge(target("revoked tokens")) == 0

    assert deletes(queries) == []
    assert RevokedToken.objects.count() == 2


@pytest.mark.django_db
def test_count_matches_what_purge_deletes(clock: Any) -> None:
    dead, _ = mixed(25)
    revoked = target("revoked tokens")

    assert purge.count(revoked) == len(dead)
    assert purge.purge(revoked) == len(dead)
    assert purge.count(revoked) == 0


@pytest.mark.django_db
def test_a_row_made_live_after_the_range_was_chosen_is_kept(clock: Any, user: Any) -> None:
    # A session rotated between the range lookup and the DELETE must survive: the DELETE
    # repeats the expiry condition instead of trusting the earlier read.
    rows = sessions(user, [-HOUR, -HOUR, -HOUR])
    revived = rows[1]
    sessions_target = target("sessions")
    ranges = purge._ranges(sessions_target.queryset, 10)
    lower, upper = next(ranges)
    TokenSession.objects.filter(pk=revived.pk).update(expires_at=now() + HOUR)
    deleted = purge._delete(sessions_target.queryset, lower, upper)

    assert deleted == 2
    assert list(TokenSession.objects.values_list("pk", flat=True)) == [revived.pk]


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        purge.purge(purge.Target("x", RevokedToken.objects.none()), batch_size=0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_loses_a_deadlock_is_retried(clock: Any) -> None:
    # A real deadlock: another transaction holds row 5 and then asks for row 2, which the
    # purge's DELETE has already taken while it waits for row 5. The purge checks for
    # deadlocks first (shorter deadlock_timeout), so it is the one PostgreSQL aborts.
    rows = revoked_rows([-HOUR] * 10)
    second, fifth = rows[1].pk, rows[4].pk
    holding, waiting = threading.Event(), threading.Event()
    done = threading.Event()
    results: dict[str, Any] = {}

    def other() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '30s'")
                cursor.execute(_LOCK_ROW, [fifth])
                holding.set()
                assert waiting.wait(30)
                cursor.execute(_LOCK_ROW, [second])
            results["other"] = "committed"
        except BaseException as e:
            results["other"] = e
        finally:
            connection.close()

    def purger() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '300ms'")
                cursor.execute("SELECT pg_backend_pid()")
                results["pid"] = cursor.fetchone()[0]
            assert holding.wait(30)
            with CaptureQueriesContext(connection) as queries:
                results["purged"] = purge.purge(target("revoked tokens"), batch_size=100)
            results["deletes"] = len(deletes(queries))
        except BaseException as e:
            results["purged"] = e
        finally:
            connection.close()
            done.set()

    threads = [threading.Thread(target=other), threading.Thread(target=purger)]
    for t in threads:
        t.start()
    # Wait (for the database, not for app time) until the DELETE is blocked on row 5.
    while not done.is_set() and not _waits_for_a_lock(results.get("pid")):
        time.sleep(0.005)
    waiting.set()
    for t in threads:
        t.join(60)

    del results["pid"]
    # One batch, two DELETEs: the one PostgreSQL aborted as the deadlock victim, then the retry.
    assert results == {"other": "committed", "purged": 10, "deletes": 2}
    assert not RevokedToken.objects.exists()


_LOCK_ROW = 'SELECT 1 FROM "jwtauth_revokedtoken" WHERE "id" = %s FOR UPDATE'


def _waits_for_a_lock(pid: int | None) -> bool:
    if pid is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock' "
            "AND query LIKE 'DELETE FROM %%'",
            [pid],
        )
        return bool(cursor.fetchone()[0])
