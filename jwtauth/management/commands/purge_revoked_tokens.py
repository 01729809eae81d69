"""Delete revoked-token, session and cutoff rows that can no longer matter (run it from cron)."""

from __future__ import annotations

import argparse
import re
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.utils.dateparse import parse_duration

from ... import purge
from ...dberrors import is_missing_schema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORT_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
# Longer graces than this keep everything anyway, and far longer ones reach before year 1.
MAX_GRACE = timedelta(days=3650)
# One DELETE holds its row locks until it commits: keep every batch short.
MAX_BATCH_SIZE = 1_000_000


def _parse_duration(value: str) -> timedelta | None:
    short = _SHORT_DURATION.fullmatch(value.strip())
    if short:
        amount, unit = short.groups()
        return timedelta(seconds=float(amount) * _UNITS[unit.lower() or "s"])
    return parse_duration(value.strip())


def duration(value: str) -> timedelta:
    """Parse ``3600``, ``90s``, ``15m``, ``1h``, ``2d``, ``1w``, ``1 02:00:00`` or ``P1DT2H``."""
    try:
        parsed = _parse_duration(value)
    except OverflowError:
        # timedelta holds at most 999999999 days, and float("9" * 400) is infinite.
        parsed = timedelta.max
    if parsed is None or parsed < timedelta(0):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration (try 3600, 90m, 12h, 2d or P1DT2H)"
        )
    if parsed > MAX_GRACE:
        raise argparse.ArgumentTypeError(
            f"{value!r} is longer than the longest grace period, {MAX_GRACE.days} days"
        )
    return parsed


def positive_int(value: str) -> int:
    """Parse a whole number from 1 to ``MAX_BATCH_SIZE``."""
    try:
        number = int(value)
    except ValueError:  # not a number, or more digits than int() accepts
        number = 0
    if not 1 <= number <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a whole number from 1 to {MAX_BATCH_SIZE}"
        )
    return number


def seconds(value: str) -> float:
    """Parse a non-negative number of seconds."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < 3600:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds in [0, 3600)")
    return number


class Command(BaseCommand):
    """Purge expired revocation rows in short primary-key batches; see docs/purge.md."""

    help = (
        "Delete revoked tokens and sessions past their expiry and user cutoffs older than the "
        "refresh-token lifetime, in short batches. Never touches a row that still matters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the batch, pacing, grace and dry-run options."""
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=purge.DEFAULT_BATCH_SIZE,
            help=f"Rows per DELETE statement (default {purge.DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--sleep",
            type=seconds,
            default=0.0,
            help="Seconds to pause between batches, to spare replicas (default 0).",
        )
        parser.add_argument(
            "--older-than",
            type=duration,
            default=timedelta(0),
            help="Grace period: keep rows dead for less than this (3600, 90m, 12h, 2d, P1D).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the rows that would be deleted; delete nothing.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias to purge (default 'default').",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Purge (or count) each table and print one summary line."""
        self.verbosity = int(options["verbosity"])
        self.batches = 0
        self.deleted: dict[str, int] = {}
        dry_run = bool(options["dry_run"])
        started = time.perf_counter()
        counts: dict[str, int] = {}
        using = options["database"]
        if using not in settings.DATABASES:
            raise CommandError(
                f"--database {using!r} is not a database alias; DATABASES has "
                f"{', '.join(map(repr, settings.DATABASES))}."
            )
        try:
            targets = purge.targets(grace=options["older_than"], using=using)
        except OverflowError as e:
            # Lifetimes set to centuries, with the grace, reach before year 1.
            raise CommandError(
                "--older-than with JWTAUTH_ACCESS_TOKEN_LIFETIME and "
                "JWTAUTH_REFRESH_TOKEN_LIFETIME reaches before year 1; shorten them."
            ) from e
        try:
            for target in targets:
                if dry_run:
                    counts[target.label] = purge.count(target)
                    continue
                self.deleted[target.label] = 0
                counts[target.label] = purge.purge(
                    target,
                    batch_size=options["batch_size"],
                    sleep=options["sleep"],
                    on_batch=self._on_batch,
                )
        except DatabaseError as e:
            raise CommandError(self._failure(e)) from e
        elapsed = time.perf_counter() - started
        if self.verbosity < 1:
            return
        if dry_run:
            self.stdout.write(
                f"Dry run: would delete {_totals(counts)}; nothing was deleted ({elapsed:.2f} s)."
            )
        else:
            self.stdout.write(
                f"Deleted {_totals(counts)} in {self.batches} batches ({elapsed:.2f} s)."
            )

    def _on_batch(self, batch: purge.Batch) -> None:
        self.batches += 1
        self.deleted[batch.label] += batch.deleted
        if self.verbosity >= 2:
            lower = "start" if batch.lower is None else batch.lower
            self.stdout.write(
                f"{batch.label}: batch {batch.number} deleted {batch.deleted} rows "
                f"(pk {lower} < pk <= {batch.upper}) in {batch.seconds:.3f} s"
            )

    def _failure(self, error: DatabaseError) -> str:
        text = str(error).strip()
        reason = (
            f"{error.__class__.__name__}: {text.splitlines()[0]}"
            if text
            else (error.__class__.__name__)
        )
        if is_missing_schema(error):
            return (
                f"purge_revoked_tokens failed: the database is not migrated ({reason}). "
                "Run 'python manage.py migrate' first."
            )
        done = f" after deleting {_totals(self.deleted)}" if any(self.deleted.values()) else ""
        return (
            f"purge_revoked_tokens failed{done}: database error ({reason}). Every finished "
            "batch is committed; running the command again is safe."
        )


def _totals(counts: dict[str, int]) -> str:
    return ", ".join(f"{number} {label}" for label, number in counts.items())
