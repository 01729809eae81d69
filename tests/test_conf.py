"""The conf object: defaults, call-time reads, and derived values forgotten on change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jwtauth.conf import DEFAULTS, cached_until_settings_change, conf
from jwtauth.keys import keyring


def test_every_default_is_readable(settings: Any) -> None:
    for name in DEFAULTS:
        if not hasattr(settings, f"JWTAUTH_{name}"):
            assert getattr(conf, name) == DEFAULTS[name]


def test_unknown_setting_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NOPE"):
        conf.NOPE  # noqa: B018


def test_values_are_read_at_call_time(settings: Any) -> None:
    settings.JWTAUTH_ISSUER = "first"
    assert conf.ISSUER == "first"
    settings.JWTAUTH_ISSUER = "second"
    assert conf.ISSUER == "second"


def test_values_kept_between_reads_follow_every_change(settings: Any) -> None:
    from django.test import override_settings

    settings.JWTAUTH_LEEWAY = 3
    assert conf.LEEWAY == 3
    assert vars(conf)["LEEWAY"] == 3  # kept: the next read is a dictionary hit
    with override_settings(JWTAUTH_LEEWAY=7):
        assert conf.LEEWAY == 7
    assert conf.LEEWAY == 3


@pytest.mark.parametrize(
    ("value", "seconds"), [(timedelta(minutes=15), 900), (timedelta(hours=0.25), 900), (60, 60)]
)
def test_lifetimes_in_seconds(settings: Any, value: Any, seconds: int) -> None:
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = value
    assert conf.access_lifetime == seconds


def test_derived_values_are_rebuilt_when_settings_change(settings: Any) -> None:
    settings.JWTAUTH_SECRET_KEY = "a" * 64
    first = keyring()
    assert keyring() is first
    settings.JWTAUTH_SECRET_KEY = "b" * 64
    assert keyring() is not first
    assert keyring().signing_kid != first.signing_kid


def test_derived_ignores_unrelated_settings(settings: Any) -> None:
    calls: list[int] = []

    @cached_until_settings_change
    def built() -> int:
        calls.append(1)
        return len(calls)

    assert built() == built() == 1
    settings.LANGUAGE_CODE = "fr"
    assert built() == 1
    settings.JWTAUTH_LEEWAY = 5
    assert built() == 2


def test_threads_racing_the_first_call_build_the_value_once() -> None:
    import threading

    built: list[int] = []
    gate = threading.Barrier(8)

    @cached_until_settings_change
    def expensive() -> int:
        built.append(1)
        return len(built)

    def call() -> None:
        gate.wait()
        assert expensive() == 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [1]  # one cache store built, not one per racing thread (one pool each)
