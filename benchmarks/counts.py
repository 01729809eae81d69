"""Scenario ``counts``: DB queries and Redis commands per authenticated request, steady state.

SQL statements through an execute wrapper, Redis commands as ``INFO commandstats`` deltas on the
server (exact on the run's private redis-server).
"""

from __future__ import annotations

from benchmarks.harness import Bench, say

NAME = "counts"


def run(bench: Bench) -> None:
    """Count DB queries and Redis commands per authenticated request, per contender."""
    from django.test import override_settings

    say("per-request DB queries and Redis commands")
    token, n = bench.jw_access, 20
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
        ("DRF + simplejwt", "plain", "/drf/simplejwt/", bench.sj_access, False),
    ]
    rows, data = [], {}
    for label, stack, path, tok, uc in cases:
        with override_settings(JWTAUTH_USER_CACHE=uc):
            call = bench.get(stack, path, tok)
            for _ in range(3):
                call()
            with bench.count() as counted:
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
    bench.report.data["counts"] = data
    bench.report.table(
        "Per authenticated request, steady state",
        ["contender", "DB queries", "Redis commands", "by command"],
        rows,
        f"Mean over {n} requests after 3 warm-up requests"
        + (
            "; Redis counted with INFO commandstats on the run's private server."
            if bench.private_redis
            else "; Redis counted with INFO commandstats on a shared server "
            "(other clients' commands may be included)."
        ),
    )
    plain = data["jwtauth, plain view, not reading user"]
    drf = data["DRF + jwtauth"]
    drf_uc = data["DRF + jwtauth, USER_CACHE"]
    round_trips = max(sum(d["redis"].values()) for d in (plain, drf, drf_uc))
    bench.report.target(
        "DB queries for revocation (view not reading user)",
        "0",
        f"{plain['queries']:g}",
        plain["queries"] == 0,
    )
    bench.report.target(
        "Redis round trips per request",
        "≤ 1",
        f"{round_trips:g}",
        round_trips <= 1,
    )
    bench.report.target(
        "DB queries with USER_CACHE, view reading user",
        "0",
        f"{drf_uc['queries']:g}",
        drf_uc["queries"] == 0,
    )
