"""Scenario ``requests``: microseconds per request through the full middleware stack.

Every contender (bare view, jwtauth's paths, DRF with each library, the floor's parts) runs a
batch per round in a shuffled order, for ``--rounds`` rounds of ``--requests`` calls; wall and
this thread's CPU time; overheads and ratios paired within each round before the median.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness import Bench, Contender, say
from benchmarks.report import fmt

NAME = "requests"


def run(bench: Bench) -> None:
    """Time each contender through the full middleware stack, and the floor's parts."""
    import jwt
    from django.conf import settings
    from django.test import override_settings

    from benchmarks.comparison.views import floor_key
    from jwtauth.backends import verify_access
    from jwtauth.revocation import load_user
    from jwtauth.tokens import decode

    say("per-request timings (test client, full middleware stack)")
    redis_client = bench.redis()
    probe = floor_key()
    redis_client.set(probe, 0)
    key = settings.JWTAUTH_SECRET_KEY
    audience, issuer = settings.JWTAUTH_AUDIENCE, settings.JWTAUTH_ISSUER
    token = bench.jw_access
    sub = str(bench.user.pk)

    def user_cache() -> Any:
        return override_settings(JWTAUTH_USER_CACHE=True)

    contenders = [
        Contender("bare", "bare Django view (no auth)", bench.get("plain", "/bare/", None)),
        Contender(
            "jw_plain",
            "jwtauth, plain view, not reading user",
            bench.get("jwtauth", "/jwtauth/auth-only/", token),
        ),
        Contender(
            "jw_user",
            "jwtauth, plain view, reading request.user",
            bench.get("jwtauth", "/jwtauth/user/", token),
        ),
        Contender(
            "jw_user_uc",
            "jwtauth, plain view, reading request.user, USER_CACHE",
            bench.get("jwtauth", "/jwtauth/user/", token),
            user_cache,
        ),
        Contender(
            "drf_base",
            "DRF, fixed-user authentication (DRF baseline)",
            bench.get("plain", "/drf/baseline/", None),
        ),
        Contender(
            "jw_drf",
            "DRF + jwtauth (with its middleware)",
            bench.get("jwtauth", "/drf/jwtauth/", token),
        ),
        Contender(
            "jw_drf_uc",
            "DRF + jwtauth, USER_CACHE",
            bench.get("jwtauth", "/drf/jwtauth/", token),
            user_cache,
        ),
        Contender(
            "jw_drf_alone",
            "DRF + jwtauth's DRF class alone (no middleware)",
            bench.get("plain", "/drf/jwtauth/", token),
        ),
        Contender(
            "sj_drf",
            "DRF + simplejwt JWTAuthentication",
            bench.get("plain", "/drf/simplejwt/", bench.sj_access),
        ),
        Contender(
            "pyjwt",
            "PyJWT jwt.decode of the same token",
            lambda: jwt.decode(token, key, algorithms=["HS256"], audience=audience, issuer=issuer),
        ),
        Contender("redis_get", "one Redis GET (redis-py)", lambda: redis_client.get(probe)),
        Contender(
            "floor_view",
            "floor in a request: plain view doing PyJWT decode + one Redis GET",
            bench.get("plain", "/floor/", token),
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
    bench.rounds(contenders, bench.args.rounds, bench.args.requests)
    bench.report.data["per_request"] = {
        c.key: {"wall": c.samples, "cpu": c.cpu} for c in contenders
    }
    wall = overheads({c.key: c.samples for c in contenders})
    cpu = overheads({c.key: c.cpu for c in contenders})
    rows = [[c.label, fmt(c.samples), fmt(c.cpu)] for c in contenders]
    rows.append(["floor = PyJWT decode + Redis GET", fmt(wall["floor"]), fmt(cpu["floor"])])
    bench.report.table(
        "µs per request",
        ["contender", "wall µs, median [IQR]", "CPU µs (this thread), median [IQR]"],
        rows,
        f"{bench.args.rounds} rounds x {bench.args.requests} requests each, round-robin in a "
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
    bench.report.table(
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
        bench.report.target(
            name,
            goal,
            f"{m(wall[key]):.2f} x wall ({m(cpu[key]):.2f} x CPU)",
            m(wall[key]) <= limit,
        )
    redis_client.delete(probe)


def overheads(by: dict[str, list[float]]) -> dict[str, list[float]]:
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
