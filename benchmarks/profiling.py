"""``--profile``: function calls per request and where jwtauth's request path spends its time.

Not a scenario with tables: its cProfile listing is printed after the report, in a code block.
"""

from __future__ import annotations

from benchmarks.harness import Bench


def run(bench: Bench) -> str:
    """Profile the request paths with cProfile; return the summary as text.

    Function calls per request are deterministic, so they compare paths (and versions)
    even on a busy machine; the listings show where the jwtauth path spends its time.
    """
    import cProfile
    import io
    import pstats

    from django.test import override_settings

    n = max(500, bench.args.requests * 2)
    token = bench.jw_access
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
        ("DRF + simplejwt", "plain", "/drf/simplejwt/", bench.sj_access, False),
    ]
    out = io.StringIO()
    out.write("Function calls per request (cProfile, deterministic):\n\n")
    kept: dict[str, pstats.Stats] = {}
    for label, stack, path, tok, uc in paths:
        with override_settings(JWTAUTH_USER_CACHE=uc):
            call = bench.get(stack, path, tok)
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
