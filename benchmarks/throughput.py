"""Scenario ``http``: authenticated throughput under gunicorn, with wrk on loopback.

One gunicorn per configuration (sync workers = cores), ``wrk -t1 -c(2 x cores)`` against each
contender's path for ``--http-seconds``, ``--http-rounds`` rounds round-robin in a shuffled
order. wrk is a system program, not a Python package: :func:`missing` says how to install it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from benchmarks.harness import Bench, say
from benchmarks.report import fmt

NAME = "http"
INSTALL_WRK = (
    "the HTTP scenario needs wrk, the HTTP load generator (a system program, not a Python "
    "package). Install it with `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` "
    "(macOS), or leave the scenario out with --skip-http."
)


def missing(args: argparse.Namespace) -> str | None:
    """Say how to install wrk when it is not on PATH."""
    return None if shutil.which("wrk") else INSTALL_WRK


def run(bench: Bench) -> None:
    """Measure authenticated throughput under gunicorn with wrk on loopback."""
    from services import Gunicorn

    cores = os.cpu_count() or 1
    say(f"HTTP throughput: gunicorn, {cores} sync workers per server, wrk on loopback")
    configurations = {
        "jwtauth": bench.env(BENCH_STACK="jwtauth"),
        "jwtauth_uc": bench.env(BENCH_STACK="jwtauth", BENCH_USER_CACHE="1"),
        "plain": bench.env(BENCH_STACK="plain"),
    }
    with tempfile.TemporaryDirectory(prefix="jwtauth-bench-http-") as logs:
        servers = {
            name: Gunicorn(
                env,
                cores,
                Path(logs) / f"gunicorn-{name}.log",
                ("--log-level", "warning"),
                app="benchmarks.comparison.wsgi:application",
                ready_path="/bare/",
            )
            for name, env in configurations.items()
        }
        try:
            for server in servers.values():
                server.start()
            results = _measure(bench, {name: s.port for name, s in servers.items()}, cores)
        finally:
            for server in servers.values():
                server.stop()
    _report(bench, results, cores)


def _measure(bench: Bench, ports: dict[str, int], cores: int) -> dict[str, list[float]]:
    cases = [
        ("bare Django view", "plain", "/bare/", None),
        (
            "jwtauth, plain view, not reading user",
            "jwtauth",
            "/jwtauth/auth-only/",
            bench.jw_access,
        ),
        ("DRF, one user SELECT, no token (ceiling)", "plain", "/drf/user-query/", None),
        ("DRF + jwtauth", "jwtauth", "/drf/jwtauth/", bench.jw_access),
        ("DRF + jwtauth, USER_CACHE", "jwtauth_uc", "/drf/jwtauth/", bench.jw_access),
        ("DRF + simplejwt", "plain", "/drf/simplejwt/", bench.sj_access),
    ]
    for _, server, path, token in cases:  # warm every worker's connections
        url = f"http://127.0.0.1:{ports[server]}{path}"
        for _ in range(4 * cores):
            _http_get(url, token)
    results: dict[str, list[float]] = {label: [] for label, *_ in cases}
    rng = random.Random(8)
    for index in range(bench.args.http_rounds):
        order = list(cases)
        rng.shuffle(order)
        for label, server, path, token in order:
            url = f"http://127.0.0.1:{ports[server]}{path}"
            results[label].append(_wrk(url, token, cores, bench.args.http_seconds))
        say(f"  HTTP round {index + 1}/{bench.args.http_rounds}")
    return results


def _report(bench: Bench, results: dict[str, list[float]], cores: int) -> None:
    bench.report.data["http"] = results
    sj = results["DRF + simplejwt"]
    rows = []
    for label, values in results.items():
        ratio = [v / s for v, s in zip(values, sj, strict=True)]
        rows.append([label, fmt(values, 0), fmt(ratio, 2)])
    bench.report.table(
        "HTTP throughput (requests/s)",
        ["endpoint", "req/s, median (IQR)", "x simplejwt"],
        rows,
        f"gunicorn sync workers = {cores} (cores), wrk -t1 -c{2 * cores} "
        f"-d{bench.args.http_seconds}s on 127.0.0.1, {bench.args.http_rounds} rounds "
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
        bench.report.target(
            f"HTTP throughput, {label} vs simplejwt", "≥ 1.5 x", measured, times >= 1.5
        )


def _http_get(url: str, token: str | None) -> None:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URL built above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")


def _wrk(url: str, token: str | None, cores: int, seconds: int) -> float:
    command = [
        "wrk",
        "-t1",
        f"-c{2 * cores}",
        f"-d{seconds}s",
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
