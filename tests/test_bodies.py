"""Reading request bodies: JSON or forms, bounded in size, with typed fields."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from jwtauth import bodies
from jwtauth.exceptions import InvalidRequest, PayloadTooLarge


def post(rf: RequestFactory, body: bytes, content_type: str, **extra: Any) -> Any:
    return rf.generic("POST", "/", body, content_type=content_type, **extra)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json", ""],
)
def test_json_objects_are_read(rf: RequestFactory, content_type: str) -> None:
    request = post(rf, b'{"username": "alice", "n": 1}', content_type)
    assert bodies.read(request) == {"username": "alice", "n": 1}


def test_forms_are_read(rf: RequestFactory) -> None:
    assert bodies.read(rf.post("/", {"username": "alice", "cookie": "on"})) == {
        "username": "alice",
        "cookie": "on",
    }
    urlencoded = post(rf, b"username=alice&password=x", "application/x-www-form-urlencoded")
    assert bodies.read(urlencoded) == {"username": "alice", "password": "x"}


def test_an_empty_body_is_an_empty_object(rf: RequestFactory) -> None:
    assert bodies.read(post(rf, b"", "application/json")) == {}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b"1", "application/json"),
        (b'"x"', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"n": ' + b"1" * 5000 + b"}", "application/json"),
        (b"username=alice", "text/plain"),
        (b"<x/>", "application/xml"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data"),
    ],
)
def test_malformed_bodies_are_bad_requests(
    rf: RequestFactory, body: bytes, content_type: str
) -> None:
    with pytest.raises(InvalidRequest):
        bodies.read(post(rf, body, content_type))


def test_a_body_over_the_limit_is_too_large(rf: RequestFactory, settings: Any) -> None:
    settings.JWTAUTH_MAX_BODY_SIZE = 10
    with pytest.raises(PayloadTooLarge):
        bodies.read(post(rf, b'{"u": "12345678"}', "application/json"))
    assert bodies.read(post(rf, b'{"u": "1"}', "application/json")) == {"u": "1"}


def test_a_declared_length_over_the_limit_is_refused_unread(rf: RequestFactory) -> None:
    request = post(rf, b"{}", "application/json", CONTENT_LENGTH="10000000")
    with pytest.raises(PayloadTooLarge):
        bodies.body(request)


def test_a_body_over_djangos_own_limit_is_too_large(rf: RequestFactory, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 8
    with pytest.raises(PayloadTooLarge):
        bodies.body(post(rf, b'{"u": "123456789"}', "application/json"))


def test_a_non_numeric_content_length_is_a_bad_request(rf: RequestFactory) -> None:
    with pytest.raises(InvalidRequest):
        bodies.body(post(rf, b"{}", "application/json", CONTENT_LENGTH="ten"))


def test_the_body_survives_a_form_parse_after_it_was_read(rf: RequestFactory) -> None:
    request = rf.post("/", {"username": "alice"})
    raw = bodies.body(request)
    assert request.POST["username"] == "alice"  # what the CSRF check does
    assert bodies.read(request) == {"username": "alice"}
    assert request.body == raw


def test_string_fields() -> None:
    data = {"u": "alice", "n": 1, "e": "", "z": "a\x00b", "s": "x\ud800", "l": "abcd"}
    assert bodies.string(data, "u") == "alice"
    for name in ("n", "e", "z", "s", "missing"):
        with pytest.raises(InvalidRequest):
            bodies.string(data, name)
    with pytest.raises(InvalidRequest):
        bodies.string(data, "l", max_length=3)
    assert bodies.string(data, "l", max_length=4) == "abcd"


def test_optional_string_fields() -> None:
    assert bodies.optional_string({}, "r") is None
    assert bodies.optional_string({"r": None}, "r") is None
    assert bodies.optional_string({"r": ""}, "r") is None
    assert bodies.optional_string({"r": "t"}, "r") == "t"
    with pytest.raises(InvalidRequest):
        bodies.optional_string({"r": 5}, "r")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("1", True),
        ("on", True),
        ("YES", True),
        (False, False),
        ("false", False),
        ("", False),
        (None, False),
    ],
)
def test_flags(value: Any, expected: bool) -> None:
    assert bodies.flag({"cookie": value}, "cookie") is expected
    assert bodies.flag({}, "cookie") is False


@pytest.mark.parametrize("value", [1, 0, ["true"], {"on": True}])
def test_a_flag_of_another_type_is_a_bad_request(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        bodies.flag({"cookie": value}, "cookie")
