"""Fuzz the endpoints through Django's test client: headers, cookies and bodies of any shape.

Invariants, for every example:
- no 5xx, and no exception escapes (the test client re-raises any);
- jwtauth's endpoints answer errors as JSON with a stable ``error`` code;
- nothing forged is accepted: a 2xx needs a genuine token (or the right password) verbatim;
- rejected input leaves RevokedToken, TokenSession and UserCutoff exactly as they were (the one
  intended exception: a spent refresh token revokes its family, RFC 9700 §4.14.2).

Every example runs in a savepoint that is rolled back, on a cache emptied of the run's keys,
so each starts from the same live, rotated and spent tokens. ``JWTAUTH_FUZZ_EXAMPLES=<n>``
runs ``n`` examples per target instead of the CI-sized default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from hypothesis import event, given
from hypothesis import strategies as st

from jwtauth import cachestate, sessions, tokens
from jwtauth.models import RevokedToken, TokenSession, UserCutoff
from tests.conftest import PASSWORD
from tests.security.strategies import (
    authorization,
    cookie_header,
    credential,
    fuzz_settings,
    json_values,
    latin1_text,
)

PROTECTED = ["/api/me/", "/api/drf/me/", "/api/ninja/me/", "/auth/sessions/"]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "text/plain",
    "application/merge-patch+json",
    "",
]


@dataclass
class World:
    """Genuine tokens in every state: live, rotated (and its spent refresh), another user's."""

    live: tokens.TokenPair
    first: tokens.TokenPair
    rotated: tokens.TokenPair
    bob: tokens.TokenPair

    @property
    def accesses(self) -> list[str]:
        """Access tokens that are all still valid."""
        return [self.live.access, self.first.access, self.rotated.access, self.bob.access]

    @property
    def refreshes(self) -> list[str]:
        """Refresh tokens that may still be spent (the first pair's was rotated away)."""
        return [self.live.refresh, self.rotated.refresh, self.bob.refresh]

    @property
    def everything(self) -> list[str]:
        """Every genuine token string, spent ones included."""
        return [*self.accesses, *self.refreshes, self.first.refresh]


@pytest.fixture
def world(user: Any, other_user: Any) -> World:
    """Start three sessions of alice (one rotated once) and one of bob."""
    live = sessions.start(user)
    first = sessions.start(user)
    rotated = sessions.rotate(tokens.decode(first.refresh, tokens.REFRESH))
    bob = sessions.start(other_user)
    return World(live, first, rotated, bob)


def _rows() -> tuple[list[Any], ...]:
    return (
        list(RevokedToken.objects.order_by("jti").values_list()),
        list(TokenSession.objects.order_by("sid").values_list()),
        list(UserCutoff.objects.order_by("user_id").values_list()),
    )


def _forget_cache() -> None:
    cachestate.reset()
    if settings.REDIS_URL:
        cache.delete_pattern("*")  # type: ignore[attr-defined]  # our KEY_PREFIX only
    else:
        cache.clear()


def _exchange(send: Callable[[Client], Any]) -> tuple[Any, bool]:
    """Send one request in a rolled-back savepoint; return it and whether rows changed."""
    try:
        with transaction.atomic():
            before = _rows()
            response = send(Client(enforce_csrf_checks=True))
            changed = _rows() != before
            transaction.set_rollback(True)
    finally:
        _forget_cache()
    assert response.status_code < 500, (response.status_code, response.content[:300])
    event(f"status {response.status_code}")
    return response, changed


def _json_error(response: Any) -> None:
    """jwtauth's own endpoints answer every error with its JSON shape."""
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert isinstance(body.get("error"), str), body


def _presented(*parts: Any) -> str:
    return " ".join(p if isinstance(p, str) else repr(p) for p in parts if p is not None)


