"""Keep revocation state in Redis so that a revocation that answered success holds everywhere.

The database is the truth; Redis holds, per token, its session and its user, either a
*tombstone* (revoked: safe to keep however long) or an *alive* entry filled from the database
(dangerous once stale, so it never lives longer than ``JWTAUTH_NEGATIVE_CACHE_TIMEOUT``).
Redis can refuse writes, lose them, or come back with older data; the design note
``docs/design/revocation-consistency.md`` walks through each fault. The mechanism, in short:

* A **state key** holds ``<run_id>:<generation>``. ``run_id`` names the Redis process whose data
  has been *repaired* (the entries of every recent revocation cleared), so a restart from
  a snapshot, a failover or a flush shows as a state that does not name the server being read.
  Every lookup reads the state in the same MGET as the entries, and trusts them only when the
  state names the server, as learnt on this connection since it last (re)connected.
* Every revocation rewrites the generation, so a reader that filled from a database read made
  before the revocation is refused (fills are conditional on the state they started from).
* A revocation deletes its entries before the database commits (a refusal aborts it) and
  writes tombstones after; it answers success only when both landed (and, under Sentinel,
  reached the replicas). Under OOM the entries and the state are deleted instead of written,
  which Redis still allows.

Only django-redis caches take part (reached through its public ``get_redis_connection``); any
other backend leaves revocation checks to the database.
"""

from __future__ import annotations

import hashlib
import logging
import pickle  # nosec B403 - entries jwtauth wrote itself, as django-redis pickles by default
import secrets
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import router
from django.dispatch import receiver

from .clock import now
from .conf import cached_until_settings_change, conf
from .models import DeletedUser, RevokedToken, TokenSession, UserCutoff

logger = logging.getLogger("jwtauth")

