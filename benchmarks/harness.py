"""What every scenario shares: the comparison site in this process, its tokens, timed rounds.

A scenario is a module of this package with ``NAME`` (its ``--only`` key) and ``run(bench)``,
listed in ``run.py``'s ``SCENARIOS``; see ``benchmarks/README.md``, "Adding a scenario".
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.report import Report

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "benchmarks.comparison.settings"
PASSWORD = "correct horse battery staple"


def say(message: str) -> None:
    """Print a progress line to stderr (the table goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Scenario(Protocol):
    """A module measuring one thing: ``run`` adds its tables and targets to ``bench.report``.

    A scenario that needs a program the machine may lack (wrk) also has ``missing(args)``,
    returning what is missing and how to install it, or ``None``: the runner asks before it
    starts anything.
    """

    NAME: str

    def run(self, bench: Bench) -> None:
        """Measure, and report into ``bench.report`` (tables, targets, raw data)."""


@dataclass
class Contender:
    """One thing timed per round: ``call`` does one request (or one operation).

    ``batch``, when given, prepares a round's calls before its timing starts (``batch(n)``
    returns ``n`` calls), for requests that each need something fresh a client makes in
    advance (a DPoP proof).
    """

    key: str
    label: str
    call: Callable[[], Any]
    context: Callable[[], Any] | None = None
    batch: Callable[[int], list[Callable[[], Any]]] | None = None
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def calls(self, n: int) -> list[Callable[[], Any]]:
        """Return ``n`` calls to make, prepared before any is timed."""
        return self.batch(n) if self.batch is not None else [self.call] * n


class Transactions:
    """Number the transactions statements run in, from inside an execute wrapper.

    A statement outside ``atomic()`` is a transaction of its own. Inside, it belongs to the
    transaction opened by the block's first statement, until that transaction commits (an
    ``on_commit`` callback closes it). ``id()`` of the block would not do: Python reuses an id
    once its object is freed, and a function decorated with ``atomic`` reuses one object for
    every call. A transaction rolled back runs no callback, so the next one would be counted
    with it (no benchmarked path rolls back).
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.count = 0
        self._open: int | None = None

    def current(self) -> int:
        """Return the number of the transaction the statement about to run belongs to."""
        from django.db import transaction

        if not self.connection.in_atomic_block:
            self._open = None
            self.count += 1
            return self.count
        if self._open is None:
            self.count += 1
            number = self._open = self.count
            transaction.on_commit(lambda: self._close(number), using=self.connection.alias)
        return self._open

    def _close(self, number: int) -> None:
        if self._open == number:
            self._open = None


class Bench:
    """Set up the comparison site and hold what every scenario uses."""

    def __init__(self, args: argparse.Namespace, redis_url: str, database_url: str) -> None:
        self.args = args
        self.redis_url = redis_url
        self.database_url = database_url
        self.prefix = f"jwtauth-bench-{os.getpid()}"
        self.report = Report()
        self.private_redis = args.redis_url is None

    # ----------------------------------------------------------------- set-up

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment of this process and of the servers it starts."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "BENCH_DATABASE_URL": self.database_url,
            "BENCH_REDIS_URL": self.redis_url,
            "BENCH_KEY_PREFIX": self.prefix,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **extra,
        }

    def setup_django(self) -> None:
        """Configure Django for the comparison site, migrate, and create the benchmark user."""
        os.environ.update(self.env())
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        self.user = get_user_model()._default_manager.create_user(
            "bench", "bench@example.test", PASSWORD
        )

    def clients(self) -> None:
        """Build one test client per middleware stack, in this one process."""
        from django.test import Client, override_settings

        from benchmarks.comparison.settings import STACKS

        self.client = {}
        for stack, middleware in STACKS.items():
            client = Client()
            with override_settings(MIDDLEWARE=middleware):
                client.handler.load_middleware()
            self.client[stack] = client

    def tokens(self) -> None:
        """Log in once with each library and keep the access tokens every request presents."""
        from rest_framework_simplejwt.tokens import RefreshToken

        from jwtauth import sessions

        self.jw_pair = sessions.start(self.user, user_agent="bench")
        self.jw_access = self.jw_pair.access
        self.sj_refresh = RefreshToken.for_user(self.user)
        self.sj_access = str(self.sj_refresh.access_token)

    # ----------------------------------------------------------------- helpers

    def get(self, stack: str, path: str, token: str | None) -> Callable[[], Any]:
        """Return a callable doing one GET of ``path`` that must answer 200."""
        client = self.client[stack]
        headers = {"headers": {"Authorization": f"Bearer {token}"}} if token else {}

        def call() -> Any:
            response = client.get(path, **headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
            return response

        return call

    def redis(self) -> Any:
        """Return a plain redis-py client of the benchmark's Redis."""
        import redis

        if not hasattr(self, "_redis"):
            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def commandstats(self) -> dict[str, int]:
        """Return the server's per-command call counters."""
        stats = self.redis().info("commandstats")
        return {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name != "cmdstat_info"
        }

    @contextmanager
    def count(self) -> Iterator[dict[str, Any]]:
        """Count SQL statements (and transactions) and Redis commands inside the block."""
        from django.db import connection

        result: dict[str, Any] = {"statements": [], "redis": {}}
        transactions = Transactions(connection)

        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            result["statements"].append((sql, transactions.current()))
            return execute(sql, params, many, context)

        before = self.commandstats()
        with connection.execute_wrapper(wrapper):
            yield result
        after = self.commandstats()
        result["redis"] = {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] != before.get(name, 0)
        }

    @staticmethod
    def transactions(statements: list[tuple[str, int]]) -> int:
        """Return how many transactions ``statements`` ran in (autocommit: one each)."""
        return len({number for _, number in statements})

    def rounds(self, contenders: list[Contender], rounds: int, per_round: int) -> None:
        """Time every contender ``rounds`` times, round-robin in a shuffled order."""
        rng = random.Random(6)
        for contender in contenders:  # warm every path (connections, caches, imports)
            with self.context(contender):
                for call in contender.calls(20):
                    call()
        for index in range(rounds):
            order = list(contenders)
            rng.shuffle(order)
            for contender in order:
                calls = contender.calls(5 + per_round)
                with self.context(contender):
                    for call in calls[:5]:
                        call()
                    timed = calls[5:]
                    gc.collect()
                    cpu = time.thread_time_ns()
                    start = time.perf_counter_ns()
                    for call in timed:
                        call()
                    elapsed = time.perf_counter_ns() - start
                    cpu = time.thread_time_ns() - cpu
                contender.samples.append(elapsed / per_round / 1000)
                contender.cpu.append(cpu / per_round / 1000)
            if (index + 1) % 5 == 0:
                say(f"  round {index + 1}/{rounds}")

    @staticmethod
    @contextmanager
    def context(contender: Contender) -> Iterator[None]:
        """Enter the contender's settings (if any) for its batch."""
        if contender.context is None:
            yield
            return
        with contender.context():
            yield

    def rounds_quiet(self, contenders: list[Contender], rounds: int, per_round: int) -> None:
        """Like :meth:`rounds` but with no warm-up beyond one call (slow, stateful calls)."""
        rng = random.Random(7)
        for _ in range(rounds):
            order = list(contenders)
            rng.shuffle(order)
            for contender in order:
                gc.collect()
                start = time.perf_counter_ns()
                for _ in range(per_round):
                    contender.call()
                contender.samples.append((time.perf_counter_ns() - start) / per_round / 1000)

    def cleanup(self) -> None:
        """Delete this run's keys from a shared Redis (a private one just stops)."""
        if self.private_redis:
            return
        client = self.redis()
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