def _bearer(auth: str | None) -> bool:
    """Tell whether ``auth`` is a well-formed Bearer credential (valid or not)."""
    scheme, _, token = (auth or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(re.fullmatch(r"[A-Za-z0-9_.-]+", token.strip()))


def _meta(auth: str | None, cookies: str | None) -> dict[str, str]:
    meta = {}
    if auth is not None:
        meta["HTTP_AUTHORIZATION"] = auth
    if cookies is not None:
        meta["HTTP_COOKIE"] = cookies
    return meta


# -- protected reads: any Authorization header, any cookies ------------------------------------


@fuzz_settings(60)
@given(data=st.data(), path=st.sampled_from(PROTECTED))
def test_protected_endpoints(world: World, data: st.DataObject, path: str) -> None:
    auth = data.draw(authorization(world.everything), label="Authorization")
    cookies = data.draw(cookie_header(world.everything), label="Cookie")
    response, changed = _exchange(lambda c: c.get(path, **_meta(auth, cookies)))
    assert not changed
    if response.status_code == 200:
        presented = _presented(auth, cookies)
        assert any(token in presented for token in world.accesses), presented
    else:
        assert response.status_code in (401, 403), response.status_code


# -- login: any body ---------------------------------------------------------------------------

login_fields = st.fixed_dictionaries(
    {},
    optional={
        "username": st.sampled_from(["alice", "bob", "ALICE", "alice ", ""]) | json_values,
        "password": st.just(PASSWORD) | json_values,
        "cookie": st.booleans() | json_values,
        "refresh": json_values,
    },
)


@st.composite
def bodies(draw: st.DrawFn, fields: st.SearchStrategy[dict[str, Any]]) -> tuple[bytes, str]:
    """Draw a request body and its content type: JSON, a form, or arbitrary bytes."""
    kind = draw(st.sampled_from(["json", "form", "bytes"]))
    if kind == "json":
        value = draw(fields | json_values)
        return json.dumps(value).encode(), draw(st.sampled_from(["application/json", ""]))
    if kind == "form":
        value = {k: v if isinstance(v, str) else json.dumps(v) for k, v in draw(fields).items()}
        encoded = urlencode(value, encoding="utf-8", errors="surrogatepass").encode()
        return encoded, "application/x-www-form-urlencoded"
    return draw(st.binary(max_size=300)), draw(st.sampled_from(CONTENT_TYPES))


def _sent_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """Read back what the client sent, as a server that parses it correctly would."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            from urllib.parse import parse_qsl

            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@fuzz_settings(60)
@given(body=bodies(login_fields), cookies=st.none() | latin1_text)
def test_login(world: World, body: tuple[bytes, str], cookies: str | None) -> None:
    raw, content_type = body
    response, changed = _exchange(
        lambda c: c.post("/auth/login/", raw, content_type=content_type, **_meta(None, cookies))
    )
    _json_error(response)
    if response.status_code == 200:
        fields = _sent_fields(raw, content_type)
        assert fields.get("username") in ("alice", "bob"), fields
        assert fields.get("password") == PASSWORD
        assert changed  # a new session row
    else:
        assert not changed


# -- refresh: any body and cookies -------------------------------------------------------------


def _refresh_fields(world: World) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "refresh": credential(world.everything) | json_values,
            "cookie": st.booleans(),
            "access": credential(world.accesses),
        },
    )


@fuzz_settings(60)
@given(data=st.data())
def test_refresh(world: World, data: st.DataObject) -> None:
    raw, content_type = data.draw(bodies(_refresh_fields(world)), label="body")
    cookies = data.draw(cookie_header(world.everything), label="Cookie")
    response, changed = _exchange(
        lambda c: c.post("/auth/refresh/", raw, content_type=content_type, **_meta(None, cookies))
    )
    _json_error(response)
    presented = _sent_fields(raw, content_type).get("refresh")
    if response.status_code == 200 and presented == world.first.refresh:
        # The immediately previous token within the reuse interval: a retry, answered with the
        # successor again and written nowhere.
        assert not changed
    elif response.status_code == 200:
        assert presented in world.refreshes, presented
        assert changed  # the family's current refresh jti moved on
    elif response.status_code == 401 and json.loads(response.content)["error"] == "token_reused":
        # The one rejection that writes: a spent refresh token (after the reuse interval)
        # revokes its whole family.
        assert presented == world.first.refresh
        assert changed
    else:
        assert not changed


# -- logout: any Authorization header, body and cookies -----------------------------------------


@fuzz_settings(60)
@given(data=st.data())
def test_logout(world: World, data: st.DataObject) -> None:
    auth = data.draw(authorization(world.everything), label="Authorization")
    raw, content_type = data.draw(bodies(_refresh_fields(world)), label="body")
    cookies = data.draw(cookie_header(world.everything), label="Cookie")
    response, changed = _exchange(
        lambda c: c.post("/auth/logout/", raw, content_type=content_type, **_meta(auth, cookies))
    )
    _json_error(response)
    if response.status_code == 204:
        # A token cookie is a credential only with the CSRF token, which the fuzzer never has,
        # or beside a well-formed Bearer header (a cross-site page cannot set one).
        sent = [auth, raw.decode("utf-8", "replace"), cookies if _bearer(auth) else None]
        presented = _presented(*sent)
        assert any(token in presented for token in world.everything), presented
    else:
        assert not changed


# -- logout everywhere and session revocation: writes only for a genuine access token ----------


@fuzz_settings(40)
@given(data=st.data(), target=st.sampled_from(["/auth/logout-all/", "session-revoke"]))
def test_other_writes(world: World, data: st.DataObject, target: str) -> None:
    auth = data.draw(authorization(world.everything), label="Authorization")
    cookies = data.draw(cookie_header(world.everything), label="Cookie")
    if target == "session-revoke":
        sid = data.draw(st.sampled_from([world.live.access_token.sid, world.bob.access_token.sid]))
        target = f"/auth/sessions/{sid}/revoke/"
    response, changed = _exchange(lambda c: c.post(target, **_meta(auth, cookies)))
    _json_error(response)
    if response.status_code == 204:
        assert any(token in _presented(auth) for token in world.accesses), auth
    else:
        assert not changed
