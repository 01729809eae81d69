"""Throttle failed logins per username and per client IP through the cache."""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import BaseCache, caches

from .conf import conf
from .exceptions import Throttled

logger = logging.getLogger("jwtauth")


def _username_key(username: str) -> str:
    # Hash the username: it is user input of any length and content, unfit for a cache key.
    digest = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
    return f"jwtauth:lf:u:{digest}"


def _ip_key(ip: str) -> str:
    return f"jwtauth:lf:ip:{ip}"


def _keys(username: str, ip: str | None) -> list[tuple[str, int]]:
    keys = [(_username_key(username), int(conf.LOGIN_FAILURE_LIMIT))]
    if ip:
        keys.append((_ip_key(ip), int(conf.LOGIN_IP_FAILURE_LIMIT)))
    return keys


def check(username: str, ip: str | None) -> None:
    """Raise :class:`Throttled` when the username or the IP has failed too often."""
    keys = _keys(username, ip)
    cache = caches[conf.CACHE]
    try:
        counts = cache.get_many([key for key, _ in keys])
    except Exception as e:
        logger.warning("login throttle unavailable (%s)", e.__class__.__name__)
        return
    for key, limit in keys:
        if limit and int(counts.get(key) or 0) >= limit:
            raise Throttled(retry_after=_seconds_left(cache, key))


def _seconds_left(cache: BaseCache, key: str) -> int:
    # The window is fixed, so the key's TTL is the honest Retry-After (RFC 9110 §10.2.3);
    # caches that cannot tell (LocMem) get the whole window, an upper bound.
    window = int(conf.LOGIN_FAILURE_WINDOW)
    ttl = getattr(cache, "ttl", None)  # django-redis
    if ttl is None:
        return window
    try:
        left = ttl(key)
    except Exception:
        return window
    return left if isinstance(left, int) and 0 < left <= window else window


def failed(username: str, ip: str | None) -> None:
    """Count one failed login for the username and the IP."""
    cache = caches[conf.CACHE]
    window = int(conf.LOGIN_FAILURE_WINDOW)
    try:
        for key, _ in _keys(username, ip):
            # add() opens the window once; incr() never extends it (a fixed window).
            cache.add(key, 0, window)
            cache.incr(key)
    except Exception as e:
        logger.warning("login throttle unavailable (%s)", e.__class__.__name__)


def succeeded(username: str) -> None:
    """Forget the username's failures after a successful login."""
    try:
        caches[conf.CACHE].delete(_username_key(username))
    except Exception as e:
        logger.warning("login throttle unavailable (%s)", e.__class__.__name__)
