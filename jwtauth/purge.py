"""Delete the rows that can no longer matter, in short batches by primary-key range.

A revoked token's row matters until the token would have expired anyway (plus the verifier's
leeway, RFC 7519 §4.1.4: a token is still accepted until ``exp + leeway``); a session row until
its refresh token expires; a user's cutoff until every token issued before it has expired.
Anything older is deleted here, never anything younger.

Each batch is one ``DELETE … WHERE pk > lo AND pk <= hi AND <expired>`` in its own short
transaction, so no statement holds row locks for long and a large backlog cannot bloat one
transaction (the peers purge with one unbatched ``DELETE`` that loads every row into Python).
The batch bounds come from one scalar ``SELECT pk … ORDER BY pk OFFSET n LIMIT 1``: rows are never
loaded into Python, so memory stays flat whatever the table size. The expiry condition is
repeated in the ``DELETE`` itself, so a row made live again meanwhile (a rotated session, a
moved cutoff) is re-checked by the database and kept, and two purges running at once simply
split the work: a row is deleted, and counted, by exactly one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, OperationalError
from django.db.models import Model, QuerySet

from .clock import now
from .conf import conf
from .models import DeletedUser, RevokedToken, TokenSession, UserCutoff

DEFAULT_BATCH_SIZE = 5000
# SQLSTATEs worth retrying: deadlock_detected and serialization_failure. Two purges locking the
# same rows in different orders (different plans) can deadlock; the loser simply retries.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRIES = 3
RETRY_PAUSE = 0.1  # seconds, growing with each attempt


@dataclass(frozen=True, slots=True)
class Target:
    """One table to purge: a label for humans and the queryset of its dead rows."""

    label: str
    queryset: QuerySet[Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one batch did: the table, the rows it deleted and how long its DELETE took."""

    label: str
    number: int
    deleted: int
    seconds: float
    lower: Any
    upper: Any


def cutoffs(moment: datetime | None = None, grace: timedelta = timedelta(0)) -> dict[str, datetime]:
    """Return, per table, the instant before which a row is dead for good."""
    moment = now() if moment is None else moment
    leeway = timedelta(seconds=int(conf.LEEWAY))
    access = timedelta(seconds=conf.access_lifetime)
    refresh = timedelta(seconds=conf.refresh_lifetime)
    dead_before = moment - leeway - grace
    return {
        "revoked tokens": dead_before,
        # The newest access token of a session was issued with its newest refresh token; it
        # outlives the session only if access tokens are configured to live longer.
        "sessions": dead_before - max(timedelta(0), access - refresh),
        # A cutoff kills tokens issued before it; the last of them dies one lifetime later.
        "user cutoffs": dead_before - max(access, refresh),
        "deleted users": dead_before - max(access, refresh),
    }


def targets(
    moment: datetime | None = None,
    grace: timedelta = timedelta(0),
    using: str = DEFAULT_DB_ALIAS,
) -> list[Target]:
    """Return the purge targets, with rows dead since before ``moment - grace``."""
    before = cutoffs(moment, grace)

    def dead(model: type[Model], **lookup: datetime) -> QuerySet[Any]:
        return model._default_manager.using(using).filter(**lookup).order_by()

    return [
        Target("revoked tokens", dead(RevokedToken, expires_at__lt=before["revoked tokens"])),
        Target("sessions", dead(TokenSession, expires_at__lt=before["sessions"])),
        Target("user cutoffs", dead(UserCutoff, cutoff__lt=before["user cutoffs"])),
        Target("deleted users", dead(DeletedUser, deleted_at__lt=before["deleted users"])),
    ]


def count(target: Target) -> int:
    """Return how many rows of ``target`` a purge would delete now."""
    return target.queryset.count()


def _first_pk(queryset: QuerySet[Any], offset: int, descending: bool = False) -> Any:
    ordered = queryset.order_by("-pk" if descending else "pk").values_list("pk", flat=True)
    return next(iter(ordered[offset : offset + 1]), None)


def _ranges(queryset: QuerySet[Any], batch_size: int) -> Iterator[tuple[Any, Any]]:
    # (lower, upper]: each range holds at most batch_size dead rows when it is computed.
    lower = None
    while True:
        window = queryset if lower is None else queryset.filter(pk__gt=lower)
        upper = _first_pk(window, batch_size - 1)
        if upper is None:
            # Fewer than batch_size rows left: bound the last range by the highest of them, so
            # no trailing empty DELETE runs and rows inserted meanwhile wait for the next run.
            upper = _first_pk(window, 0, descending=True)
            if upper is not None:
                yield lower, upper
            return
        yield lower, upper
        lower = upper


def _sqlstate(error: BaseException) -> str | None:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def _delete(queryset: QuerySet[Any], lower: Any, upper: Any) -> int:
    batch = queryset.filter(pk__lte=upper)
    if lower is not None:
        batch = batch.filter(pk__gt=lower)
    for attempt in range(RETRIES):
        try:
            # Nothing references these tables and nothing listens for their deletions, so
            # Django deletes them with one DELETE statement, fetching no rows.
            deleted, _ = batch.delete()
            return int(deleted)
        except OperationalError as e:
            if _sqlstate(e) not in RETRYABLE_SQLSTATES or attempt == RETRIES - 1:
                raise
            # Let the winner finish first: retrying at once can grab the same rows before it
            # does and lose the same deadlock again.
            time.sleep(RETRY_PAUSE * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def purge(
    target: Target,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sleep: float = 0.0,
    on_batch: Callable[[Batch], None] | None = None,
) -> int:
    """Delete ``target``'s dead rows in batches of at most ``batch_size``; return the count."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total = 0
    ranges = _ranges(target.queryset, batch_size)
    number = 0
    while True:
        # A batch's time covers finding its range and deleting it, not the pause between.
        started = time.perf_counter()
        bounds = next(ranges, None)
        if bounds is None:
            return total
        seconds = time.perf_counter() - started
        if number and sleep > 0:
            # Operator-chosen pause that lets replicas and other writers catch up.
            time.sleep(sleep)
        number += 1
        started = time.perf_counter()
        deleted = _delete(target.queryset, *bounds)
        seconds += time.perf_counter() - started
        total += deleted
        if on_batch is not None:
            on_batch(Batch(target.label, number, deleted, seconds, *bounds))
