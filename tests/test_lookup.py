"""The direct MGET reader: same answers as django-redis, and no reply ever read twice."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import redis
from django.core.cache import caches

from jwtauth import lookup

pytestmark = pytest.mark.redis

OPTIONS = {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25}


def redis_caches(url: Any, key_function: str | None = None, **options: Any) -> dict[str, Any]:
    """Return a CACHES setting with django-redis on ``url`` as the default cache."""
    default = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {**OPTIONS, **options},
    }
    if key_function:
        default["KEY_FUNCTION"] = key_function
    return {"default": default}


@pytest.fixture
def server(private_redis: Any, settings: Any) -> Any:
    """Make a private Redis, which the test may kill or freeze, the default cache."""
    settings.CACHES = redis_caches(private_redis.url)
    return private_redis


def readers(server: Any) -> int:
    """Return how many connections to ``server`` last sent an MGET (the lookup's own)."""
    with server.client() as client:
        return sum(1 for row in client.client_list() if row["cmd"] == "mget")


def test_django_redis_gets_the_direct_reader(server: Any) -> None:
    assert isinstance(lookup.reader(), lookup.Reader)


@pytest.mark.parametrize("protocol", [2, 3])
def test_both_protocols_get_the_direct_reader(server: Any, settings: Any, protocol: int) -> None:
    settings.CACHES = redis_caches(server.url, CONNECTION_POOL_KWARGS={"protocol": protocol})
    cache = caches["default"]
    cache.set_many({"present": 7, "obj": {"a": 1}}, 60)
    assert isinstance(lookup.reader(), lookup.Reader)
    assert lookup.get_many(cache, ["present", "absent", "obj"]) == {"present": 7, "obj": {"a": 1}}


@pytest.mark.parametrize(
    "options",
    [
        {"key_function": "tests.test_lookup.reversed_key"},
        {"CONNECTION_POOL_KWARGS": {"decode_responses": True}},
    ],
    ids=["own key function", "decoded replies"],
)
def test_other_set_ups_keep_get_many(server: Any, settings: Any, options: Any) -> None:
    settings.CACHES = redis_caches(server.url, **options)
    cache = caches["default"]
    assert lookup.reader() is None
    if "decode_responses" not in str(options):  # django-redis cannot unpickle str replies
        cache.set("present", 7)
        assert lookup.get_many(cache, ["present", "absent"]) == {"present": 7}


def test_several_servers_keep_get_many(server: Any, settings: Any) -> None:
    settings.CACHES = redis_caches([server.url, server.url])  # a primary and a replica
    assert lookup.reader() is None


def reversed_key(key: str, key_prefix: str, version: int) -> str:
    """Build keys differently from Django's default (for the test above)."""
    return f"{version}|{key_prefix}|{key}"


def test_answers_match_django_redis(server: Any) -> None:
    cache = caches["default"]
    values = {"int": 1, "big": 1_732_000_000_123_456, "neg": -1, "obj": {"a": [1, "é"]}}
    values["k:é:ü"] = "non-ASCII key"  # lengths go out in bytes, not characters
    values["long"] = "x" * 100_000  # a reply larger than one read
    cache.set_many(values, 60)
    keys = [*values, "missing"]
    assert lookup.get_many(cache, keys) == cache.get_many(keys) == values


def test_sequential_lookups_share_one_connection(server: Any) -> None:
    cache = caches["default"]
    cache.set("k", 1, 60)
    for _ in range(50):
        assert lookup.get_many(cache, ["k"]) == {"k": 1}
    assert readers(server) == 1


def test_a_connection_closed_while_idle_is_replaced(server: Any) -> None:
    cache = caches["default"]
    cache.set("k", 1, 60)
    assert lookup.get_many(cache, ["k"]) == {"k": 1}
    with server.client() as admin:
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    assert lookup.get_many(cache, ["k"]) == {"k": 1}  # no error: retried on a new connection


def test_a_restarted_server_is_reconnected(server: Any) -> None:
    cache = caches["default"]
    cache.set("k", 1, 60)
    assert lookup.get_many(cache, ["k"]) == {"k": 1}
    server.stop()
    server.start()  # same port, empty
    assert lookup.get_many(cache, ["k"]) == {}


def test_a_late_reply_is_never_read_by_the_next_lookup(server: Any) -> None:
    cache = caches["default"]
    cache.set_many({"a": 1, "b": 2}, 60)
    assert lookup.get_many(cache, ["a"]) == {"a": 1}
    server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            lookup.get_many(cache, ["b"])
    finally:
        server.resume()
    # The frozen server now answers the MGET of "b" on the connection that timed out; had
    # that connection gone back on the stack, this lookup would read b's value for "a".
    for _ in range(3):
        assert lookup.get_many(cache, ["a"]) == {"a": 1}


def test_a_dead_server_raises_for_the_breaker(server: Any) -> None:
    cache = caches["default"]
    lookup.get_many(cache, ["k"])
    server.stop()
    with pytest.raises(redis.ConnectionError):
        lookup.get_many(cache, ["k"])


def test_threads_never_read_each_others_replies(server: Any) -> None:
    cache = caches["default"]
    cache.set_many({f"t{n}": n for n in range(8)}, 60)
    wrong: list[tuple[int, Any]] = []

    def work(n: int) -> None:
        for _ in range(300):
            found = lookup.get_many(cache, [f"t{n}", "absent"])
            if found != {f"t{n}": n}:
                wrong.append((n, found))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert 1 <= readers(server) <= 8  # at most one per thread


# Python 3.12 warns on any fork while other threads exist (earlier tests may leave idle ones);
# the child only does lookups on its own new connection and leaves through os._exit.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(server: Any) -> None:
    cache = caches["default"]
    cache.set_many({"parent": 1, "child": 2}, 60)
    assert lookup.get_many(cache, ["parent"]) == {"parent": 1}  # a connection is now idle
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which reports by exit status
        ok = all(lookup.get_many(cache, ["child"]) == {"child": 2} for _ in range(300))
        os._exit(0 if ok else 1)
    results = [lookup.get_many(cache, ["parent"]) for _ in range(300)]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(found == {"parent": 1} for found in results)
