"""Scenario ``consistency``: what keeping the cache honest costs, per request and per revocation.

Issue 11 asks for it in microseconds. The mechanism is described in
``docs/design/revocation-consistency.md``; this scenario times each of its parts alone, in
this process, against the run's Redis and PostgreSQL, every contender in every round in a
shuffled order:

- **per request**: the revocation lookup as jwtauth sends it (``cachestate.read``: the state
  key in the same ``MGET`` as the entries, on a connection of django-redis's pool), the same
  ``MGET`` without the state key on the same kind of connection (the least a lookup through
  public APIs can cost), django-redis's ``cache.get_many`` (the plain public path), and the
  lookup's ``MGET`` on a connection kept checked out (what the removed private reader did:
  the difference is what the pool's public checkout and release cost);
- **per reconnect**: a lookup on a connection validated afresh (the ``INFO``/state script
  each connection runs once after it connects);
- **per revocation**: ``revocation.revoke_token`` whole (the row, the delete before the
  commit, the tombstones after it), each of the two cache writes alone, and one plain
  ``cache.set_many`` standing for the single after-commit write of a design without the
  mechanism;
- **per restart or failover**: the repair's stall on the first request after Redis comes
  back under another run_id, with a window of ``repair_rows`` recent revocations to clear.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from benchmarks.harness import Bench, Contender, say
from benchmarks.report import fmt

NAME = "consistency"


def run(bench: Bench) -> None:
    """Time the mechanism's parts and report them with the per-request and per-revocation sums."""
    say("cache consistency: lookup, reconnect, revocation")
    lookups, release = _lookups(bench)
    try:
        bench.rounds(lookups, bench.args.rounds, bench.args.requests)
    finally:
        release()
    writes = _writes(bench)
    bench.rounds(writes, bench.args.rounds, max(20, bench.args.requests // 4))
    by = {c.key: c for c in lookups + writes}
    bench.report.data[NAME] = {c.key: {"wall": c.samples, "cpu": c.cpu} for c in by.values()}
    bench.report.table(
        "Cache consistency, µs per operation",
        ["operation", "wall µs, median [IQR]", "CPU µs (this thread), median [IQR]"],
        [[c.label, fmt(c.samples), fmt(c.cpu)] for c in by.values()],
        f"{bench.args.rounds} rounds, shuffled order; lookups of 3 entries (token, session, "
        "user cutoff), as a request makes; revocations of one token.",
    )
    rows = [
        _row("state key in the lookup (read - bare MGET)", by, ("read",), ("mget",)),
        _row("read against get_many", by, ("read",), ("get_many",)),
        _row(
            "pool checkout and release, with the lookup's own code (read - kept connection)",
            by,
            ("read",),
            ("kept",),
        ),
        _row("validating a new connection (once per connect)", by, ("validate",), ("read",)),
        _row(
            "per revocation: both writes - one plain set_many",
            by,
            ("delete", "tombstone"),
            ("set_many",),
        ),
    ]
    repair = _repair(bench)
    rows.append(
        [
            f"per restart or failover: the repair, {repair['rows']:,} recent revocations",
            f"{repair['wall'] / 1000:.1f} ms",
            "",
        ]
    )
    bench.report.data[NAME]["repair"] = repair
    bench.report.table(
        "What the consistency mechanism costs (paired within each round)",
        ["cost", "wall", "CPU"],
        rows,
    )


def _row(
    label: str, by: dict[str, Contender], plus: tuple[str, ...], minus: tuple[str, ...]
) -> list[str]:
    def paired(attribute: str) -> list[float]:
        columns = [getattr(by[key], attribute) for key in plus]
        subtract = [getattr(by[key], attribute) for key in minus]
        return [
            sum(values[: len(plus)]) - sum(values[len(plus) :])
            for values in zip(*columns, *subtract, strict=True)
        ]

    return [label, fmt(paired("samples")) + " µs", fmt(paired("cpu")) + " µs"]


def _names(bench: Bench) -> list[str]:
    from jwtauth import cachestate, tokens

    token = tokens.decode(bench.jw_access)
    return [
        cachestate.token_key(token.jti),
        cachestate.session_key(token.sid, bench.user.pk),
        cachestate.cutoff_key(bench.user.pk),
    ]


def _lookups(bench: Bench) -> tuple[list[Contender], Callable[[], None]]:
    """Return the lookup contenders, and what gives back the connection one keeps meanwhile."""
    from django.core.cache import caches

    from jwtauth import cachestate
    from jwtauth.conf import conf

    names = _names(bench)
    store = cachestate.store()
    assert store is not None, "the benchmark's cache is django-redis"
    keys = [store.key(name) for name in names]
    cache = caches[conf.CACHE]

    def read() -> None:
        if cachestate.read(names) is None:
            raise RuntimeError("the lookup did not trust the cache")

    def mget() -> None:
        connection = store.pool.get_connection()
        try:
            connection.send_command("MGET", *keys)
            connection.read_response()
        finally:
            store.pool.release(connection)

    def validate() -> None:
        store.forget_connections()
        read()

    # What the removed private reader did: a connection of its own, never checked in.
    kept = store.pool.get_connection()

    def on_kept() -> None:
        kept.send_command("MGET", store.state_key, *keys)
        kept.read_response()

    contenders = [
        Contender("read", "lookup as sent: state key + 3 entries (cachestate.read)", read),
        Contender("mget", "the same MGET without the state key, pooled connection", mget),
        Contender(
            "get_many",
            "django-redis cache.get_many of the 3 entries",
            lambda: cache.get_many(names),
        ),
        Contender("validate", "lookup on a connection validated afresh", validate),
        Contender("kept", "the lookup's MGET on a connection kept checked out", on_kept),
    ]
    return contenders, lambda: store.pool.release(kept)


def _writes(bench: Bench) -> list[Contender]:
    from django.core.cache import caches

    from jwtauth import cachestate, revocation
    from jwtauth.clock import now
    from jwtauth.conf import conf

    cache = caches[conf.CACHE]
    counter = itertools.count()

    def fresh(n: int) -> list[str]:
        return [f"bench-consistency-{next(counter)}" for _ in range(n)]

    def revoke(n: int) -> list[Callable[[], Any]]:
        until = now() + timedelta(hours=1)
        return [
            lambda jti=jti: revocation.revoke_token(
                jti=jti, token_type="access", expires_at=until, user_id=bench.user.pk
            )
            for jti in fresh(n)
        ]

    def write(value: int | None) -> Callable[[int], list[Callable[[], Any]]]:
        def batch(n: int) -> list[Callable[[], Any]]:
            entries = [cachestate.token_key(jti) for jti in fresh(n)]
            return [lambda e=e: cachestate.write({e: (value, 3600)}) for e in entries]

        return batch

    def set_many(n: int) -> list[Callable[[], Any]]:
        entries = [cachestate.token_key(jti) for jti in fresh(n)]
        return [lambda e=e: cache.set_many({e: 1}, timeout=3600) for e in entries]

    nothing: Callable[[], Any] = lambda: None  # noqa: E731 - every contender here is batched
    return [
        Contender("revoke", "revoke_token, whole (row + both cache writes)", nothing, batch=revoke),
        Contender(
            "delete", "the delete before the commit (cachestate.write)", nothing, batch=write(None)
        ),
        Contender(
            "tombstone",
            "the tombstone after the commit (cachestate.write)",
            nothing,
            batch=write(1),
        ),
        Contender("set_many", "one plain cache.set_many (no mechanism)", nothing, batch=set_many),
    ]


def _repair(bench: Bench) -> dict[str, Any]:
    """Time the first lookup after Redis names another process, with recent revocations to clear."""
    from jwtauth import cachestate
    from jwtauth.clock import now
    from jwtauth.models import RevokedToken

    size = 1_000 if bench.args.quick else 10_000
    moment, until = now(), now() + timedelta(hours=1)
    rows = [
        RevokedToken(
            jti=f"bench-repair-{i}", token_type="access", expires_at=until, revoked_at=moment
        )
        for i in range(size)
    ]
    RevokedToken.objects.bulk_create(rows, batch_size=2000)
    store = cachestate.store()
    assert store is not None
    names = _names(bench)
    window = sum(1 for _ in cachestate.recently_revoked())
    samples = []
    try:
        for _ in range(3):
            bench.redis().set(store.state_key, b"another-run-id:1")
            store.forget_connections()
            start = time.perf_counter_ns()
            cachestate.read(names)
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        RevokedToken.objects.filter(jti__startswith="bench-repair-").delete()
    return {"rows": window, "wall": statistics.median(samples)}
