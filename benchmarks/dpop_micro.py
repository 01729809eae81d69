#!/usr/bin/env python
"""Measure what a DPoP proof costs to verify, beside a bearer token's decode, in one process.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python benchmarks/dpop_micro.py [--n 4000] [--rounds 7] [--redis-url URL]

Every figure is a median over ``--rounds`` rounds of ``--n`` calls each, the contenders
interleaved round by round so machine noise hits each alike:

- ``decode`` - ``jwtauth.tokens.decode`` of an access token, HS256 (the default) and ES256;
- ``verify_proof`` cold - every call checks and parses its key afresh (key caches cleared);
- ``verify_proof`` warm - the key comes from the cache, as for a client's second request on;
  both with a no-op replay cache (Django's ``DummyCache``), so they time the verification;
- with ``--redis-url`` (or ``REDIS_URL``), also ``verify_proof`` with the replay cache on that
  Redis, the replay cache's ``SET NX`` alone, and a one-key ``MGET`` through the cache
  (``cache.get_many``, standing for the revocation lookup's round trip, which a bearer request
  pays), to put the proof in the per-request picture.

Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

URL = "https://api.example.test/items/7?page=2"
SECRET = "benchmark-secret-" + "k" * 48


def configure(redis_url: str | None) -> None:
    """Configure a minimal Django: one cache (Redis or a no-op), HS256 tokens."""
    import django
    from django.conf import settings

    if redis_url:
        cache = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"dpop-micro-{os.getpid()}",
        }
    else:
        cache = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.configure(
        SECRET_KEY="benchmark-django-secret-" + "x" * 40,
        INSTALLED_APPS=[],
        CACHES={
            "default": cache,
            "noop": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        },
        JWTAUTH_SECRET_KEY=SECRET,
        USE_TZ=True,
    )
    django.setup()


def es256_pem() -> str:
    """Return a fresh P-256 private key as PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def timed(calls: Iterator[Callable[[], Any]], n: int) -> float:
    """Return the mean time of ``n`` calls drawn from ``calls``, in microseconds."""
    batch = [next(calls) for _ in range(n)]
    started = time.perf_counter()
    for call in batch:
        call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    """Run the contenders round-robin and print the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="calls per contender per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None)
    args = parser.parse_args()
    configure(args.redis_url)

    from django.core.cache import caches
    from django.test.utils import override_settings

    from jwtauth import dpop, tokens
    from jwtauth.dpop import jwk
    from jwtauth.dpop.client import DPoPKey

    hs256, _ = tokens.encode(tokens.ACCESS, sub="1", sid="s" * 22, lifetime=3600)
    es256_settings = override_settings(JWTAUTH_ALGORITHM="ES256", JWTAUTH_PRIVATE_KEY=es256_pem())
    with es256_settings:
        es256, _ = tokens.encode(tokens.ACCESS, sub="1", sid="s" * 22, lifetime=3600)
    no_replay = override_settings(JWTAUTH_CACHE="noop")
    keys = {alg: DPoPKey.generate(alg) for alg in ("ES256", "Ed25519")}

    def proofs(alg: str, cold: bool = False) -> Iterator[Callable[[], Any]]:
        # Made ahead of the timing: a fresh jti each, as a client sends.
        key = keys[alg]
        while True:
            proof = key.proof("GET", URL, access_token=hs256)

            def call(proof: str = proof) -> Any:
                if cold:
                    jwk._load_members.cache_clear()
                    jwk._parse.cache_clear()
                return dpop.verify_proof(proof, method="GET", url=URL, access_token=hs256)

            yield call

    def repeat(call: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
        while True:
            yield call

    def fresh_adds() -> Iterator[Callable[[], Any]]:
        count = 0
        while True:
            count += 1
            yield lambda key=f"dpop-micro-{count}": caches["default"].add(key, 1, timeout=60)

    # name -> (calls, the settings to time them under)
    contenders: dict[str, tuple[Callable[[], Iterator[Callable[[], Any]]], Any]] = {
        "decode HS256 (bearer)": (lambda: repeat(lambda: tokens.decode(hs256)), nullcontext()),
        "decode ES256 (bearer)": (lambda: repeat(lambda: tokens.decode(es256)), es256_settings),
        "verify_proof ES256 cold, no replay": (lambda: proofs("ES256", cold=True), no_replay),
        "verify_proof ES256 warm, no replay": (lambda: proofs("ES256"), no_replay),
        "verify_proof Ed25519 warm, no replay": (lambda: proofs("Ed25519"), no_replay),
    }
    if args.redis_url:
        absent = ["jwtauth:t:absent"]
        contenders |= {
            "verify_proof ES256 warm, replay on Redis": (lambda: proofs("ES256"), nullcontext()),
            "replay SET NX alone (cache.add)": (fresh_adds, nullcontext()),
            "lookup MGET, one key (bearer's round trip)": (
                lambda: repeat(lambda: caches["default"].get_many(absent)),
                nullcontext(),
            ),
        }

    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (make, context) in contenders.items():
            with context:  # entered around the timing, not inside it
                samples[name].append(timed(make(), args.n))
    report({name: statistics.median(values) for name, values in samples.items()}, args)
    if args.redis_url:
        caches["default"].delete_pattern("*")  # type: ignore[attr-defined]


def report(medians: dict[str, float], args: argparse.Namespace) -> None:
    """Print the medians and the ratios that matter."""
    print(f"DPoP micro-benchmark: median of {args.rounds} rounds x {args.n} calls")
    for name, value in medians.items():
        print(f"  {name:<46} {value:8.1f} us")
    decode, verify = medians["decode HS256 (bearer)"], medians["verify_proof ES256 warm, no replay"]
    ratios = {
        "verify_proof ES256 warm / decode HS256": verify / decode,
        "verify_proof ES256 warm / decode ES256": verify / medians["decode ES256 (bearer)"],
        "verify_proof ES256 cold / warm": medians["verify_proof ES256 cold, no replay"] / verify,
    }
    if args.redis_url:
        # A bearer request's auth costs a decode and the lookup's round trip; a DPoP one adds
        # the proof's verification and the replay cache's SET NX (or, were the SET NX sent in
        # the lookup's round trip, the verification alone).
        bearer = decode + medians["lookup MGET, one key (bearer's round trip)"]
        set_nx = medians["replay SET NX alone (cache.add)"]
        ratios["auth cost, DPoP / bearer"] = (bearer + verify + set_nx) / bearer
        ratios["... with SET NX in the lookup's round trip"] = (bearer + verify) / bearer
    for name, ratio in ratios.items():
        print(f"  {name:<46} {ratio:8.2f} x")


if __name__ == "__main__":
    main()
