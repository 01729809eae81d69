#!/usr/bin/env python
"""Measure what a DPoP request's authentication costs beside a bearer request's, in one run.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python benchmarks/dpop.py [--rounds 30] [--requests 200] [--quick]
                                        [--database-url URL] [--redis-url URL] [--json PATH]

The method is the per-request one of ``benchmarks/run.py``: the comparison site
(``benchmarks.comparison``) in this process, Django's test client through the full middleware
stack, every contender timed in each round in a shuffled order, and overheads taken as
differences within a round (contender minus the bare view) before the median over rounds:

- ``bare``: ``/bare/`` on Django's stack without jwtauth (the baseline);
- ``bearer``: ``/jwtauth/auth-only/`` on the stack with jwtauth's middleware, ``Authorization:
  Bearer`` with an HS256 access token;
- ``dpop``: the same view with ``Authorization: DPoP`` and a fresh ES256 proof per request
  (made before the timing, as a client makes it: one key, a new ``jti`` each), the token bound
  to the proof's key; the proof's ``jti`` is recorded against replay by a ``SET NX`` sent in the
  revocation lookup's own round trip;
- ``dpop, nonces``: the same with ``JWTAUTH_DPOP_NONCE`` on, the proof carrying the nonce;
- ``SET NX``: the replay record on its own round trip through Django's cache API, to show what
  pipelining it into the lookup saves.

The target (issue 15): a DPoP request's authentication overhead at most twice a bearer
request's. The database is a scratch one of its own (``jwtauth_bench_dpop``, dropped after);
Redis is a private ``redis-server`` on a free port unless ``--redis-url`` names one (keys under a
run prefix, deleted after).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATABASE = "jwtauth_bench_dpop"
VIEW = "/jwtauth/auth-only/"
TARGET = 2.0
WARM = 5  # requests after entering a contender's settings, before its timing


@dataclass
class Contender:
    """One thing timed each round: ``batch()`` returns the calls of one timed batch."""

    key: str
    label: str
    batch: Callable[[int], list[Callable[[], Any]]]
    context: Callable[[], Any] = nullcontext
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@contextmanager
def services(args: argparse.Namespace) -> Iterator[None]:
    """Create the scratch database and (unless given one) a private Redis; clean both up."""
    from loadtest.stack import Database, RedisServer

    database = Database(args.database_url, DATABASE)
    database.create()
    prefix = f"jwtauth-bench-dpop-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="jwtauth-bench-dpop-") as workdir:
        redis_server = None if args.redis_url else RedisServer(Path(workdir))
        if redis_server is not None:
            redis_server.start()
        os.environ.update(
            DJANGO_SETTINGS_MODULE="benchmarks.comparison.settings",
            BENCH_DATABASE_URL=database.url,
            BENCH_REDIS_URL=args.redis_url or redis_server.url,  # type: ignore[union-attr]
            BENCH_KEY_PREFIX=prefix,
        )
        try:
            yield
        finally:
            from django.core.cache import cache
            from django.db import connections

            if args.redis_url:
                cache.delete_pattern("*")  # type: ignore[attr-defined]  # this run's prefix only
            connections.close_all()
            if redis_server is not None:
                redis_server.stop()
            database.drop()


def setup() -> dict[str, Any]:
    """Migrate, create the user, build both middleware stacks, log in both ways."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client, override_settings

    from benchmarks.comparison.settings import STACKS
    from jwtauth import dpop, sessions
    from jwtauth.dpop.client import DPoPKey

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model()._default_manager.create_user("bench", "bench@example.test", "x")
    clients = {}
    for stack, middleware in STACKS.items():
        client = Client()
        with override_settings(MIDDLEWARE=middleware):
            client.handler.load_middleware()
        clients[stack] = client
    key = DPoPKey.generate()
    bound = dpop.Proof(jkt=key.thumbprint, jti="login", iat=0, alg=key.alg)
    return {
        "clients": clients,
        "key": key,
        "bearer": sessions.start(user, user_agent="bench").access,
        "bound": sessions.start(user, user_agent="bench", proof=bound).access,
    }


def contenders(state: dict[str, Any]) -> list[Contender]:
    """Return the contenders; each batch is built before its timing starts."""
    from django.core.cache import cache
    from django.test import override_settings

    from jwtauth import dpop

    plain, jwtauth = state["clients"]["plain"], state["clients"]["jwtauth"]
    key, bound = state["key"], state["bound"]
    url = f"http://testserver{VIEW}"

    def get(client: Any, path: str, headers: dict[str, str]) -> Callable[[], Any]:
        def call() -> None:
            status = client.get(path, headers=headers).status_code
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")

        return call

    def bare(n: int) -> list[Callable[[], Any]]:
        return [get(plain, "/bare/", {}) for _ in range(n)]

    def bearer(n: int) -> list[Callable[[], Any]]:
        headers = {"Authorization": f"Bearer {state['bearer']}"}
        return [get(jwtauth, VIEW, headers) for _ in range(n)]

    def proofs(n: int, nonce: str | None = None) -> list[Callable[[], Any]]:
        return [
            get(
                jwtauth,
                VIEW,
                {
                    "Authorization": f"DPoP {bound}",
                    "DPoP": key.proof("GET", url, access_token=bound, nonce=nonce),
                },
            )
            for _ in range(n)
        ]

    def with_nonces(n: int) -> list[Callable[[], Any]]:
        return proofs(n, dpop.current_nonce())

    counter = iter(range(1 << 62))

    def set_nx(n: int) -> list[Callable[[], Any]]:
        keys = [f"jwtauth:dpop:bench-{next(counter)}" for _ in range(n)]
        return [lambda k=k: cache.add(k, 1, timeout=120) for k in keys]

    return [
        Contender("bare", "bare Django view (no auth)", bare),
        Contender("bearer", "jwtauth, Authorization: Bearer", bearer),
        Contender("dpop", "jwtauth, Authorization: DPoP + ES256 proof", proofs),
        Contender(
            "dpop_nonce",
            "jwtauth, DPoP with server nonces",
            with_nonces,
            lambda: override_settings(JWTAUTH_DPOP_NONCE=True),
        ),
        Contender("set_nx", "a replay SET NX on its own round trip (cache.add)", set_nx),
    ]


