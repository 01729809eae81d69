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
import gc
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SETTINGS = "benchmarks.comparison.settings"
DATABASE = "jwtauth_bench"
PASSWORD = "correct horse battery staple"
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


# --------------------------------------------------------------------------- preflight


def say(message: str) -> None:
    """Print a progress line to stderr (the table goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def preflight(args: argparse.Namespace) -> None:
    """Check (and where possible install) everything the run needs, or say what is missing."""
    import importlib.util

    missing = [pkg for mod, pkg in REQUIRED_MODULES.items() if not importlib.util.find_spec(mod)]
    if missing:
        sys.exit(
            f"missing Python packages: {', '.join(missing)}.\n"
            f"Install the pinned set with: {sys.executable} -m pip install -r "
            f"{ROOT / 'requirements.txt'}   (or run the make target, which does it)"
        )
    if not args.skip_http and shutil.which("wrk") is None:
        _install_debian("wrk")
        if shutil.which("wrk") is None:
            sys.exit(
                "missing: wrk (HTTP load generator). Install it with "
                "`apt-get update && apt-get install -y wrk`, or pass --skip-http."
            )
    if args.redis_url is None and shutil.which("redis-server") is None:
        _install_debian("redis-server")
        if shutil.which("redis-server") is None:
            sys.exit(
                "missing: redis-server (the run starts a private one, so that command counts "
                "are exact). Install it with `apt-get install -y redis-server`, or pass "
                "--redis-url redis://HOST:PORT/DB to use a running server."
            )


def _install_debian(package: str) -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return
    say(f"installing {package} from Debian (apt-get)")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([apt, "update", "-qq"], check=False, **quiet)  # type: ignore[call-overload]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "install", "-y", "-qq", package], check=False, env=env, **quiet)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- services


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """Run a private, non-persistent redis-server on a free loopback port; yield its URL."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="jwtauth-bench-redis-")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def database_urls(url: str) -> tuple[str, str]:
    """Return (maintenance URL, benchmark database URL) on the server ``url`` names."""
    parts = urlsplit(url)
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    return maintenance, urlunsplit(parts._replace(path=f"/{DATABASE}"))


def recreate_database(maintenance_url: str) -> None:
    """Drop and create the ``jwtauth_bench`` database (its own, never the project's)."""
    import psycopg

    try:
        conn = psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        sys.exit(
            f"PostgreSQL is not reachable ({e.__class__.__name__}). Start it, or pass "
            "--database-url postgres://USER@HOST:PORT/ (any database name; the run uses "
            f"its own, {DATABASE})."
        )
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


# --------------------------------------------------------------------------- statistics


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Return the 25th percentile, median and 75th percentile of ``values``."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def fmt(values: list[float], digits: int = 1) -> str:
    """Format a median with its interquartile range."""
    q1, q2, q3 = quartiles(values)
    return f"{q2:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


# --------------------------------------------------------------------------- the run


