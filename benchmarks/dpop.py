"""Scenario ``dpop``: a DPoP request's authentication overhead against a bearer request's.

Issue 15's target: at most twice the bearer overhead. Measured like the ``requests`` scenario
(the comparison site in this process, Django's test client through the full middleware stack,
every contender timed each round in a shuffled order, overheads paired within a round):

- ``bare``: ``/bare/`` on Django's stack without jwtauth (the baseline);
- ``bearer``: ``/jwtauth/auth-only/`` on the stack with jwtauth's middleware, ``Authorization:
  Bearer`` with an HS256 access token;
- ``dpop``: the same view with ``Authorization: DPoP`` and a fresh ES256 proof per request
  (made before the timing, as a client makes it: one key, a new ``jti`` each), the token bound
  to the proof's key; the proof's ``jti`` is recorded against replay by a ``SET NX`` sent in the
  revocation lookup's own round trip;
- ``dpop, nonces``: the same with ``JWTAUTH_DPOP_NONCE`` on, the proof carrying the nonce;
- ``SET NX``: the replay record on a round trip of its own through Django's cache API, to show
  what pipelining it into the lookup saves.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Bench, Contender, say
from benchmarks.report import fmt

NAME = "dpop"
VIEW = "/jwtauth/auth-only/"
TARGET = 2.0


def run(bench: Bench) -> None:
    """Time bearer and DPoP requests side by side, and report the ratio of their overheads."""
    say("DPoP against bearer (test client, full middleware stack)")
    contenders = _contenders(bench)
    bench.rounds(contenders, bench.args.rounds, bench.args.requests)
    by = {c.key: c for c in contenders}
    wall = _overheads({key: c.samples for key, c in by.items()})
    cpu = _overheads({key: c.cpu for key, c in by.items()})
    bench.report.data["dpop"] = {c.key: {"wall": c.samples, "cpu": c.cpu} for c in contenders}
    bench.report.table(
        "DPoP against bearer, µs per request",
        ["contender", "wall µs, median [IQR]", "CPU µs (this thread), median [IQR]"],
        [[c.label, fmt(c.samples), fmt(c.cpu)] for c in contenders],
        f"{bench.args.rounds} rounds x {bench.args.requests} requests each, shuffled order; "
        "each DPoP request carries a proof made before the timing.",
    )
    rows = [
        [label, fmt(wall[key]), fmt(cpu[key])]
        for key, label in (
            ("bearer", "bearer - bare (µs)"),
            ("dpop", "DPoP - bare (µs)"),
            ("dpop_nonce", "DPoP with nonces - bare (µs)"),
            ("dpop / bearer", "DPoP / bearer (x)"),
            ("dpop_nonce / bearer", "DPoP with nonces / bearer (x)"),
        )
    ]
    bench.report.table("DPoP overhead (paired within each round)", ["", "wall", "CPU"], rows)
    ratio = statistics.median(wall["dpop / bearer"])
    bench.report.target(
        "DPoP request overhead vs bearer",
        f"≤ {TARGET:g} x",
        f"{ratio:.2f} x wall ({statistics.median(cpu['dpop / bearer']):.2f} x CPU)",
        ratio <= TARGET,
    )


def _contenders(bench: Bench) -> list[Contender]:
    from django.core.cache import cache
    from django.test import override_settings

    from jwtauth import dpop, sessions
    from jwtauth.dpop.client import DPoPKey

    key = DPoPKey.generate()
    proof = dpop.Proof(jkt=key.thumbprint, jti="login", iat=0, alg=key.alg)
    bound = sessions.start(bench.user, user_agent="bench", proof=proof).access
    client = bench.client["jwtauth"]
    url = f"http://testserver{VIEW}"

    def proofs(n: int, nonce: Callable[[], str | None] = lambda: None) -> list[Callable[[], Any]]:
        return [
            _get(
                client,
                {
                    "Authorization": f"DPoP {bound}",
                    "DPoP": key.proof("GET", url, access_token=bound, nonce=nonce()),
                },
            )
            for _ in range(n)
        ]

    counter = itertools.count()

    def set_nx(n: int) -> list[Callable[[], Any]]:
        keys = [f"jwtauth:dpop:bench-{next(counter)}" for _ in range(n)]
        return [lambda k=k: cache.add(k, 1, timeout=120) for k in keys]

    nothing = _get(client, {})
    return [
        Contender("bare", "bare Django view (no auth)", bench.get("plain", "/bare/", None)),
        Contender(
            "bearer", "jwtauth, Authorization: Bearer", bench.get("jwtauth", VIEW, bench.jw_access)
        ),
        Contender("dpop", "jwtauth, Authorization: DPoP + ES256 proof", nothing, batch=proofs),
        Contender(
            "dpop_nonce",
            "jwtauth, DPoP with server nonces",
            nothing,
            lambda: override_settings(JWTAUTH_DPOP_NONCE=True),
            batch=lambda n: proofs(n, dpop.current_nonce),
        ),
        Contender(
            "set_nx", "a replay SET NX on its own round trip (cache.add)", nothing, batch=set_nx
        ),
    ]


def _get(client: Any, headers: dict[str, str]) -> Callable[[], Any]:
    def call() -> None:
        status = client.get(VIEW, headers=headers).status_code
        if status != 200:
            raise RuntimeError(f"{VIEW} answered {status}")

    return call


def _overheads(by: dict[str, list[float]]) -> dict[str, list[float]]:
    def minus(a: str, b: str) -> list[float]:
        return [x - y for x, y in zip(by[a], by[b], strict=True)]

    out = {key: minus(key, "bare") for key in ("bearer", "dpop", "dpop_nonce")}
    for key in ("dpop", "dpop_nonce"):
        out[f"{key} / bearer"] = [x / y for x, y in zip(out[key], out["bearer"], strict=True)]
    return out
