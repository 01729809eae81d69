"""Scenario ``endpoints``: login, refresh and logout of both libraries, timed and counted.

Login includes one password hash, also timed alone; it is timed a second time for a user whose
password is stored with Django's MD5 hasher, which leaves the login's own cost (subtracting the
hash's median from the login's would subtract two noisy figures of about 300 ms). Refresh chains
each call on the previous answer's refresh token; logout uses sessions prepared beforehand.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.harness import PASSWORD, Bench, Contender, say
from benchmarks.report import fmt

NAME = "endpoints"


def run(bench: Bench) -> None:
    """Time login, refresh and logout of both libraries, with their SQL statements."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from jwtauth import sessions

    say("login, refresh and logout")
    a, b = bench.client["jwtauth"], bench.client["plain"]
    json_post = {"content_type": "application/json"}
    user = bench.user
    logins = bench.args.logins

    def post(client: Any, path: str, body: dict[str, Any], **extra: Any) -> Any:
        response = client.post(path, json.dumps(body), **json_post, **extra)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
        return response

    credentials = {"username": "bench", "password": PASSWORD}
    state = {"jw": bench.jw_pair.refresh, "sj": str(RefreshToken.for_user(user))}

    def jw_refresh() -> Any:
        state["jw"] = post(a, "/auth/refresh/", {"refresh": state["jw"]}).json()["refresh"]

    def sj_refresh() -> Any:
        state["sj"] = post(b, "/simplejwt/refresh/", {"refresh": state["sj"]}).json()["refresh"]

    per_round = max(5, bench.args.requests // 40)
    n_logout = per_round * bench.args.rounds + 10
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
            with bench.count() as counted:
                call()
            counts[f"{name}:{lib}"] = counted
    contenders = [
        Contender("hash", "check_password (PBKDF2, Django default)", hashing),
        Contender("jw_login", "jwtauth login", cases["login"][0]),
        Contender("sj_login", "simplejwt login", cases["login"][1]),
    ]
    bench.rounds_quiet(contenders, bench.args.login_rounds, logins)
    contenders += _fast_logins(bench, post, a, b)
    fast = [
        Contender("jw_refresh", "jwtauth refresh", jw_refresh),
        Contender("sj_refresh", "simplejwt refresh", sj_refresh),
        Contender("jw_logout", "jwtauth logout", jw_logout),
        Contender("sj_logout", "simplejwt logout", sj_logout),
    ]
    bench.rounds_quiet(fast, bench.args.rounds, per_round)
    by = {c.key: c.samples for c in contenders + fast}
    bench.report.data["endpoints"] = {
        "timings": by,
        "counts": {
            k: {"statements": [s for s, _ in v["statements"]], "redis": v["redis"]}
            for k, v in counts.items()
        },
    }

    rows = []
    for name in ("login", "refresh", "logout"):
        for lib, short in (("jwtauth", "jw"), ("simplejwt", "sj")):
            c = counts[f"{name}:{lib}"]
            statements = c["statements"]
            extra = f" ({fmt(by[f'{short}_fast'])} with MD5)" if name == "login" else ""
            rows.append(
                [
                    f"{name}, {lib}",
                    fmt(by[f"{short}_{name}"]) + extra,
                    str(len(statements)),
                    str(bench.transactions(statements)),
                    str(sum(c["redis"].values())),
                ]
            )
    rows.append(["check_password alone", fmt(by["hash"]), "0", "0", "0"])
    bench.report.table(
        "Login, refresh, logout (per call)",
        ["call", "µs, median (IQR)", "SQL statements", "transactions", "Redis commands"],
        rows,
        "Login includes one password hash (Django's default PBKDF2 hasher), shown alone on "
        "the last row; in brackets, the same login for a user whose password is stored with "
        "Django's MD5 hasher: the login's cost without the hash. simplejwt runs with "
        "ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION, the behaviour jwtauth always "
        "has; savepoints count as statements.",
    )
    refresh = counts["refresh:jwtauth"]["statements"]
    n_tx = bench.transactions(refresh)
    bench.report.target(
        "refresh: SQL statements / transactions",
        "≤ 4 in 1 transaction",
        f"{len(refresh)} statements in {n_tx} transaction(s)",
        len(refresh) <= 4 and n_tx == 1,
    )


def _fast_logins(bench: Bench, post: Any, a: Any, b: Any) -> list[Contender]:
    """Time both logins for a user whose hash costs microseconds, and return the contenders."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    credentials = {"username": "bench-md5", "password": PASSWORD}
    jw_path, sj_path = "/auth/login/", "/simplejwt/login/"
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        get_user_model()._default_manager.create_user("bench-md5", "md5@example.test", PASSWORD)
        fast = [
            Contender("jw_fast", "jwtauth login, MD5", lambda: post(a, jw_path, credentials)),
            Contender("sj_fast", "simplejwt login, MD5", lambda: post(b, sj_path, credentials)),
        ]
        for contender in fast:
            contender.call()  # warm
        bench.rounds_quiet(fast, bench.args.rounds, max(5, bench.args.requests // 40))
    return fast
