"""Run the bounded load test: ``python -m loadtest --seconds 120 --clients 48``.

It creates a database of its own next to ``DATABASE_URL`` (PostgreSQL), starts a private
redis-server and two gunicorn instances of the demo site (workers = CPU cores each), puts the
mixed load on them from loopback, prints the report, and tears everything down. Exit status 1
when any request failed or any revoked token was accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from .stack import PASSWORD, Stack
from .traffic import LoadRun, Mix, summary

MAX_SECONDS = 180


def machine() -> dict[str, Any]:
    """Describe where the run happened: cores and CPU model."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def run(
    seconds: float, clients: int, workers: int | None, instances: int, seed: int
) -> dict[str, Any]:
    """Start the stack, run the load for ``seconds``, tear down; return the report."""
    with tempfile.TemporaryDirectory(prefix="jwtauth-load-") as tmp:
        stack = Stack(
            Path(tmp), db_name=f"jwtauth_load_{os.getpid()}", instances=instances, workers=workers
        )
        try:
            stack.start()
            users = stack.create_users(clients)
            load = LoadRun(
                [s.address for s in stack.servers],
                clients=clients,
                usernames=users,
                password=PASSWORD,
                mix=Mix(),
                seed=seed,
            )
            outcome = load.run(seconds)
            report = summary(outcome)
            report["tracebacks_logged"] = bool(stack.tracebacks())
        finally:
            stack.close()
    report.update(
        clients=clients,
        instances=instances,
        workers_per_instance=stack.workers,
        machine=machine(),
        first_errors=outcome.errors[:10],
        revoked_accepted_detail=outcome.revoked_accepted[:10],
    )
    return report


def render(report: dict[str, Any]) -> str:
    """Format the report for a terminal (and for docs/operations.md)."""
    m = report["machine"]
    lines = [
        f"{report['seconds']} s, {report['clients']} clients, {report['instances']} gunicorn "
        f"instances x {report['workers_per_instance']} sync workers, PostgreSQL + Redis, loopback",
        f"machine: nproc={m['nproc']}, {m['cpu']}, Python {m['python']}",
        f"requests served: {report['requests']} ({report['requests_per_second']}/s)",
        f"errors: {report['errors']} (5xx: {report['status_5xx']}, 429: {report['status_429']})",
        f"revoked tokens accepted after their revocation returned: {report['revoked_accepted']} "
        f"of {report['revoked_probes']} presentations",
        "",
        f"{'kind':<13}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}",
    ]
    for kind, row in report["latency"].items():
        lines.append(
            f"{kind:<13}{row['count']:>8}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['max_ms']:>9}"
        )
    for error in report["first_errors"]:
        lines.append(f"error: {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="duration (at most 180)")
    parser.add_argument("--clients", type=int, default=48, help="concurrent clients (users)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn workers per instance (default: CPU cores)",
    )
    parser.add_argument(
        "--instances", type=int, default=2, help="gunicorn instances sharing DB and Redis"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")
    report = run(args.seconds, args.clients, args.workers, args.instances, args.seed)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = report["errors"] or report["revoked_accepted"] or report["tracebacks_logged"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
