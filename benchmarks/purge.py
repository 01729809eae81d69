"""Scenario ``purge``: jwtauth's purge against simplejwt's flushexpiredtokens.

``compare()`` (called by :func:`run`) loads the same numbers of expired and live rows into both
libraries' tables of the benchmark database, server-side with ``generate_series``: jwtauth's
``RevokedToken`` rows, and simplejwt's ``OutstandingToken`` rows each with its
``BlacklistedToken`` (a revoked token, in simplejwt's terms). Each command then runs in a fresh
process (this module with ``--child``): wall time around ``call_command``, every SQL statement
and transaction timed through an execute wrapper, peak RSS from its own ``VmHWM``. Live rows are
fingerprinted (id, jti, expiry, ``xmin``) before and after, so a live row deleted or even
rewritten would show.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child process imports nothing it does not need: its RSS is measured
    from benchmarks.harness import Bench

NAME = "purge"
ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "jwtauth": ("purge_revoked_tokens", ["-v", "2"]),
    "simplejwt": ("flushexpiredtokens", []),
}
# Every 11th row is live: 1,000,000 expired + 100,000 live make 1,100,000 rows.
_FILL_REVOKED = """
INSERT INTO jwtauth_revokedtoken
    (jti, token_type, user_id, expires_at, revoked_at, reason, revoked_by_id)
SELECT 'purge-' || i, CASE WHEN i %% 2 = 0 THEN 'access' ELSE 'refresh' END, %(user)s,
       CASE WHEN i %% %(every)s = 0 AND i / %(every)s <= %(live)s
            THEN now() + interval '1 day' ELSE now() - interval '1 hour' END,
       now() - interval '2 days', 'benchmark', NULL
FROM generate_series(1, %(total)s) AS i
"""
_FILL_OUTSTANDING = """
INSERT INTO token_blacklist_outstandingtoken (user_id, jti, token, created_at, expires_at)
SELECT %(user)s, 'purge-' || i, repeat(md5(i::text), 8), now() - interval '2 days',
       CASE WHEN i %% %(every)s = 0 AND i / %(every)s <= %(live)s
            THEN now() + interval '1 day' ELSE now() - interval '1 hour' END
FROM generate_series(1, %(total)s) AS i
"""
_FILL_BLACKLISTED = """
INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at)
SELECT id, now() - interval '2 days' FROM token_blacklist_outstandingtoken
WHERE jti LIKE 'purge-%%'
"""
_FINGERPRINT = """
SELECT count(*) FILTER (WHERE expires_at < now()),
       count(*) FILTER (WHERE expires_at >= now()),
       md5(coalesce(string_agg(id || ':' || jti || ':' || expires_at || ':' || xmin, ','
                               ORDER BY id) FILTER (WHERE expires_at >= now()), ''))
FROM {table}
"""
TABLES = {"jwtauth": "jwtauth_revokedtoken", "simplejwt": "token_blacklist_outstandingtoken"}


def available() -> bool:
    """Tell whether jwtauth's purge command exists yet."""
    return (ROOT / "jwtauth" / "management" / "commands" / "purge_revoked_tokens.py").is_file()


def _connection() -> Any:
    from django.db import connection

    connection.ensure_connection()
    return connection