@dataclass
class Contender:
    """One thing timed per round: ``call`` does one request (or one operation)."""

    key: str
    label: str
    call: Callable[[], Any]
    context: Callable[[], Any] | None = None
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@dataclass
class Report:
    """Everything measured, printed as Markdown tables at the end."""

    sections: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, title: str, header: list[str], rows: list[list[str]], note: str = "") -> None:
        """Add a Markdown table."""
        lines = [f"### {title}", ""]
        if note:
            lines += [note, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.sections.append("\n".join(lines))

    def target(self, name: str, goal: str, measured: str, met: bool | None) -> None:
        """Record a target and whether this run met it."""
        self.targets.append((name, goal, measured, met))

    def render(self) -> str:
        """Return the whole report as Markdown."""
        rows = [
            f"| {n} | {g} | {m} | {'met' if ok else 'MISSED' if ok is False else '—'} |"
            for n, g, m, ok in self.targets
        ]
        targets = "\n".join(
            ["### Targets", "", "| target | goal | measured | |", "|---|---|---|---|", *rows]
        )
        return "\n\n".join([*self.sections, targets]) + "\n"


class Bench:
    """Set up the comparison site and run each part of the benchmark."""

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

        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            outer = id(connection.atomic_blocks[0]) if connection.in_atomic_block else None
            result["statements"].append((sql, outer))
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
    def transactions(statements: list[tuple[str, int | None]]) -> int:
        """Return how many transactions ``statements`` ran in (autocommit: one each)."""
        blocks = {outer for _, outer in statements if outer is not None}
        return len(blocks) + sum(1 for _, outer in statements if outer is None)

    def rounds(self, contenders: list[Contender], rounds: int, per_round: int) -> None:
        """Time every contender ``rounds`` times, round-robin in a shuffled order."""
        rng = random.Random(6)
        for contender in contenders:  # warm every path (connections, caches, imports)
            with self.context(contender):
                for _ in range(20):
                    contender.call()
        for index in range(rounds):
            order = list(contenders)
            rng.shuffle(order)
            for contender in order:
                with self.context(contender):
                    call = contender.call
                    for _ in range(5):
                        call()
                    gc.collect()
                    cpu = time.thread_time_ns()
                    start = time.perf_counter_ns()
                    for _ in range(per_round):
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

    # ----------------------------------------------------------------- per request

    def per_request(self) -> None:
        """Time each contender through the full middleware stack, and the floor's parts."""
        import jwt
        from django.conf import settings
        from django.test import override_settings

        from benchmarks.comparison.views import floor_key
        from jwtauth.backends import verify_access
        from jwtauth.revocation import load_user
        from jwtauth.tokens import decode

        say("per-request timings (test client, full middleware stack)")
        redis_client = self.redis()
        probe = floor_key()
        redis_client.set(probe, 0)
        key = settings.JWTAUTH_SECRET_KEY
        audience, issuer = settings.JWTAUTH_AUDIENCE, settings.JWTAUTH_ISSUER
        token = self.jw_access
        sub = str(self.user.pk)

        def user_cache() -> Any:
            return override_settings(JWTAUTH_USER_CACHE=True)

        contenders = [
            Contender("bare", "bare Django view (no auth)", self.get("plain", "/bare/", None)),
            Contender(
                "jw_plain",
                "jwtauth, plain view, not reading user",
                self.get("jwtauth", "/jwtauth/auth-only/", token),
            ),
            Contender(
                "jw_user",
                "jwtauth, plain view, reading request.user",
                self.get("jwtauth", "/jwtauth/user/", token),
            ),
            Contender(
                "jw_user_uc",
                "jwtauth, plain view, reading request.user, USER_CACHE",
                self.get("jwtauth", "/jwtauth/user/", token),
                user_cache,
            ),
            Contender(
                "drf_base",
                "DRF, fixed-user authentication (DRF baseline)",
                self.get("plain", "/drf/baseline/", None),
            ),
            Contender(
                "jw_drf",
                "DRF + jwtauth (with its middleware)",
                self.get("jwtauth", "/drf/jwtauth/", token),
            ),
            Contender(
                "jw_drf_uc",
                "DRF + jwtauth, USER_CACHE",
                self.get("jwtauth", "/drf/jwtauth/", token),
                user_cache,
            ),
            Contender(
                "jw_drf_alone",
                "DRF + jwtauth's DRF class alone (no middleware)",
                self.get("plain", "/drf/jwtauth/", token),
            ),
            Contender(
                "sj_drf",
                "DRF + simplejwt JWTAuthentication",
                self.get("plain", "/drf/simplejwt/", self.sj_access),
            ),
            Contender(
                "pyjwt",
                "PyJWT jwt.decode of the same token",
                lambda: jwt.decode(
                    token, key, algorithms=["HS256"], audience=audience, issuer=issuer
                ),
            ),
            Contender("redis_get", "one Redis GET (redis-py)", lambda: redis_client.get(probe)),
            Contender(
                "floor_view",
                "floor in a request: plain view doing PyJWT decode + one Redis GET",
                self.get("plain", "/floor/", token),
            ),
            Contender(
                "jw_verify",
                "jwtauth verify_access() alone (decode + revocation check)",
                lambda: verify_access(token),
            ),
            Contender("jw_decode", "jwtauth tokens.decode() alone", lambda: decode(token)),
            Contender(
                "select_user",
                "one user SELECT by primary key (revocation.load_user) alone",
                lambda: load_user(sub),
            ),
        ]
        self.rounds(contenders, self.args.rounds, self.args.requests)
        self.report.data["per_request"] = {
            c.key: {"wall": c.samples, "cpu": c.cpu} for c in contenders
        }
        wall = self._overheads({c.key: c.samples for c in contenders})
        cpu = self._overheads({c.key: c.cpu for c in contenders})
        rows = [[c.label, fmt(c.samples), fmt(c.cpu)] for c in contenders]
        rows.append(["floor = PyJWT decode + Redis GET", fmt(wall["floor"]), fmt(cpu["floor"])])
        self.report.table(
            "µs per request",
            ["contender", "wall µs, median [IQR]", "CPU µs (this thread), median [IQR]"],
            rows,
            f"{self.args.rounds} rounds x {self.args.requests} requests each, round-robin in a "
            "shuffled order; Django test client, no network. CPU time is this process's thread "
            "only (thread_time): it leaves out the Redis and PostgreSQL servers' work and the "
            "time spent waiting for them, and is what other load on the machine disturbs least.",
        )
        labels = {
            "floor_ctx": "floor in a request (floor view - bare)",
            "jw_plain": "jwtauth overhead, plain view, not reading user (- bare)",
            "jw_user": "  … reading request.user (- bare)",
            "jw_user_uc": "  … reading request.user, USER_CACHE (- bare)",
            "sj_drf": "DRF overhead, simplejwt (- DRF baseline)",
            "jw_drf": "DRF overhead, jwtauth",
            "jw_drf_uc": "DRF overhead, jwtauth, USER_CACHE",
            "jw_drf_alone": "DRF overhead, jwtauth DRF class alone",
        }
        rows = []
        kinds = {
            "jw_plain": "floor",
            "jw_drf": "sj",
            "jw_drf_uc": "sj",
            "jw_drf_alone": "sj",
        }
        units = {"floor": " x floor", "floor_ctx": " x floor in a request", "sj": " x simplejwt"}
        for key, label in labels.items():
            kind = kinds.get(key)
            rows.append(
                [
                    label,
                    fmt(wall[key]),
                    fmt(wall[f"{key}/{kind}"], 2) + units[kind] if kind else "",
                    fmt(cpu[key]),
                    fmt(cpu[f"{key}/{kind}"], 2) + units[kind] if kind else "",
                ]
            )
            if key == "jw_plain":
                rows.append(
                    [
                        "  … the same against the floor in a request",
                        "",
                        fmt(wall["jw_plain/floor_ctx"], 2) + units["floor_ctx"],
                        "",
                        fmt(cpu["jw_plain/floor_ctx"], 2) + units["floor_ctx"],
                    ]
                )
        self.report.table(
            "Authentication overhead (differences paired within each round)",
            ["overhead", "wall µs", "wall ratio", "CPU µs", "CPU ratio"],
            rows,
        )
        m = statistics.median
        for key, goal, limit, name in (
            ("jw_plain/floor", "≤ 1.3 x floor", 1.3, "jwtauth overhead vs floor"),
            (
                "jw_plain/floor_ctx",
                "≤ 1.3 x floor",
                1.3,
                "jwtauth overhead vs floor measured in a request",
            ),
            ("jw_drf/sj", "≤ 0.8 x", 0.8, "DRF reading user: jwtauth vs simplejwt"),
            ("jw_drf_uc/sj", "≤ 0.5 x", 0.5, "DRF reading user: jwtauth USER_CACHE vs simplejwt"),
        ):
            self.report.target(
                name,
                goal,
                f"{m(wall[key]):.2f} x wall ({m(cpu[key]):.2f} x CPU)",
                m(wall[key]) <= limit,
            )
        redis_client.delete(probe)

    @staticmethod
    def _overheads(by: dict[str, list[float]]) -> dict[str, list[float]]:
        """Return per-round overheads and ratios, each difference taken within its round."""

        def minus(a: str, b: str) -> list[float]:
            return [x - y for x, y in zip(by[a], by[b], strict=True)]

        def ratio(a: list[float], b: list[float]) -> list[float]:
            return [x / y for x, y in zip(a, b, strict=True)]

        out = {"floor": [d + g for d, g in zip(by["pyjwt"], by["redis_get"], strict=True)]}
        for key in ("jw_plain", "jw_user", "jw_user_uc"):
            out[key] = minus(key, "bare")
        for key in ("sj_drf", "jw_drf", "jw_drf_uc", "jw_drf_alone"):
            out[key] = minus(key, "drf_base")
        out["floor_ctx"] = minus("floor_view", "bare")
        out["jw_plain/floor"] = ratio(out["jw_plain"], out["floor"])
        out["jw_plain/floor_ctx"] = ratio(out["jw_plain"], out["floor_ctx"])
        for key in ("jw_drf", "jw_drf_uc", "jw_drf_alone"):
            out[f"{key}/sj"] = ratio(out[key], out["sj_drf"])
        return out

    def per_request_counts(self) -> None:
        """Count DB queries and Redis commands per authenticated request, per contender."""
        from django.test import override_settings

        say("per-request DB queries and Redis commands")
        token, n = self.jw_access, 20
        cases = [
            ("bare Django view", "plain", "/bare/", None, False),
            (
                "jwtauth, plain view, not reading user",
                "jwtauth",
                "/jwtauth/auth-only/",
                token,
                False,
            ),
            (
                "jwtauth, plain view, reading request.user",
                "jwtauth",
                "/jwtauth/user/",
                token,
                False,
            ),
            ("… with USER_CACHE", "jwtauth", "/jwtauth/user/", token, True),
            ("DRF baseline (fixed user)", "plain", "/drf/baseline/", None, False),
            ("DRF + jwtauth", "jwtauth", "/drf/jwtauth/", token, False),
            ("DRF + jwtauth, USER_CACHE", "jwtauth", "/drf/jwtauth/", token, True),
            ("DRF + simplejwt", "plain", "/drf/simplejwt/", self.sj_access, False),
        ]
        rows, data = [], {}
        for label, stack, path, tok, uc in cases:
            with override_settings(JWTAUTH_USER_CACHE=uc):
                call = self.get(stack, path, tok)
                for _ in range(3):
                    call()
                with self.count() as counted:
                    for _ in range(n):
                        call()
            queries = len(counted["statements"]) / n
            commands = {k: v / n for k, v in sorted(counted["redis"].items())}
            total = sum(commands.values())
            rows.append(
                [
                    label,
                    f"{queries:g}",
                    f"{total:g}",
                    ", ".join(f"{k} {v:g}" for k, v in commands.items()) or "—",
                ]
            )
            data[label] = {"queries": queries, "redis": commands}
        self.report.data["counts"] = data
        self.report.table(
            "Per authenticated request, steady state",
            ["contender", "DB queries", "Redis commands", "by command"],
            rows,
            f"Mean over {n} requests after 3 warm-up requests"
            + (
                "; Redis counted with INFO commandstats on the run's private server."
                if self.private_redis
                else "; Redis counted with INFO commandstats on a shared server "
                "(other clients' commands may be included)."
            ),
        )
        plain = data["jwtauth, plain view, not reading user"]
        drf = data["DRF + jwtauth"]
        drf_uc = data["DRF + jwtauth, USER_CACHE"]
        round_trips = max(sum(d["redis"].values()) for d in (plain, drf, drf_uc))
        self.report.target(
            "DB queries for revocation (view not reading user)",
            "0",
            f"{plain['queries']:g}",
            plain["queries"] == 0,
        )
        self.report.target(
            "Redis round trips per request",
            "≤ 1",
            f"{round_trips:g}",
            round_trips <= 1,
        )
        self.report.target(
            "DB queries with USER_CACHE, view reading user",
            "0",
            f"{drf_uc['queries']:g}",
            drf_uc["queries"] == 0,
        )

    # ----------------------------------------------------------------- auth endpoints

    def endpoints(self) -> None:
        """Time login, refresh and logout of both libraries, with their SQL statements."""
        from rest_framework_simplejwt.tokens import RefreshToken

        from jwtauth import sessions

        say("login, refresh and logout")
        a, b = self.client["jwtauth"], self.client["plain"]
        json_post = {"content_type": "application/json"}
        user = self.user
        logins = self.args.logins

        def post(client: Any, path: str, body: dict[str, Any], **extra: Any) -> Any:
            response = client.post(path, json.dumps(body), **json_post, **extra)
            if response.status_code not in (200, 204):
                raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
            return response

        credentials = {"username": "bench", "password": PASSWORD}
        state = {"jw": self.jw_pair.refresh, "sj": str(RefreshToken.for_user(user))}

        def jw_refresh() -> Any:
            state["jw"] = post(a, "/auth/refresh/", {"refresh": state["jw"]}).json()["refresh"]

        def sj_refresh() -> Any:
            state["sj"] = post(b, "/simplejwt/refresh/", {"refresh": state["sj"]}).json()["refresh"]

        per_round = max(5, self.args.requests // 40)
        n_logout = per_round * self.args.rounds + 10
        jw_sessions = [sessions.start(user, user_agent="bench") for _ in range(n_logout)]
        sj_tokens = [str(RefreshToken.for_user(user)) for _ in range(n_logout)]

        def jw_logout() -> Any:
            pair = jw_sessions.pop()
            post(
                a,
                "/auth/logout/",
                {"refresh": pair.refresh},
                headers={"Authorization": f"Bearer {pair.access}"},
            )

        def sj_logout() -> Any:
            post(b, "/simplejwt/logout/", {"refresh": sj_tokens.pop()})

        def hashing() -> Any:
            if not user.check_password(PASSWORD):
                raise RuntimeError("check_password failed")

        cases = {
            "login": (
                lambda: post(a, "/auth/login/", credentials),
                lambda: post(b, "/simplejwt/login/", credentials),
            ),
            "refresh": (jw_refresh, sj_refresh),
            "logout": (jw_logout, sj_logout),
        }
        counts: dict[str, dict[str, Any]] = {}
        for name, (jw, sj) in cases.items():
            for lib, call in (("jwtauth", jw), ("simplejwt", sj)):
                call()  # warm
                with self.count() as counted:
                    call()
                counts[f"{name}:{lib}"] = counted
        contenders = [
            Contender("hash", "check_password (PBKDF2, Django default)", hashing),
            Contender("jw_login", "jwtauth login", cases["login"][0]),
            Contender("sj_login", "simplejwt login", cases["login"][1]),
        ]
        self.rounds_quiet(contenders, self.args.login_rounds, logins)
        fast = [
            Contender("jw_refresh", "jwtauth refresh", jw_refresh),
            Contender("sj_refresh", "simplejwt refresh", sj_refresh),
            Contender("jw_logout", "jwtauth logout", jw_logout),
            Contender("sj_logout", "simplejwt logout", sj_logout),
        ]
        self.rounds_quiet(fast, self.args.rounds, per_round)
        by = {c.key: c.samples for c in contenders + fast}
        self.report.data["endpoints"] = {
            "timings": by,
            "counts": {
                k: {"statements": [s for s, _ in v["statements"]], "redis": v["redis"]}
                for k, v in counts.items()
            },
        }

        def minus_hash(key: str) -> list[float]:
            return [x - h for x, h in zip(by[key], by["hash"], strict=True)]

        rows = []
        for name in ("login", "refresh", "logout"):
            for lib, short in (("jwtauth", "jw"), ("simplejwt", "sj")):
                c = counts[f"{name}:{lib}"]
                statements = c["statements"]
                extra = (
                    f" ({fmt(minus_hash(f'{short}_login'))} without hashing)"
                    if name == "login"
                    else ""
                )
                rows.append(
                    [
                        f"{name}, {lib}",
                        fmt(by[f"{short}_{name}"]) + extra,
                        str(len(statements)),
                        str(self.transactions(statements)),
                        str(sum(c["redis"].values())),
                    ]
                )
        rows.append(["check_password alone", fmt(by["hash"]), "0", "0", "0"])
        self.report.table(
            "Login, refresh, logout (per call)",
            ["call", "µs, median (IQR)", "SQL statements", "transactions", "Redis commands"],
            rows,
            "Login includes one password hash (Django's default PBKDF2 hasher), shown alone on "
            "the last row. simplejwt runs with ROTATE_REFRESH_TOKENS and "
            "BLACKLIST_AFTER_ROTATION, the behaviour jwtauth always has; savepoints count as "
            "statements.",
        )
        refresh = counts["refresh:jwtauth"]["statements"]
        n_tx = self.transactions(refresh)
        self.report.target(
            "refresh: SQL statements / transactions",
            "≤ 4 in 1 transaction",
            f"{len(refresh)} statements in {n_tx} transaction(s)",
            len(refresh) <= 4 and n_tx == 1,
        )

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

    # ----------------------------------------------------------------- HTTP

    def http(self) -> None:
        """Measure authenticated throughput under gunicorn with wrk on loopback."""
        cores = os.cpu_count() or 1
        say(f"HTTP throughput: gunicorn, {cores} sync workers per server, wrk on loopback")
        servers = {
            "jwtauth": self.env(BENCH_STACK="jwtauth"),
            "jwtauth_uc": self.env(BENCH_STACK="jwtauth", BENCH_USER_CACHE="1"),
            "plain": self.env(BENCH_STACK="plain"),
        }
        procs: dict[str, tuple[subprocess.Popen[Any], int]] = {}
        try:
            for name, env in servers.items():
                port = free_port()
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "benchmarks.comparison.wsgi:application",
                        "--workers",
                        str(cores),
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
                procs[name] = (proc, port)
            for proc, port in procs.values():
                _wait_for_port(port, proc)
            cases = [
                ("bare Django view", "plain", "/bare/", None),
                (
                    "jwtauth, plain view, not reading user",
                    "jwtauth",
                    "/jwtauth/auth-only/",
                    self.jw_access,
                ),
                ("DRF, one user SELECT, no token (ceiling)", "plain", "/drf/user-query/", None),
                ("DRF + jwtauth", "jwtauth", "/drf/jwtauth/", self.jw_access),
                ("DRF + jwtauth, USER_CACHE", "jwtauth_uc", "/drf/jwtauth/", self.jw_access),
                ("DRF + simplejwt", "plain", "/drf/simplejwt/", self.sj_access),
            ]
            for _, server, path, token in cases:  # warm every worker's connections
                url = f"http://127.0.0.1:{procs[server][1]}{path}"
                for _ in range(4 * cores):
                    self._http_get(url, token)
            results: dict[str, list[float]] = {label: [] for label, *_ in cases}
            rng = random.Random(8)
            for index in range(self.args.http_rounds):
                order = list(cases)
                rng.shuffle(order)
                for label, server, path, token in order:
                    url = f"http://127.0.0.1:{procs[server][1]}{path}"
                    results[label].append(self._wrk(url, token, cores))
                say(f"  HTTP round {index + 1}/{self.args.http_rounds}")
        finally:
            for proc, _ in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc, _ in procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.report.data["http"] = results
        sj = results["DRF + simplejwt"]
        rows = []
        for label, values in results.items():
            ratio = [v / s for v, s in zip(values, sj, strict=True)]
            rows.append([label, fmt(values, 0), fmt(ratio, 2)])
        self.report.table(
            "HTTP throughput (requests/s)",
            ["endpoint", "req/s, median (IQR)", "x simplejwt"],
            rows,
            f"gunicorn sync workers = {cores} (cores), wrk -t1 -c{2 * cores} "
            f"-d{self.args.http_seconds}s on 127.0.0.1, {self.args.http_rounds} rounds "
            "round-robin; wrk shares the same cores.",
        )

        def median_ratio(label: str) -> float:
            return statistics.median(v / s for v, s in zip(results[label], sj, strict=True))

        # Any scheme that reads the user from the database on every request is bounded by the
        # ceiling contender, which does that one SELECT and nothing else (no token at all).
        ceiling = median_ratio("DRF, one user SELECT, no token (ceiling)")
        for label in ("DRF + jwtauth", "DRF + jwtauth, USER_CACHE"):
            times = median_ratio(label)
            measured = f"{times:.2f} x"
            if "USER_CACHE" not in label:
                measured += f" (ceiling with one user SELECT per request: {ceiling:.2f} x)"
            self.report.target(
                f"HTTP throughput, {label} vs simplejwt", "≥ 1.5 x", measured, times >= 1.5
            )

    @staticmethod
    def _http_get(url: str, token: str | None) -> None:
        request = urllib.request.Request(url)  # noqa: S310 - loopback URL built above
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")

    def _wrk(self, url: str, token: str | None, cores: int) -> float:
        command = [
            "wrk",
            "-t1",
            f"-c{2 * cores}",
            f"-d{self.args.http_seconds}s",
            "--timeout",
            "5s",
        ]
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        output = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        for line in output.splitlines():
            if "Non-2xx or 3xx responses" in line or "Socket errors" in line:
                raise RuntimeError(f"wrk reported errors for {url}:\n{output}")
            if line.startswith("Requests/sec:"):
                return float(line.split()[1])
        raise RuntimeError(f"cannot read wrk's output:\n{output}")

    # ----------------------------------------------------------------- purge

    def purge(self) -> None:
        """Purge expired rows with both libraries' commands on the same numbers of rows."""
        from benchmarks import purge

        if not purge.available():
            say("purge: jwtauth's purge_revoked_tokens command does not exist yet; skipped")
            self.report.target("purge", "see below", "not measured (command missing)", None)
            return
        expired, live = (20_000, 2_000) if self.args.quick else (1_000_000, 100_000)
        say(f"purge: loading {expired:,} expired + {live:,} live rows for each library")
        results = purge.compare(self.env(), expired=expired, live=live)
        self.report.data["purge"] = results
        rows = []
        for lib in ("jwtauth", "simplejwt"):
            r = results[lib]
            rows.append(
                [
                    f"{lib}: {r['command']}",
                    f"{r['wall_s']:.2f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{r['longest_batch_s']:.3f} ({r['batches']} batches)",
                    f"{r['longest_transaction_s']:.3f}",
                    str(r["statements"]),
                    f"{r['deleted']:,}",
                    f"{r['live_after']:,} of {r['live_before']:,}, "
                    + ("unchanged" if r["live_intact"] else "CHANGED"),
                ]
            )
        self.report.table(
            f"Purge: {expired:,} expired + {live:,} live rows on PostgreSQL",
            [
                "command",
                "wall s",
                "peak RSS MB",
                "longest batch s",
                "longest transaction s",
                "SQL statements",
                "rows deleted",
                "live rows",
            ],
            rows,
            "Each command runs in a fresh process; wall time around call_command; peak RSS is "
            f"the process's own VmHWM (a process that only starts Django and connects: "
            f"{results['baseline_rss_mb']:.0f} MB). jwtauth: RevokedToken rows; simplejwt: "
            "OutstandingToken rows, each with its BlacklistedToken row. Live rows are compared "
            "by id, jti, expiry and xmin (row version) before and after. Loading took "
            f"{results['fill_s']:.0f} s.",
        )
        jw, sj = results["jwtauth"], results["simplejwt"]
        ratio = jw["wall_s"] / sj["wall_s"]
        self.report.target(
            "purge wall time vs simplejwt", "≤ 0.5 x", f"{ratio:.3f} x", ratio <= 0.5
        )
        self.report.target(
            "purge peak RSS", "≤ 150 MB", f"{jw['peak_rss_mb']:.0f} MB", jw["peak_rss_mb"] <= 150
        )
        self.report.target(
            "purge longest batch",
            "≤ 1 s",
            f"{jw['longest_batch_s']:.3f} s",
            jw["longest_batch_s"] <= 1.0,
        )
        self.report.target(
            "purge leaves live rows intact",
            "all",
            "all" if jw["live_intact"] else "NOT",
            jw["live_intact"],
        )

    # ----------------------------------------------------------------- profile

    def profile(self) -> str:
        """Profile the request paths with cProfile; return the summary as text.

        Function calls per request are deterministic, so they compare paths (and versions)
        even on a busy machine; the listings show where the jwtauth path spends its time.
        """
        import cProfile
        import io
        import pstats

        from django.test import override_settings

        n = max(500, self.args.requests * 2)
        token = self.jw_access
        paths = [
            ("bare Django view", "plain", "/bare/", None, False),
            ("floor in a request (PyJWT decode + GET)", "plain", "/floor/", token, False),
            (
                "jwtauth, plain view, not reading user",
                "jwtauth",
                "/jwtauth/auth-only/",
                token,
                False,
            ),
            ("DRF baseline (fixed user)", "plain", "/drf/baseline/", None, False),
            ("DRF + jwtauth", "jwtauth", "/drf/jwtauth/", token, False),
            ("DRF + jwtauth, USER_CACHE", "jwtauth", "/drf/jwtauth/", token, True),
            ("DRF + simplejwt", "plain", "/drf/simplejwt/", self.sj_access, False),
        ]
        out = io.StringIO()
        out.write("Function calls per request (cProfile, deterministic):\n\n")
        kept: dict[str, pstats.Stats] = {}
        for label, stack, path, tok, uc in paths:
            with override_settings(JWTAUTH_USER_CACHE=uc):
                call = self.get(stack, path, tok)
                for _ in range(50):
                    call()
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(n):
                    call()
                profiler.disable()
            stats = pstats.Stats(profiler, stream=out)
            kept[label] = stats
            out.write(f"  {stats.total_calls / n:7.0f}  {label}\n")
        stats = kept["jwtauth, plain view, not reading user"]
        out.write(f"\njwtauth, plain view, not reading user: {n} requests, by own time\n")
        stats.strip_dirs().sort_stats("tottime").print_stats(20)
        out.write("\nthe same, jwtauth's functions by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(
            r"(tokens|revocation|backends|middleware|credentials)\.py"
        )
        return out.getvalue()

    # ----------------------------------------------------------------- cleanup

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


def machine() -> str:
    """Describe the machine and the versions measured."""
    from importlib.metadata import version

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = (
        subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2:3]
        if shutil.which("redis-server")
        else ["?"]
    )
    pg = "?"
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg = cursor.fetchone()[0]
    except Exception:  # noqa: S110 - a description only
        pass
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "Django",
            "djangorestframework",
            "djangorestframework-simplejwt",
            "PyJWT",
            "cryptography",
            "redis",
            "hiredis",
            "django-redis",
            "psycopg",
            "gunicorn",
        )
    )
    wrk = (
        shutil.which("wrk")
        and subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        .stdout.split("[")[0]
        .strip()
    )
    return (
        f"- {os.cpu_count()} cores (nproc), {cpu}, {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, PostgreSQL {pg}, "
        f"Redis {' '.join(v.removeprefix('v=') for v in redis_version)}, {wrk or 'wrk not used'}\n"
        f"- {packages}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument(
        "--only",
        type=lambda value: value.split(","),
        default=None,
        help="run only these parts (comma-separated: requests,counts,endpoints,http,purge)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "benchmarks")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = 6 if quick else 30
    args.requests = 100 if quick else 200
    args.login_rounds = 2 if quick else 8
    args.logins = 1
    args.http_rounds = 1 if quick else 5
    args.http_seconds = 2 if quick else 8
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the Markdown report."""
    args = parse_args(argv)
    preflight(args)
    if args.renice:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # inherited by redis-server, gunicorn, wrk
    load_before = os.getloadavg()
    maintenance, database_url = database_urls(args.database_url)
    say(f"creating database {DATABASE}")
    recreate_database(maintenance)
    with private_redis() if args.redis_url is None else _given(args.redis_url) as redis_url:
        bench = Bench(args, redis_url, database_url)
        try:
            bench.setup_django()
            bench.clients()
            bench.tokens()
            parts = args.only or ["requests", "counts", "endpoints", "http", "purge"]
            if "requests" in parts:
                bench.per_request()
            if "counts" in parts:
                bench.per_request_counts()
            if "endpoints" in parts:
                bench.endpoints()
            if "http" in parts and not args.skip_http:
                bench.http()
            if "purge" in parts and not args.skip_purge:
                bench.purge()
            profile = bench.profile() if args.profile else ""
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


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