# Caches a revocation in one process cannot reach the others through: never used for state.
UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}
DEAD = -1  # session value: revoked or unknown
STATE_KEY = "jwtauth:state"
# App servers stamp revocations with their own clocks; the repair reads this much further back.
CLOCK_MARGIN = timedelta(seconds=60)
REPAIR_BATCH = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# KEYS[1] the state key. Return this server's run_id and the state.
_VALIDATE = """
local info = redis.call('INFO', 'server')
return {string.match(info, 'run_id:(%x+)'), redis.call('GET', KEYS[1])}
"""
# KEYS[1] the state, KEYS[2..] entries; ARGV[1] a new generation, ARGV[2] 'bump' (a
# revocation: keep the run_id, if it is this server's) or 'claim' (a repair: name this server),
# then a value ('' deletes) and a TTL per entry. A write Redis refuses (OOM) becomes a DEL of
# the entry and of the state, which Redis still allows: lookups then read the database.
_WRITE = """
local refused = false
for i = 2, #KEYS do
  local value, ttl = ARGV[2 * i - 1], ARGV[2 * i]
  if value == '' then
    redis.call('DEL', KEYS[i])
  else
    local reply = redis.pcall('SET', KEYS[i], value, 'EX', ttl)
    if type(reply) == 'table' and reply.err then
      refused = reply.err
      redis.call('DEL', KEYS[i])
    end
  end
end
if refused then
  redis.call('DEL', KEYS[1])
  return 'deleted: ' .. refused
end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local state = redis.call('GET', KEYS[1])
local ours = state and string.sub(state, 1, #run_id + 1) == run_id .. ':'
if ours or ARGV[2] == 'claim' then
  local reply = redis.pcall('SET', KEYS[1], run_id .. ':' .. ARGV[1])
  if type(reply) == 'table' and reply.err then
    redis.call('DEL', KEYS[1])
    return reply.err
  end
end
return 'ok'
"""
# KEYS[1] the state, KEYS[2..] entries; ARGV[1] the state the reader saw, then value and TTL
# per entry. Add-if-absent, and only if no revocation (or repair) happened since that read.
_FILL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  redis.pcall('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ARGV[2 * i - 1], 'NX')
end
return 1
"""


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


class CacheWriteFailed(Exception):
    """The cache could not be brought to refuse a revocation (unreachable, read-only, slow)."""


class _Breaker:
    """Route lookups around the cache for a while after it failed, instead of timing out each."""

    def __init__(self) -> None:
        self.failed_at = 0.0

    def bypassing(self) -> bool:
        """Tell whether the cache failed less than ``JWTAUTH_CACHE_RETRY_AFTER`` seconds ago."""
        # The setting is read only after a failure: the usual request must not pay for it.
        if not self.failed_at:
            return False
        return time.monotonic() - self.failed_at < conf.CACHE_RETRY_AFTER

    def trip(self, error: BaseException, action: str) -> None:
        """Stop using the cache for lookups for ``JWTAUTH_CACHE_RETRY_AFTER`` seconds."""
        if not self.bypassing():
            logger.warning(
                "jwtauth cache unavailable during %s (%s); using the database for %ss",
                action,
                error.__class__.__name__,
                conf.CACHE_RETRY_AFTER,
            )
        self.failed_at = time.monotonic()

    def reset(self) -> None:
        """Forget failures (tests and settings changes)."""
        self.failed_at = 0.0


gate = _Breaker()


@receiver(setting_changed)
def _on_cache_changed(*, setting: str, **kwargs: Any) -> None:
    # Failures belong to the cache they happened on, not to its successor.
    if setting in {"CACHES", "JWTAUTH_CACHE"}:
        gate.reset()


@dataclass(slots=True)
class Claim:
    """An entry to record once (a DPoP proof's ``jti``), in the same round trip as a lookup.

    ``taken`` is ``True`` when this request recorded it, ``False`` when it was recorded before,
    and stays ``None`` when the cache could not be asked (the caller decides: fail closed).
    """

    name: str
    ttl: int
    taken: bool | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one lookup read: the entries present, and the state they were read under."""

    values: dict[str, bytes]
    state: bytes


class _Script:
    """A Lua script sent by its SHA1, and in full when the server does not know it yet."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def run(self, connection: Any, keys: list[str], args: list[Any]) -> Any:
        from redis.exceptions import NoScriptError

        connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return connection.read_response()
        except NoScriptError:  # a restart, a failover or SCRIPT FLUSH forgot it
            connection.send_command("EVAL", self.source, len(keys), *keys, *args)
            return connection.read_response()


VALIDATE, WRITE, FILL = _Script(_VALIDATE), _Script(_WRITE), _Script(_FILL)


def _bytes(value: Any) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class RedisStore:
    """Read and write revocation entries on the master of one django-redis cache.

    Connections come from the client's own pool (``get_connection``/``release``, so its
    ``max_connections`` holds). Each connection is validated once after every (re)connect —
    redis-py calls back on each one — by learning the server's ``run_id`` and repairing the
    server's data if its state names another; until then nothing read on it is trusted.
    """

    def __init__(self, alias: str) -> None:
        from django_redis import get_redis_connection  # type: ignore[import-untyped]

        self.cache: Any = caches[alias]
        # Always the master: a replica may lag behind a revocation that answered success.
        self.pool = get_redis_connection(alias, write=True).connection_pool
        self.state_key = self.cache.make_key(STATE_KEY)
        self.replicas = _replicas(self.pool)
        self._run_ids: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()

    def key(self, name: str) -> str:
        """Return the Redis key of the entry ``name`` (the cache's prefix and version)."""
        return str(self.cache.make_key(name))

    @contextmanager
    def connection(self) -> Iterator[tuple[Any, bytes]]:
        """Lend a validated connection and the run_id of its server; drop it on any error."""
        connection = self.pool.get_connection()
        try:
            run_id = self._run_ids.get(connection)
            if run_id is None:
                run_id = self._validate(connection)
            yield connection, run_id
        except BaseException:
            # An interrupted command may have left a reply unread: never hand it on.
            connection.disconnect()
            raise
        finally:
            self.pool.release(connection)

    def forget_connections(self) -> None:
        """Validate every connection again before its next use."""
        self._run_ids.clear()

    def _forget_connection(self, connection: Any) -> None:
        # Called by redis-py on every (re)connect: the server may be another one now.
        self._run_ids.pop(connection, None)

    def _validate(self, connection: Any) -> bytes:
        connection.register_connect_callback(self._forget_connection)
        run_id, state = VALIDATE.run(connection, [self.state_key], [])
        run_id = _bytes(run_id)
        if not run_id:
            raise CacheWriteFailed("the server did not report its run_id")
        state = _bytes(state)
        if not _names(state, run_id):
            self._repair(connection, state)
        self._run_ids[connection] = run_id
        return run_id

    def _repair(self, connection: Any, state: bytes | None) -> None:
        names = list(dict.fromkeys(recently_revoked()))
        if state is None:
            # First use, a flush or the state evicted: nothing stale can be there (no entry is
            # filled without a state), so this is routine.
            reason, log = "has no jwtauth state (first use, a flush)", logger.info
        else:
            # Data written under another Redis process: a restart from disk or a failover.
            reason, log = "names another Redis process (a restart or a failover)", logger.warning
        log(
            "jwtauth cache state %s: clearing %d recently revoked entries before trusting it",
            reason,
            len(names),
        )
        for start in range(0, len(names), REPAIR_BATCH):
            batch = dict.fromkeys(names[start : start + REPAIR_BATCH], (None, 1))
            last = start + REPAIR_BATCH >= len(names)
            self._write(connection, batch, "claim" if last else "bump")
        if not names:
            self._write(connection, {}, "claim")

    def read(self, names: list[str], claim: Claim | None = None) -> Snapshot | None:
        """Return the entries ``names`` that exist, or ``None`` when the cache cannot be trusted.

        With ``claim``, its ``SET NX`` goes out in the same packet as the MGET (one round trip)
        and ``claim.taken`` says whether it was new, trusted state or not.
        """
        keys = [self.key(name) for name in names]
        with self.connection() as (connection, run_id):
            if claim is None:
                connection.send_command("MGET", self.state_key, *keys)
                reply = connection.read_response()
            else:
                reply = self._read_and_claim(connection, keys, claim)
        state = _bytes(reply[0])
        if state is None or self._run_ids.get(connection) != run_id or not _names(state, run_id):
            # Reconnected meanwhile, or the state changed under us (flushed, evicted, replaced
            # by another server's): validate (and repair) before the next use.
            self._run_ids.pop(connection, None)
            return None
        values = {n: v for n, v in zip(names, reply[1:], strict=True) if v is not None}
        return Snapshot(values, state)

    def _read_and_claim(self, connection: Any, keys: list[str], claim: Claim) -> Any:
        commands = [
            ("MGET", self.state_key, *keys),
            ("SET", self.key(claim.name), 1, "NX", "EX", max(1, claim.ttl)),
        ]
        connection.send_packed_command(connection.pack_commands(commands))
        reply = connection.read_response()
        claim.taken = connection.read_response() is not None  # OK when set, nil when present
        return reply

    def fill(self, snapshot: Snapshot, entries: Mapping[str, tuple[bytes, int]]) -> None:
        """Add ``entries`` (name: value, TTL) unless a revocation came after ``snapshot``."""
        keys: list[str] = [self.state_key]
        args: list[Any] = [snapshot.state]
        for name, (value, ttl) in entries.items():
            keys.append(self.key(name))
            args += [value, ttl]
        with self.connection() as (connection, _):
            FILL.run(connection, keys, args)

    def write(self, entries: Mapping[str, tuple[int | None, int]]) -> None:
        """Write tombstones (``None`` deletes) and a new generation, or raise CacheWriteFailed."""
        with self.connection() as (connection, _):
            self._write(connection, entries, "bump")

    def _write(
        self, connection: Any, entries: Mapping[str, tuple[int | None, int]], mode: str
    ) -> None:
        keys: list[str] = [self.state_key]
        args: list[Any] = [secrets.token_hex(8), mode]
        for name, (value, ttl) in entries.items():
            keys.append(self.key(name))
            args += ["" if value is None else value, max(1, ttl)]
        outcome = _bytes(WRITE.run(connection, keys, args)) or b""
        if outcome.startswith(b"deleted: ") and mode == "bump":
            # Refused (OOM) but deleted instead, the state with it: every process now reads
            # the database until a repair succeeds, so the revocation is in force.
            logger.warning(
                "jwtauth cache refused a write, entries deleted instead: %s", _text(outcome)
            )
        elif outcome != b"ok":
            raise CacheWriteFailed(f"Redis refused the write ({_text(outcome)})")
        if self.replicas:
            timeout = int(conf.CACHE_REPLICA_TIMEOUT * 1000)
            connection.send_command("WAIT", self.replicas, timeout)
            acknowledged = connection.read_response()
            if acknowledged < self.replicas:
                raise CacheWriteFailed(
                    f"{acknowledged} of {self.replicas} replicas acknowledged the write"
                )


def _names(state: bytes | None, run_id: bytes) -> bool:
    return state is not None and state.startswith(run_id + b":")


def _text(outcome: bytes | None) -> str:
    return (outcome or b"no answer").decode(errors="replace")[:200]


def _replicas(pool: Any) -> int:
    configured = conf.CACHE_MIN_REPLICAS
    if configured is not None:
        return int(configured)
    from redis.sentinel import SentinelConnectionPool

    # Under Sentinel a failover may promote a replica that missed the write: wait for one.
    return 1 if isinstance(pool, SentinelConnectionPool) else 0


@cached_until_settings_change
def store() -> RedisStore | None:
    """Return the store revocation state lives in, or ``None`` to read the database alone."""
    backend = settings.CACHES.get(conf.CACHE, {}).get("BACKEND")
    if backend in UNSHARED_CACHES:
        return None
    try:
        return RedisStore(conf.CACHE)
    except (ImportError, NotImplementedError, AttributeError):
        return None  # not django-redis (check jwtauth.W001 says so)


# Reading ---------------------------------------------------------------------------------


def read(names: list[str], claim: Claim | None = None) -> Snapshot | None:
    """Return a snapshot of the entries ``names``, or ``None``: read the database, fill nothing.

    ``claim`` rides along in the same round trip (see :class:`Claim`).
    """
    redis_store = store()
    if redis_store is None or gate.bypassing():
        return None
    try:
        return redis_store.read(names, claim)
    except Exception as e:
        gate.trip(e, "a revocation lookup")
        if claim is not None:
            claim.taken = None  # the reply may not have been read: it proves nothing
        return None


def fill(snapshot: Snapshot, entries: Mapping[str, tuple[bytes, int]]) -> None:
    """Add entries read from the database, unless a revocation happened since ``snapshot``."""
    redis_store = store()
    if redis_store is None or not entries:
        return
    try:
        redis_store.fill(snapshot, entries)
    except Exception as e:
        gate.trip(e, "a cache fill")


def encode_user(user: Any) -> bytes:
    """Return the cache value of a user object."""
    return pickle.dumps(user, pickle.HIGHEST_PROTOCOL)


def decode_user(value: bytes) -> Any:
    """Return the user object of a cache value."""
    return pickle.loads(value)  # noqa: S301  # nosec B301 - written by encode_user


# Writing ---------------------------------------------------------------------------------


def write(entries: Mapping[str, tuple[int | None, int]]) -> None:
    """Make every process refuse what ``entries`` revoke, or raise :class:`CacheWriteFailed`.

    ``entries`` maps entry names to (value, TTL in seconds); a value of ``None`` deletes.
    The breaker is ignored: the other processes may be reading the cache right now.
    """
    redis_store = store()
    if redis_store is None or not entries:
        return
    try:
        redis_store.write(entries)
    except CacheWriteFailed:
        raise
    except Exception as e:
        gate.trip(e, "a revocation write")
        raise CacheWriteFailed(e.__class__.__name__) from e


def forget(names: list[str]) -> None:
    """Delete entries that are no longer true, best effort (a miss only costs a query)."""
    try:
        write(dict.fromkeys(names, (None, 1)))
    except CacheWriteFailed as e:
        logger.warning("jwtauth could not clear %d cache entries (%s)", len(names), e)


# Repair ----------------------------------------------------------------------------------


def recently_revoked() -> Iterator[str]:
    """Yield the entry of every revocation that an alive entry still in the cache could contradict.

    An alive entry lives at most ``JWTAUTH_NEGATIVE_CACHE_TIMEOUT`` seconds, so only the
    revocations of that last window (plus a margin for clock skew) can be missing from a cache
    restored from a snapshot, promoted in a failover or just flushed. The repair deletes these
    entries rather than writing tombstones: the rows it reads may be a transaction's own, not
    yet committed, and a delete is true whatever becomes of them (a miss reads the database).
    """
    moment = now()
    since = moment - timedelta(seconds=conf.NEGATIVE_CACHE_TIMEOUT) - CLOCK_MARGIN
    alias = router.db_for_write(RevokedToken)
    tokens = RevokedToken.objects.using(alias).filter(revoked_at__gte=since, expires_at__gt=moment)
    for jti in tokens.values_list("jti", flat=True).iterator():
        yield token_key(jti)
    ended = TokenSession.objects.using(alias).filter(revoked_at__gte=since, expires_at__gt=moment)
    for sid, user_id in ended.values_list("sid", "user_id").iterator():
        yield session_key(sid, user_id)
    cutoffs = UserCutoff.objects.using(alias).filter(cutoff__gte=since)
    for user_id in cutoffs.values_list("user_id", flat=True).iterator():
        yield cutoff_key(user_id)
    deleted = DeletedUser.objects.using(alias).filter(deleted_at__gte=since)
    for deleted_id in deleted.values_list("user_id", flat=True).iterator():
        yield cutoff_key(deleted_id)


def reset() -> None:
    """Forget every validated connection and failure (tests and settings changes)."""
    gate.reset()
    redis_store = store()
    if redis_store is not None:
        redis_store.forget_connections()
