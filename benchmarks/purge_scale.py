"""Measure ``purge_revoked_tokens`` on a large table: wall time, peak RSS, longest batch.

Usage (from the repository root, PostgreSQL reachable)::

    .venv/bin/python benchmarks/purge_scale.py [--expired 1000000] [--live 100000]
        [--batch-size 5000] [--server postgres://postgres@127.0.0.1:5432/postgres] [--keep]

It creates a scratch database ``jwtauth_purgebench`` (dropped at the end unless ``--keep``),
migrates it with the demo site, fills ``jwtauth_revokedtoken`` server-side with
``generate_series`` (live rows interleaved with expired ones: every 11th row by default), then
runs ``manage.py purge_revoked_tokens -v 2`` in a fresh process. Peak RSS is that process's
own ``ru_maxrss`` (``os.wait4``), the longest batch comes from its ``-v 2`` lines, and the live
rows are fingerprinted (id, jti, expiry and ``xmin``, PostgreSQL's row-version id) before and
after, so a live row deleted, updated or rewritten would show.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services import Database  # noqa: E402 - importable once the repository root is on the path

SCRATCH = "jwtauth_purgebench"
BATCH = re.compile(r"^revoked tokens: batch \d+ deleted (\d+) rows .* in (\d+\.\d+) s$")
TARGETS = {"peak_rss_mb": 150.0, "longest_batch_s": 1.0}


def site_env(url: str) -> dict[str, str]:
    """Return the environment the demo site's manage.py runs with against ``url``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        DATABASE_URL=url,
        DJANGO_DEBUG="False",
        DJANGO_HTTPS="False",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SECRET_KEY=secrets.token_urlsafe(64),
    )
    return env


def fill(url: str, expired: int, live: int) -> None:
    """Insert ``expired`` + ``live`` revoked-token rows server-side, live ones interleaved."""
    total = expired + live
    every = max(1, total // live) if live else 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO jwtauth_revokedtoken
                (jti, token_type, user_id, expires_at, revoked_at, reason, revoked_by_id)
            SELECT substr(md5(i::text), 1, 22),
                   CASE WHEN i %% 2 = 0 THEN 'access' ELSE 'refresh' END,
                   NULL,
                   CASE WHEN %(every)s > 0 AND i %% %(every)s = 0 AND i / %(every)s <= %(live)s
                        THEN now() + interval '1 day' + (i %% 86400) * interval '1 second'
                        ELSE now() - interval '1 hour' - (i %% 86400) * interval '1 second'
                   END,
                   now() - interval '2 days',
                   'benchmark',
                   NULL
            FROM generate_series(1, %(total)s) AS i
            """,
            {"every": every, "live": live, "total": total},
        )
        conn.execute("VACUUM ANALYZE jwtauth_revokedtoken")


def fingerprint(url: str) -> tuple[int, int, str]:
    """Return (expired rows, live rows, md5 of every live row's id, jti, expiry and xmin)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE expires_at < now()),
                   count(*) FILTER (WHERE expires_at >= now()),
                   md5(coalesce(string_agg(id || ':' || jti || ':' || expires_at || ':' || xmin,
                                           ',' ORDER BY id) FILTER (WHERE expires_at >= now()),
                                ''))
            FROM jwtauth_revokedtoken
            """
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2])


def migrate(env: dict[str, str]) -> None:
    """Create the demo site's tables in the scratch database."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def measured(env: dict[str, str], *args: str) -> tuple[str, float, float]:
    """Run ``manage.py args`` in a fresh process; return stdout, wall seconds, its peak RSS MB."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {child.returncode}")
    return out, wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    """Build the table, purge it, and print the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expired", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--server",
        default=os.environ.get("PURGEBENCH_SERVER", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="A PostgreSQL URL with the right to create databases.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()

    scratch = Database(args.server, SCRATCH)
    url = scratch.url
    env = site_env(url)
    scratch.create()
    try:
        migrate(env)
        t = time.perf_counter()
        fill(url, args.expired, args.live)
        print(
            f"filled {args.expired:,} expired + {args.live:,} live rows in "
            f"{time.perf_counter() - t:.1f} s"
        )
        expired_before, live_before, live_print = fingerprint(url)
        # The same process doing nothing but start Django: the floor under the purge's RSS.
        _, _, baseline_rss = measured(env, "check")
        out, wall, rss = measured(
            env, "purge_revoked_tokens", "-v", "2", "--batch-size", str(args.batch_size)
        )
        expired_after, live_after, live_print_after = fingerprint(url)
    finally:
        if not args.keep:
            scratch.drop()

    batches = [(int(m[1]), float(m[2])) for m in map(BATCH.fullmatch, out.splitlines()) if m]
    summary = out.strip().splitlines()[-1]
    longest = max((s for _, s in batches), default=0.0)
    figures = {
        "rows before (expired / live)": f"{expired_before:,} / {live_before:,}",
        "rows after (expired / live)": f"{expired_after:,} / {live_after:,}",
        "live rows untouched (id, jti, expiry, xmin)": str(live_print == live_print_after),
        "batches": f"{len(batches)} of at most {args.batch_size} rows "
        f"(largest {max((n for n, _ in batches), default=0)})",
        "command summary": summary,
        "process wall time s (incl. Django start)": f"{wall:.2f}",
        "peak RSS MB (purge process, ru_maxrss)": f"{rss:.1f}",
        "peak RSS MB (same site, manage.py check)": f"{baseline_rss:.1f}",
        "longest batch s (range lookup + DELETE)": f"{longest:.3f}",
        "median batch s": f"{sorted(s for _, s in batches)[len(batches) // 2]:.3f}"
        if batches
        else "-",
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    ok = (
        rss <= TARGETS["peak_rss_mb"]
        and longest <= TARGETS["longest_batch_s"]
        and live_print == live_print_after
        and live_after == live_before
        and expired_after == 0
    )
    print(
        "targets (RSS <= 150 MB, batch <= 1 s, live intact, all expired gone):",
        "met" if ok else "NOT met",
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
