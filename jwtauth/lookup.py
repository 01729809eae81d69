"""Read revocation entries from the cache in one round trip, as cheaply as Redis allows.

On django-redis's plain client (one server, default key function, no client-side caching)
the MGET goes out on redis-py connections kept here for this one command: the command
is packed by hand and sent with ``send_packed_command``, the reply read with ``read_response``.
That skips redis-py's per-command machinery (pool checkout with its readiness poll, retries,
metrics and event hooks), which costs more than the round trip itself. redis-py still opens,
authenticates and times out each connection, with the options django-redis gave its pool,
and parses the reply (RESP2 or RESP3, push messages included). Every other cache keeps
Django's ``get_many``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.base import default_key_func

from .conf import conf, derived


class Reader:
    """Send MGETs on connections of our own, made like the ones of a redis-py pool.

    A connection goes back on the idle stack only after its whole reply was read, so a
    timed-out or interrupted command can never leave a late reply for the next caller.
    """

    def __init__(self, pool: Any, prefix: str, decode: Any) -> None:
        self._connection_class = pool.connection_class
        self._connection_kwargs = dict(pool.connection_kwargs)
        self._prefix = prefix.encode()
        self._decode = decode
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._fork_lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """Return the values of ``keys`` that exist, decoded as django-redis would."""
        values = self.mget(keys)
        decode = self._decode
        return {key: decode(v) for key, v in zip(keys, values, strict=True) if v is not None}

    def mget(self, keys: list[str]) -> list[bytes | None]:
        """Return the raw values of ``keys`` (``None`` for a missing key)."""
        command = self._pack(keys)
        connection, reused = self._checkout()
        try:
            return self._call(connection, command, len(keys))
        except Exception as e:
            # A connection that sat idle may have been closed by a server restart, a
            # CLIENT KILL or an idle timeout: the other idle ones likely were too. Drop them
            # all and try once on a fresh connection. A timeout is not retried: a hung
            # server would make every request wait twice before the breaker trips.
            if not reused or not _is_closed(e):
                raise
            self._discard_idle()
            return self._call(self._connect(), command, len(keys))

    def _pack(self, keys: list[str]) -> bytes:
        # RESP2 array of bulk strings: every part is length-prefixed, so no key can break out.
        prefix = self._prefix
        parts = [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)]
        for key in keys:
            raw = prefix + key.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(parts)

    def _checkout(self) -> tuple[Any, bool]:
        if self._pid != os.getpid():
            self._after_fork()
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._connect(), False

    def _connect(self) -> Any:
        return self._connection_class(**self._connection_kwargs)

    def _call(self, connection: Any, command: bytes, count: int) -> list[bytes | None]:
        try:
            connection.send_packed_command([command], check_health=False)
            reply = connection.read_response()
            if not isinstance(reply, list) or len(reply) != count:
                raise _unexpected(reply)
        except BaseException:
            connection.disconnect()
            raise
        self._idle.append(connection)
        return reply

    def _discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.disconnect()

    def _after_fork(self) -> None:
        # A forked child must not share its parent's sockets: both would read each other's
        # replies. The parent's connections are abandoned here, not closed (redis-py only
        # shuts a socket down in the process that opened it).
        with self._fork_lock:
            if self._pid != os.getpid():
                self._idle = []
                self._pid = os.getpid()


def _is_closed(error: Exception) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError

    return isinstance(error, RedisConnectionError | ConnectionResetError | BrokenPipeError)


def _unexpected(reply: object) -> Exception:
    from redis.exceptions import ResponseError

    return ResponseError(f"unexpected reply to MGET: {type(reply).__name__}")


@derived
def reader() -> Reader | None:
    """Return the direct reader of the ``JWTAUTH_CACHE`` cache, or ``None`` for ``get_many``.

    Only django-redis's plain client qualifies: one server, the default key function (keys are
    ``<KEY_PREFIX>:<VERSION>:<key>``), no client-side caching and no decoded replies.
    Sentinel, sharded, herd and replicated set-ups, and other backends, keep the generic path.
    """
    try:
        import redis
        from django_redis.cache import RedisCache  # type: ignore[import-untyped]
        from django_redis.client import DefaultClient  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - both are dependencies
        return None
    cache: Any = caches[conf.CACHE]
    if type(cache) is not RedisCache or type(cache.client) is not DefaultClient:
        return None
    if cache.key_func is not default_key_func or len(getattr(cache.client, "_server", ())) != 1:
        return None
    pool = cache.client.get_client(write=False).connection_pool
    plain = type(pool) in {redis.ConnectionPool, redis.BlockingConnectionPool}
    if not plain or getattr(pool, "cache", None) is not None:
        return None
    if pool.connection_kwargs.get("decode_responses"):
        return None
    return Reader(pool, f"{cache.key_prefix}:{cache.version}:", cache.client.decode)


def get_many(cache: BaseCache, keys: list[str]) -> dict[str, Any]:
    """Return the values of ``keys`` in ``cache`` (the ``JWTAUTH_CACHE`` cache) in one MGET."""
    direct = reader()
    if direct is None:
        return cache.get_many(keys)
    return direct.get_many(keys)
