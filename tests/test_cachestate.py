"""The cache's side of revocation: key names, the gate around a failing cache."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from jwtauth import cachestate
from jwtauth.cachestate import cutoff_key, gate, micros, session_key, token_key, user_key

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_key_helpers_name_distinct_keys_under_one_prefix() -> None:
    keys = {token_key("a"), session_key("a", "a"), cutoff_key("a"), user_key("a")}
    assert len(keys) == 4
    assert all(key.startswith("jwtauth:") for key in keys)


def test_a_session_key_names_its_owner() -> None:
    assert session_key("s", 1) != session_key("s", 2)


def test_micros_counts_from_the_epoch() -> None:
    assert micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005


def test_a_per_process_cache_is_never_handed_out(settings: Any) -> None:
    settings.CACHES = LOCMEM
    assert cachestate.shared_alias() is None
    assert cachestate.get_cache() is None


def test_a_trip_bypasses_the_cache_for_the_retry_delay(settings: Any, caplog: Any) -> None:
    settings.JWTAUTH_CACHE_RETRY_AFTER = 30
    assert not gate.bypassing()
    with caplog.at_level(logging.WARNING, logger="jwtauth"):
        gate.trip(ConnectionError("down"), "a test")
        gate.trip(ConnectionError("down"), "a test")
    assert gate.bypassing()
    assert len(caplog.records) == 1, "one warning per outage window, not per failure"
    gate.failed_at -= 30  # as if the retry delay had passed
    assert not gate.bypassing()


@pytest.mark.parametrize("setting", ["CACHES", "JWTAUTH_CACHE"])
def test_changing_the_cache_forgets_its_failures(settings: Any, setting: str) -> None:
    gate.trip(ConnectionError("down"), "a test")
    gate.queue(token_key("x"), 1)
    assert gate.bypassing()
    if setting == "CACHES":
        settings.CACHES = LOCMEM
    else:
        settings.JWTAUTH_CACHE = "default"
    assert not gate.bypassing()
    assert gate.pending == {}
