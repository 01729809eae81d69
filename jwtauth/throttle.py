"""Throttle logins per username and per client network, counting each attempt before its hash.

A check-then-count throttle can be raced: concurrent guesses all pass the check while the
first hashes are still running. Here every attempt takes a slot first, with one atomic
increment per key, and is refused when it takes one past the limit, so however concurrent the
guesses, no more than the limit are ever checked against a password hash in one window. A
successful login gives its network slot back and forgets the username's failures.

The counters live in the shared cache behind the same breaker as revocation lookups: while the
cache is failing, logins are not throttled (rather than each one waiting for socket timeouts).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass, field

from django.core.cache import BaseCache, caches

from .cachestate import gate
from .conf import conf
from .exceptions import Throttled

logger = logging.getLogger("jwtauth")


def _username_key(username: str) -> str:
    # Hash the username: it is user input of any length and content, unfit for a cache key.
    digest = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
    return f"jwtauth:lf:u:{digest}"


def client_network(ip: str) -> str:
    """Return the network one client controls: the IPv4 address, or its IPv6 /64 by default.

    One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1 interface identifiers, and
    RFC 8981 temporary addresses rotate inside it), so counting per /128 would let one client
    spread its guesses over 2**64 keys.
    """
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is None:
            prefix = conf.LOGIN_IPV6_PREFIX
            return str(ipaddress.IPv6Network((address, prefix), strict=False))
        address = mapped
    return str(address)


def _ip_key(ip: str) -> str:
    return f"jwtauth:lf:ip:{client_network(ip)}"


@dataclass
class Attempt:
    """One login attempt's slots; give them back with :meth:`succeeded`."""

    username_key: str
    ip_key: str | None
    taken: list[str] = field(default_factory=list)

    def succeeded(self) -> None:
        """Forget the username's failures and give the network's slot back."""
        if not self.taken:
            return
        try:
            cache = _cache()
            if self.username_key in self.taken:
                cache.delete(self.username_key)
            if self.ip_key in self.taken:
                cache.decr(self.ip_key)
        except ValueError:
            pass  # the window ended meanwhile: nothing left to give back
        except Exception as e:
            _unavailable(e)


def _cache() -> BaseCache:
    return caches[conf.CACHE]


def _unavailable(error: Exception) -> None:
    gate.trip(error, "the login throttle")


def _take(cache: BaseCache, key: str, window: int) -> int:
    # add() opens a fixed window once; incr() never extends it. A key that expires between
    # the two is opened again.
    for _ in range(2):
        cache.add(key, 0, window)
        try:
            return int(cache.incr(key))
        except ValueError:
            continue
    return int(cache.incr(key))


def _seconds_left(cache: BaseCache, key: str, window: int) -> int:
    # The window is fixed, so the key's TTL is the honest Retry-After (RFC 9110 §10.2.3);
    # caches that cannot tell (LocMem) get the whole window, an upper bound.
    ttl = getattr(cache, "ttl", None)  # django-redis
    if ttl is None:
        return window
    try:
        left = ttl(key)
    except Exception:
        return window
    return left if isinstance(left, int) and 0 < left <= window else window


def reserve(username: str, ip: str | None) -> Attempt:
    """Count one attempt for the username and the client's network; raise :class:`Throttled`."""
    attempt = Attempt(_username_key(username), _ip_key(ip) if ip else None)
    if gate.bypassing():
        return attempt
    window = conf.LOGIN_FAILURE_WINDOW
    limits = [(attempt.username_key, conf.LOGIN_FAILURE_LIMIT)]
    if attempt.ip_key is not None:
        limits.append((attempt.ip_key, conf.LOGIN_IP_FAILURE_LIMIT))
    cache = _cache()
    for key, limit in limits:
        if not limit:
            continue
        try:
            taken = _take(cache, key, window)
        except Exception as e:
            _unavailable(e)
            return attempt
        attempt.taken.append(key)
        if taken > limit:
            raise Throttled(retry_after=_seconds_left(cache, key, window))
    return attempt
