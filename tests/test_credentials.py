"""Finding the credential: one Bearer or DPoP token from the header, or the access cookie."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from jwtauth import credentials
from jwtauth.credentials import (
    BEARER,
    COOKIE,
    DPOP,
    HEADER,
    Credential,
    MalformedCredential,
    find,
    parse_header,
)
from jwtauth.exceptions import TokenError

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"  Bearer   {TOKEN}  "],
)
def test_a_bearer_value_yields_its_token(value: str) -> None:
    assert parse_header(value) == (BEARER, TOKEN)


@pytest.mark.parametrize("value", [f"DPoP {TOKEN}", f"dpop {TOKEN}", f"DPOP  {TOKEN} "])
def test_a_dpop_value_yields_its_token_and_scheme(value: str) -> None:
    # RFC 9449 §7.1, with RFC 9110 §11.1's case-insensitive scheme name.
    assert parse_header(value) == (DPOP, TOKEN)


@pytest.mark.parametrize(
    "value",
    ["", "Basic YWxpY2U6cHc=", "Token abc", "Digest username=x", "Bearertoken", "DPoPtoken"],
)
def test_other_schemes_are_no_credential(value: str) -> None:
    assert parse_header(value) is None


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("Bearer", BEARER),
        ("Bearer ", BEARER),
        (f"Bearer {TOKEN} {TOKEN}", BEARER),
        (f"Bearer {TOKEN},Bearer {TOKEN}", BEARER),
        (f"Bearer {TOKEN}, Basic YWxpY2U6cHc=", BEARER),
        (f"Basic YWxpY2U6cHc=, Bearer {TOKEN}", BEARER),
        (f"Bearer {TOKEN}==", BEARER),
        (f"Bearer {TOKEN}\x00", BEARER),
        ("Bearer tökën", BEARER),
        ("DPoP", DPOP),
        (f"DPoP {TOKEN} {TOKEN}", DPOP),
        (f"DPoP {TOKEN}, DPoP {TOKEN}", DPOP),
        (f"DPoP {TOKEN}, Bearer {TOKEN}", DPOP),
        (f"Bearer {TOKEN}, DPoP {TOKEN}", BEARER),
        (f"Basic YWxpY2U6cHc=, DPoP {TOKEN}", DPOP),
    ],
)
def test_anything_but_exactly_one_token_is_refused(value: str, scheme: str) -> None:
    with pytest.raises(MalformedCredential) as refused:
        parse_header(value)
    # A token error, answered with the challenge of the scheme the header named.
    assert isinstance(refused.value, TokenError)
    assert refused.value.scheme == scheme


def test_find_reads_the_header(rf: RequestFactory) -> None:
    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert find(request) == Credential(TOKEN, HEADER)
    assert find(request).scheme == BEARER  # type: ignore[union-attr]


def test_find_reads_a_dpop_header(rf: RequestFactory) -> None:
    request = rf.get("/", HTTP_AUTHORIZATION=f"DPoP {TOKEN}")
    assert find(request) == Credential(TOKEN, HEADER, DPOP)


def test_find_reads_the_access_cookie_in_cookie_mode(rf: RequestFactory, settings: Any) -> None:
    settings.JWTAUTH_COOKIES = True
    settings.JWTAUTH_ACCESS_COOKIE = "__Host-at"
    request = rf.get("/")
    request.COOKIES["__Host-at"] = TOKEN
    assert find(request) == Credential(TOKEN, COOKIE)
    settings.JWTAUTH_COOKIES = False
    assert find(request) is None


def test_the_header_is_preferred_to_the_cookie(rf: RequestFactory) -> None:
    request = rf.get("/", HTTP_AUTHORIZATION="Bearer header.token.x")
    request.COOKIES["auth_token"] = TOKEN
    assert find(request) == Credential("header.token.x", HEADER)


def test_another_scheme_falls_back_to_the_cookie(rf: RequestFactory) -> None:
    request = rf.get("/", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=")
    request.COOKIES["auth_token"] = TOKEN
    assert find(request) == Credential(TOKEN, COOKIE)


@pytest.mark.parametrize("name", ["access_token", "token", "auth_token", "jwt", "bearer"])
def test_the_query_string_and_the_body_are_never_read(rf: RequestFactory, name: str) -> None:
    assert find(rf.get(f"/?{name}={TOKEN}")) is None
    assert find(rf.post("/", {name: TOKEN})) is None


def test_an_empty_cookie_is_no_credential(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.COOKIES["auth_token"] = ""
    assert find(request) is None
    assert credentials.find(rf.get("/")) is None
