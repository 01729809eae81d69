"""Keep revocation state in the shared cache: its keys, and a gate around the cache.

The gate hands the cache out while it works. After a failure it routes around the cache for
``JWTAUTH_CACHE_RETRY_AFTER`` seconds (a small circuit breaker), so that requests read the
database instead of each waiting for a timeout; revocation writes the cache missed are queued
and replayed when it answers again, and before trusting it again each process rewrites the
revocations of the last ``JWTAUTH_NEGATIVE_CACHE_TIMEOUT`` seconds from the database, so that
no "alive" entry cached before a revocation outlives the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver

from .checks import UNSHARED_CACHES
from .conf import conf, derived
from .models import RevokedToken, TokenSession, UserCutoff
from .tokens import now

logger = logging.getLogger("jwtauth")

DEAD = -1  # session value: revoked or unknown
WRITE_BURST = 0.05  # seconds after a cache failure during which writes queue without trying
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def token_key(jti: str) -> str:
    """Return the cache key of a token's revoked flag (1 revoked, 0 not)."""
    return f"jwtauth:t:{jti}"


def session_key(sid: str, user_id: object) -> str:
    """Return the cache key of a session's start time in µs, or ``DEAD``, under its owner.

    The owner is part of the key: a token naming another user's session (only a key holder
    can sign one) then never reads the owner's entry, nor caches "dead" over it.
    """
    return f"jwtauth:s:{user_id}:{sid}"


def cutoff_key(user_id: object) -> str:
    """Return the cache key of a user's cutoff in µs (0 for none)."""
    return f"jwtauth:c:{user_id}"


def user_key(user_id: object) -> str:
    """Return the cache key of a cached user object (``JWTAUTH_USER_CACHE``)."""
    return f"jwtauth:u:{user_id}"


def micros(moment: datetime) -> int:
    """Return ``moment`` as whole microseconds since the epoch."""
    return (moment - _EPOCH) // _MICROSECOND


class _CacheGate:
    """Hand out the cache while it works; after a failure, route around it for a while."""

    def __init__(self) -> None:
        self.failed_at = 0.0
        self.stale = False
        self.pending: dict[str, int | None] = {}
        self.lock = threading.Lock()

    def bypassing(self) -> bool:
        """Tell whether the cache failed less than ``JWTAUTH_CACHE_RETRY_AFTER`` seconds ago."""
        # The setting is read here, not when tripping, so that it applies at once when changed;
        # but only after a failure: the usual request must not pay a settings lookup for it.
        if not self.failed_at:
            return False
        return self.failed_within(float(conf.CACHE_RETRY_AFTER))

    def failed_within(self, seconds: float) -> bool:
        """Tell whether the cache failed less than ``seconds`` ago."""
        return bool(self.failed_at) and time.monotonic() - self.failed_at < seconds

    def trip(self, error: Exception, action: str) -> None:
        """Stop using the cache for ``JWTAUTH_CACHE_RETRY_AFTER`` seconds."""
        if not self.bypassing():
            logger.warning(
                "jwtauth cache unavailable during %s (%s); using the database for %ss",
                action,
                error.__class__.__name__,
                conf.CACHE_RETRY_AFTER,
            )
        self.failed_at = time.monotonic()
        self.stale = True

    def queue(self, key: str, value: int | None) -> None:
        """Remember a revocation write the cache missed, to replay when it is back."""
        with self.lock:
            self.pending[key] = value

    def reset(self) -> None:
        """Forget failures and pending writes (tests and settings changes)."""
        self.failed_at = 0.0
        self.stale = False
        with self.lock:
            self.pending.clear()


gate = _CacheGate()


@receiver(setting_changed)
def _on_cache_changed(*, setting: str, **kwargs: Any) -> None:
    # Failures and missed writes belong to the cache they happened on, not to its successor.
    if setting in {"CACHES", "JWTAUTH_CACHE"}:
        gate.reset()


@derived
def shared_alias() -> str | None:
    """Return the alias of the cache revocation state lives in, ``None`` if per-process."""
    from django.conf import settings

    backend = settings.CACHES.get(conf.CACHE, {}).get("BACKEND")
    return None if backend in UNSHARED_CACHES else conf.CACHE


def get_cache() -> BaseCache | None:
    """Return the shared cache, or ``None`` when it is per-process or currently failing."""
    alias = shared_alias()
    if alias is None or gate.bypassing():
        return None
    cache = caches[alias]
    if gate.pending:
        _replay(cache)
        if gate.bypassing():  # the replay found the cache still failing
            return None
    if gate.stale and not _repair(cache):
        return None
    return cache


def _repair(cache: BaseCache) -> bool:
    # A hung or partitioned Redis comes back with its data, "alive" fills included, while
    # other processes may have revoked meanwhile and reached only the database (their missed
    # writes wait in *their* queues). No fill outlives NEGATIVE_CACHE_TIMEOUT, so writing
    # every revocation of that last window again, from the database, overrules each stale
    # entry before this process trusts the cache again.
    since = now() - timedelta(seconds=int(conf.NEGATIVE_CACHE_TIMEOUT))
    revoked = RevokedToken.objects.filter(revoked_at__gte=since).values_list("jti", flat=True)
    entries: dict[str, int] = {token_key(jti): 1 for jti in revoked}
    ended = TokenSession.objects.filter(revoked_at__gte=since).values_list("sid", "user_id")
    entries.update((session_key(sid, user_id), DEAD) for sid, user_id in ended)
    cutoffs = UserCutoff.objects.filter(cutoff__gte=since).values_list("user_id", "cutoff")
    entries.update((cutoff_key(user_id), micros(cutoff)) for user_id, cutoff in cutoffs)
    try:
        if entries:
            cache.set_many(entries, int(conf.NEGATIVE_CACHE_TIMEOUT))
    except Exception as e:
        gate.trip(e, "a cache repair")
        return False
    gate.stale = False
    return True


def _replay(cache: BaseCache) -> None:
    # Revocations whose cache write failed are written again once the cache is back, so a
    # "not revoked" entry that survived the outage cannot outlive the revocation.
    with gate.lock:
        pending, gate.pending = gate.pending, {}
    for key, value in pending.items():
        if not gate.bypassing():
            write(cache, key, value, conf.refresh_lifetime)
            continue
        with gate.lock:  # the cache failed again; a write queued since the swap is newer
            gate.pending.setdefault(key, value)


def write(cache: BaseCache | None, key: str, value: int | None, ttl: int) -> None:
    """Write a revocation entry (``None`` deletes it), or queue it while the cache fails."""
    # A revocation tries the cache even while lookups bypass it: other processes may be reading
    # the cache again already (it came back before this one's retry delay ran out) and must not
    # keep an "alive" entry filled before this revocation. Only the writes right after a failure
    # queue without trying (the rest of a bulk revocation, a replay against a cache still hung),
    # so a hung cache costs one timeout per revoking request, not one per key.
    alias = shared_alias()
    if alias is None:
        return
    if gate.failed_within(min(WRITE_BURST, float(conf.CACHE_RETRY_AFTER))):
        gate.queue(key, value)
        return
    if cache is None:
        cache = caches[alias]
    try:
        if value is None:
            cache.delete(key)
        else:
            cache.set(key, value, ttl)
    except Exception as e:
        gate.trip(e, "a revocation write")
        gate.queue(key, value)