def run(all_contenders: list[Contender], rounds: int, per_round: int) -> None:
    """Time every contender ``rounds`` times, in a shuffled order each round."""
    rng = random.Random(15)
    for contender in all_contenders:  # warm every path: connections, caches, parsed keys
        with contender.context():
            for call in contender.batch(20):
                call()
    for index in range(rounds):
        order = list(all_contenders)
        rng.shuffle(order)
        for contender in order:
            calls = contender.batch(WARM + per_round)
            with contender.context():
                # A settings change drops what jwtauth derived from settings: rebuild it first.
                for call in calls[:WARM]:
                    call()
                calls = calls[WARM:]
                gc.collect()
                cpu = time.thread_time_ns()
                start = time.perf_counter_ns()
                for call in calls:
                    call()
                elapsed = time.perf_counter_ns() - start
                cpu = time.thread_time_ns() - cpu
            contender.wall.append(elapsed / per_round / 1000)
            contender.cpu.append(cpu / per_round / 1000)
        if (index + 1) % 10 == 0:
            print(f"[dpop bench] round {index + 1}/{rounds}", file=sys.stderr, flush=True)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Return the 25th percentile, the median and the 75th percentile of ``values``."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def fmt(values: list[float], digits: int = 1) -> str:
    """Format a median with its interquartile range."""
    q1, q2, q3 = quartiles(values)
    return f"{q2:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def overheads(by: dict[str, list[float]]) -> dict[str, list[float]]:
    """Return per-round overheads over the bare view and the DPoP/bearer ratios."""

    def minus(a: str, b: str) -> list[float]:
        return [x - y for x, y in zip(by[a], by[b], strict=True)]

    out = {key: minus(key, "bare") for key in ("bearer", "dpop", "dpop_nonce")}
    for key in ("dpop", "dpop_nonce"):
        out[f"{key} / bearer"] = [x / y for x, y in zip(out[key], out["bearer"], strict=True)]
    return out


def report(all_contenders: list[Contender], args: argparse.Namespace) -> tuple[str, bool]:
    """Return the Markdown report and whether the 2x target was met (on wall time)."""
    wall = overheads({c.key: c.wall for c in all_contenders})
    cpu = overheads({c.key: c.cpu for c in all_contenders})
    lines = [
        "### DPoP vs bearer, µs per request",
        "",
        f"{args.rounds} rounds x {args.requests} requests each, shuffled order; Django test "
        "client, full middleware stack, no network.",
        "",
        "| contender | wall µs, median [IQR] | CPU µs (this thread), median [IQR] |",
        "|---|---|---|",
        *(f"| {c.label} | {fmt(c.wall)} | {fmt(c.cpu)} |" for c in all_contenders),
        "",
        "| overhead (paired within each round) | wall | CPU |",
        "|---|---|---|",
        f"| bearer - bare | {fmt(wall['bearer'])} µs | {fmt(cpu['bearer'])} µs |",
        f"| DPoP - bare | {fmt(wall['dpop'])} µs | {fmt(cpu['dpop'])} µs |",
        f"| DPoP with nonces - bare | {fmt(wall['dpop_nonce'])} µs | {fmt(cpu['dpop_nonce'])} µs |",
        f"| **DPoP / bearer** | **{fmt(wall['dpop / bearer'], 2)} x** | "
        f"{fmt(cpu['dpop / bearer'], 2)} x |",
        f"| DPoP with nonces / bearer | {fmt(wall['dpop_nonce / bearer'], 2)} x | "
        f"{fmt(cpu['dpop_nonce / bearer'], 2)} x |",
    ]
    ratio = statistics.median(wall["dpop / bearer"])
    met = ratio <= TARGET
    lines += [
        "",
        f"Target: DPoP overhead ≤ {TARGET:g} x bearer overhead: {ratio:.2f} x wall, "
        f"{statistics.median(cpu['dpop / bearer']):.2f} x CPU — {'met' if met else 'MISSED'}.",
    ]
    return "\n".join(lines) + "\n", met


def main() -> int:
    """Set up, measure, print the report; exit 0 whether or not the target was met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--quick", action="store_true", help="8 rounds of 50 requests")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/",
        help="any database on the PostgreSQL server to use (the run makes its own)",
    )
    parser.add_argument(
        "--redis-url", default=None, help="a running Redis (default: a private one)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the raw samples here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 8, 50
    with services(args):
        all_contenders = contenders(setup())
        run(all_contenders, args.rounds, args.requests)
        text, _met = report(all_contenders, args)
    print(text)
    if args.json is not None:
        samples = {c.key: {"wall": c.wall, "cpu": c.cpu} for c in all_contenders}
        args.json.write_text(json.dumps({"rounds": args.rounds, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
