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

from services import PASSWORD, Stack

from .traffic import LoadRun, Mix, summary

MAX_SECONDS = 180


def machine() -> dict[str, Any]:
    """Describe where the run happened: cores, CPU model, and how busy the machine was."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "loadavg_1min": round(os.getloadavg()[0], 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack, run the load for ``args.seconds``, tear down; return the report."""
    before = machine()
    with tempfile.TemporaryDirectory(prefix="jwtauth-load-") as tmp:
        stack = Stack(
            Path(tmp),
            db_name=f"jwtauth_load_{os.getpid()}",
            instances=args.instances,
            workers=args.workers,
        )
        try:
            stack.start()
            users = stack.create_users(args.clients)
            # Sessions not started by a real login come from this pool; when it runs dry,
            # every client logs in.
            pairs = stack.issue_sessions(users, args.pool) if args.login_share < 1 else []
            load = LoadRun(
                [s.address for s in stack.servers],
                clients=args.clients,
                usernames=users,
                password=PASSWORD,
                pairs=pairs,
                mix=Mix(
                    reads_per_session=args.reads,
                    refresh_every=args.refresh_every,
                    login_share=args.login_share,
                ),
                seed=args.seed,
            )
            outcome = load.run(args.seconds)
            report = summary(outcome)
            report["tracebacks_logged"] = bool(stack.tracebacks())
            report["pool_left"] = load.pool.qsize()
        finally:
            stack.close()
    report.update(
        command=" ".join(["python -m loadtest", *sys.argv[1:]]),
        clients=args.clients,
        instances=args.instances,
        workers_per_instance=stack.workers,
        mix={"reads": args.reads, "refresh_every": args.refresh_every, "login": args.login_share},
        machine=before,
        loadavg_1min_after=machine()["loadavg_1min"],
        first_errors=outcome.errors[:10],
        revoked_accepted_detail=outcome.revoked_accepted[:10],
    )
    return report


def render(report: dict[str, Any]) -> str:
    """Format the report for a terminal (and for docs/operations.md)."""
    m = report["machine"]
    mix = report["mix"]
    lines = [
        f"{report['seconds']} s, {report['clients']} clients, {report['instances']} gunicorn "
        f"instances x {report['workers_per_instance']} sync workers, PostgreSQL + Redis, loopback",
        f"sessions: {mix['reads']} reads, a refresh every {mix['refresh_every']}, then logout; "
        f"{mix['login']:.0%} start with a real login",
        f"machine: nproc={m['nproc']}, {m['cpu']}, Python {m['python']}, "
        f"load average {m['loadavg_1min']} before, {report['loadavg_1min_after']} after",
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
    add = parser.add_argument
    add("--seconds", type=float, default=120.0, help="duration (at most 180)")
    add("--clients", type=int, default=48, help="concurrent clients, one user each")
    add("--workers", type=int, default=None, help="gunicorn workers per instance (CPU cores)")
    add("--instances", type=int, default=2, help="gunicorn instances sharing DB and Redis")
    add("--reads", type=int, default=20, help="authenticated reads per session")
    add("--refresh-every", type=int, default=5, help="refresh after this many reads")
    add("--login-share", type=float, default=0.1, help="share of sessions from a real login")
    add("--pool", type=int, default=30, help="sessions issued beforehand per client")
    add("--seed", type=int, default=0)
    add("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")
    report = run(args)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = report["errors"] or report["revoked_accepted"] or report["tracebacks_logged"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