def fill(expired: int, live: int) -> None:
    """Insert the rows into both libraries' tables and vacuum them."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(username="bench").pk
    every = max(1, (expired + live) // live) if live else expired + 1
    params = {"user": user, "every": every, "live": live, "total": expired + live}
    with _connection().cursor() as cursor:
        for sql in (_FILL_REVOKED, _FILL_OUTSTANDING, _FILL_BLACKLISTED):
            cursor.execute(sql, params)
    raw = _connection().connection  # VACUUM cannot run inside a transaction block
    autocommit = raw.autocommit
    raw.autocommit = True
    try:
        for table in (*TABLES.values(), "token_blacklist_blacklistedtoken"):
            raw.execute(f"VACUUM ANALYZE {table}")
        raw.execute("CHECKPOINT")
    finally:
        raw.autocommit = autocommit


def fingerprint(lib: str) -> tuple[int, int, str]:
    """Return (expired rows, live rows, digest of every live row and its row version)."""
    with _connection().cursor() as cursor:
        cursor.execute(_FINGERPRINT.format(table=TABLES[lib]))
        expired, live, digest = cursor.fetchone()
    return int(expired), int(live), str(digest)


def measure(lib: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one library's purge command in a fresh process and return its figures."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", lib],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate()
    process_wall = time.perf_counter() - started
    if child.returncode:
        raise RuntimeError(f"{lib} purge failed ({child.returncode}):\n{err[-4000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_wall_s"] = process_wall
    # The child's own peak resident set (VmHWM), read as it finishes.
    result["peak_rss_mb"] = result["self_maxrss_kb"] / 1024
    return result


def compare(env: dict[str, str], *, expired: int, live: int) -> dict[str, Any]:
    """Fill both tables, purge each, and return the figures of both runs."""
    started = time.perf_counter()
    fill(expired, live)
    results: dict[str, Any] = {"fill_s": time.perf_counter() - started}
    baseline = measure("baseline", env)
    results["baseline_rss_mb"] = baseline["peak_rss_mb"]
    for lib in ("jwtauth", "simplejwt"):
        before = fingerprint(lib)
        result = measure(lib, env)
        after = fingerprint(lib)
        result["expired_before"], result["live_before"] = before[0], before[1]
        result["expired_after"], result["live_after"] = after[0], after[1]
        result["deleted"] = before[0] - after[0] + (before[1] - after[1])
        result["live_intact"] = before[1:] == after[1:]
        results[lib] = result
    return results


def run(bench: Bench) -> None:
    """Purge expired rows with both libraries' commands on the same numbers of rows."""
    from benchmarks.harness import say

    if not available():
        say("purge: jwtauth's purge_revoked_tokens command does not exist yet; skipped")
        bench.report.target("purge", "see below", "not measured (command missing)", None)
        return
    expired, live = (20_000, 2_000) if bench.args.quick else (1_000_000, 100_000)
    say(f"purge: loading {expired:,} expired + {live:,} live rows for each library")
    results = compare(bench.env(), expired=expired, live=live)
    bench.report.data["purge"] = results
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
    bench.report.table(
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
    bench.report.target("purge wall time vs simplejwt", "≤ 0.5 x", f"{ratio:.3f} x", ratio <= 0.5)
    bench.report.target(
        "purge peak RSS", "≤ 150 MB", f"{jw['peak_rss_mb']:.0f} MB", jw["peak_rss_mb"] <= 150
    )
    bench.report.target(
        "purge longest batch",
        "≤ 1 s",
        f"{jw['longest_batch_s']:.3f} s",
        jw["longest_batch_s"] <= 1.0,
    )
    bench.report.target(
        "purge leaves live rows intact",
        "all",
        "all" if jw["live_intact"] else "NOT",
        jw["live_intact"],
    )


# ----------------------------------------------------------------------------- child process


def _peak_rss_kb() -> int:
    # VmHWM belongs to this process's own address space, born at exec. ru_maxrss would not do:
    # Linux carries it over from the forked copy of the (large) parent into the exec'd child.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child(lib: str) -> None:
    """Run ``lib``'s purge command here, timing every statement; print figures as JSON."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if lib == "baseline":  # Django started, nothing purged: the floor under both RSS figures
        connection.ensure_connection()
        print(json.dumps({"self_maxrss_kb": _peak_rss_kb()}))
        return
    from benchmarks.harness import Transactions

    stats = {"statements": 0, "longest_statement_s": 0.0}
    spans: dict[int, list[float]] = {}
    transactions = Transactions(connection)

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        key = transactions.current()
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            end = time.perf_counter()
            stats["statements"] += 1
            stats["longest_statement_s"] = max(stats["longest_statement_s"], end - begin)
            span = spans.setdefault(key, [begin, end])
            span[1] = end

    name, args = COMMANDS[lib]
    output = io.StringIO()
    connection.ensure_connection()
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        call_command(name, *args, stdout=output)
    wall = time.perf_counter() - started
    longest_tx = max((end - begin for begin, end in spans.values()), default=0.0)
    batches = [
        float(line.rsplit(" in ", 1)[1].split()[0])
        for line in output.getvalue().splitlines()
        if ": batch " in line and " in " in line
    ]
    print(
        json.dumps(
            {
                "command": name,
                "wall_s": wall,
                "statements": stats["statements"],
                "longest_statement_s": stats["longest_statement_s"],
                "longest_transaction_s": longest_tx,
                "batches": len(batches) or 1,
                # The command's own per-batch timings when it reports them; otherwise its one
                # transaction is its one batch.
                "longest_batch_s": max(batches) if batches else longest_tx,
                "self_maxrss_kb": _peak_rss_kb(),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        _child(sys.argv[2])
    else:
        sys.exit("run benchmarks/run.py; this module's entry point is for its child processes")
