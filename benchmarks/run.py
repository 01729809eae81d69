#!/usr/bin/env python
"""Benchmark jwtauth against djangorestframework-simplejwt in one run and print the table.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python benchmarks/run.py [--quick] [--skip-http] [--skip-purge] [--profile]

Every figure is measured in the same run: the per-request contenders round-robin, in a
shuffled order each round, so machine noise hits each alike; the table reports medians over
the rounds with the spread (25th-75th percentile). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402 - importable once the repository root is on the path
    consistency,
    counts,
    dpop,
    endpoints,
    per_request,
    profiling,
    purge,
    throughput,
)
from benchmarks.harness import Bench, Scenario, say  # noqa: E402
from benchmarks.report import machine  # noqa: E402

# The scenarios, in the order they run and report; ``--only`` picks among them by NAME. To add
# one, write a module with NAME and run(bench) (and missing(args) if it needs a program that may
# be absent), import it above and list it here, last, so that the published tables keep their
# order. See benchmarks/README.md, "Adding a scenario".
SCENARIOS: list[Scenario] = [per_request, counts, endpoints, throughput, purge, dpop, consistency]
DATABASE = "jwtauth_bench"
REQUIRED_MODULES = {
    "django": "Django",
    "jwt": "PyJWT",
    "redis": "redis",
    "django_redis": "django-redis",
    "psycopg": "psycopg[binary]",
    "rest_framework": "djangorestframework",
    "rest_framework_simplejwt": "djangorestframework-simplejwt",
    "gunicorn": "gunicorn",
}


def selected(args: argparse.Namespace) -> list[Scenario]:
    """Return the scenarios this run measures, in report order."""
    skipped = {"http": args.skip_http, "purge": args.skip_purge}
    names = args.only or [scenario.NAME for scenario in SCENARIOS]
    return [s for s in SCENARIOS if s.NAME in names and not skipped.get(s.NAME, False)]


def preflight(args: argparse.Namespace) -> None:
    """Check everything the run needs before it starts, or say what is missing and how to get it.

    Nothing is installed here: Python packages come from ``requirements-bench.txt`` (``make
    bench`` installs them), programs from the system's package manager.
    """
    missing = [pkg for mod, pkg in REQUIRED_MODULES.items() if not importlib.util.find_spec(mod)]
    if missing:
        sys.exit(
            f"missing Python packages: {', '.join(missing)}.\n"
            f"Install the pinned set with: {sys.executable} -m pip install -r "
            f"{ROOT / 'requirements-bench.txt'}   (or run `make bench`, which does it)"
        )
    if args.redis_url is None and shutil.which("redis-server") is None:
        sys.exit(
            "missing: redis-server (the run starts a private one, so that command counts "
            "are exact). Install it with `apt-get install redis-server`, or pass "
            "--redis-url redis://HOST:PORT/DB to use a running server."
        )
    for scenario in selected(args):
        lacking = getattr(scenario, "missing", None)
        problem = lacking(args) if lacking else None
        if problem:
            sys.exit(f"missing: {problem}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a trial run")
    parser.add_argument("--skip-http", action="store_true", help="skip gunicorn + wrk")
    parser.add_argument("--skip-purge", action="store_true", help="skip the purge comparison")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile summary")
    parser.add_argument(
        "--renice",
        action="store_true",
        help="run this process and the servers it starts at nice -10 (root), to shield the "
        "figures from other load on the machine",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server to use (the run creates its own database, {DATABASE})",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use this Redis (keys under a run prefix) instead of a private redis-server",
    )
    names = [scenario.NAME for scenario in SCENARIOS]
    parser.add_argument(
        "--only",
        type=lambda value: value.split(","),
        default=None,
        help=f"run only these parts (comma-separated: {','.join(names)})",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "benchmarks")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"--only: no scenario {', '.join(unknown)} (choose among {', '.join(names)})")
    quick = args.quick
    args.rounds = 6 if quick else 30
    args.requests = 100 if quick else 200
    args.login_rounds = 2 if quick else 8
    args.logins = 1
    args.http_rounds = 1 if quick else 5
    args.http_seconds = 2 if quick else 8
    return args


@contextmanager
def redis_url(args: argparse.Namespace) -> Iterator[str]:
    """Yield the URL of ``--redis-url``, or of a private redis-server running meanwhile."""
    if args.redis_url is not None:
        yield args.redis_url
        return
    from services import RedisServer

    with tempfile.TemporaryDirectory(prefix="jwtauth-bench-redis-") as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def create_database(args: argparse.Namespace) -> str:
    """Drop and create the ``jwtauth_bench`` database (its own, never the project's); its URL."""
    import psycopg

    from services import Database

    database = Database(args.database_url, DATABASE)
    say(f"creating database {DATABASE}")
    try:
        database.create()
    except psycopg.OperationalError as e:
        sys.exit(
            f"PostgreSQL is not reachable ({e.__class__.__name__}). Start it, or pass "
            "--database-url postgres://USER@HOST:PORT/ (any database name; the run uses "
            f"its own, {DATABASE})."
        )
    return database.url


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the Markdown report."""
    args = parse_args(argv)
    preflight(args)
    if args.renice:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # inherited by redis-server, gunicorn, wrk
    load_before = os.getloadavg()
    database_url = create_database(args)
    with redis_url(args) as redis:
        bench = Bench(args, redis, database_url)
        try:
            bench.setup_django()
            bench.clients()
            bench.tokens()
            for scenario in selected(args):
                scenario.run(bench)
            profile = profiling.run(bench) if args.profile else ""
        finally:
            bench.cleanup()
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load = "/".join(f"{x:.1f}" for x in load_before), "/".join(f"{x:.1f}" for x in os.getloadavg())
    text = (
        f"## Benchmark run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Command: `{command.strip()}`\n\n{machine()}\n"
        f"- load average (1/5/15 min) at start {load[0]}, at end {load[1]}\n\n"
        f"{bench.report.render()}"
    )
    print(text)
    if profile:
        print("```\n" + profile + "\n```")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.md").write_text(text + (f"\n```\n{profile}\n```\n" if profile else ""))
    (args.output / "latest.json").write_text(json.dumps(bench.report.data, indent=1, default=str))
    say(f"report written to {args.output / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
