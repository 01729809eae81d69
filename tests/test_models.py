"""Models: what is stored (never a raw token), indexes the purge relies on, and display."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jwtauth import revocation, sessions
from jwtauth.models import IDLE, LIFETIME, MAX_LABEL, RevokedToken, TokenSession, UserCutoff

pytestmark = pytest.mark.django_db


def test_no_raw_token_is_ever_stored(user: Any, admin_user: Any) -> None:
    pair = sessions.start(user, user_agent="pytest")
    rotated = sessions.rotate(pair.refresh_token)
    revocation.revoke(rotated.access_token, reason="stolen", revoked_by=admin_user)
    sessions.end(rotated.refresh_token)
    revocation.revoke_user(user.pk, reason="all")
    stored = " ".join(
        str(value)
        for model in (RevokedToken, TokenSession, UserCutoff)
        for row in model.objects.values()
        for value in row.values()
    )
    assert rotated.refresh_token.jti in stored
    for raw in (pair.access, pair.refresh, rotated.access, rotated.refresh):
        for segment in raw.split("."):
            assert segment not in stored


def test_purge_and_lookup_columns_are_indexed_or_unique() -> None:
    assert RevokedToken._meta.get_field("jti").unique
    assert RevokedToken._meta.get_field("expires_at").db_index
    assert TokenSession._meta.get_field("sid").unique
    assert TokenSession._meta.get_field("expires_at").db_index
    assert UserCutoff._meta.get_field("user").primary_key
    assert [i.fields for i in TokenSession._meta.indexes] == [["user", "-created_at"]]


def test_string_forms_shorten_identifiers(user: Any, pair: Any) -> None:
    revocation.revoke(pair.access_token)
    cutoff = revocation.revoke_user(user.pk)
    revoked = RevokedToken.objects.get()
    session = TokenSession.objects.get()
    assert str(revoked) == f"access {pair.access_token.jti[:8]}…"
    assert str(session) == f"{user.pk} {pair.access_token.sid[:8]}…"
    assert str(UserCutoff.objects.get()) == f"{user.pk} < {cutoff.isoformat()}"


def test_last_used_is_the_login_until_a_refresh(clock: Any, pair: Any) -> None:
    row = TokenSession.objects.get()
    assert row.last_used_at == row.created_at == datetime.fromtimestamp(1_800_000_000, UTC)
    clock.shift(5)
    sessions.rotate(pair.refresh_token)
    row.refresh_from_db()
    assert row.last_used_at == datetime.fromtimestamp(1_800_000_005, UTC)


def test_rows_go_with_their_user(user: Any, pair: Any) -> None:
    revocation.revoke(pair.access_token)
    revocation.revoke_user(user.pk)
    user.delete()
    assert not RevokedToken.objects.exists()
    assert not TokenSession.objects.exists()
    assert not UserCutoff.objects.exists()


def test_newest_rows_come_first(clock: Any, user: Any) -> None:
    first = sessions.start(user)
    clock.shift(1)
    second = sessions.start(user)
    revocation.revoke(first.access_token)
    clock.shift(1)
    revocation.revoke(second.access_token)
    assert [s.sid for s in TokenSession.objects.all()] == [
        second.access_token.sid,
        first.access_token.sid,
    ]
    assert [r.jti for r in RevokedToken.objects.all()] == [
        second.access_token.jti,
        first.access_token.jti,
    ]


def test_a_session_has_a_label_blank_by_default(pair: Any) -> None:
    field = TokenSession._meta.get_field("label")
    assert (field.max_length, field.blank) == (MAX_LABEL, True)
    assert TokenSession.objects.get().label == ""


def test_the_state_rule(clock: Any, settings: Any, user: Any, other_user: Any) -> None:
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(days=2)
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = timedelta(days=5)
    day = 24 * 3600
    pairs = {name: sessions.start(user, user_agent=name) for name in ("kept", "revoked", "idle")}
    revocation.revoke_session(pairs["revoked"].access_token.sid)
    for _ in range(4):  # refreshed daily: never idle, but past its lifetime after day 5
        clock.shift(day)
        pairs["kept"] = sessions.rotate(pairs["kept"].refresh_token)
        if "fresh" not in pairs:
            pairs["fresh"] = sessions.start(user, user_agent="fresh")
    clock.shift(day + day // 2)
    sessions.start(other_user, user_agent="cut off")
    revocation.revoke_user(other_user.pk, reason="logout everywhere")
    clock.shift(1)
    sessions.start(other_user, user_agent="after the cutoff")

    states = {r.user_agent: r.state for r in TokenSession.objects.with_state()}

    assert states == {
        "kept": "expired",  # its absolute lifetime, however recently refreshed
        "revoked": "revoked",
        "idle": "expired",
        "fresh": "expired",  # started on day 1, unused since: idle
        "cut off": "revoked",
        "after the cutoff": "live",
    }
    assert [r.user_agent for r in TokenSession.objects.live()] == ["after the cutoff"]


def test_live_matches_the_state_annotation(clock: Any, settings: Any, user: Any) -> None:
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(hours=1)
    kept = sessions.start(user, user_agent="kept")
    sessions.start(user, user_agent="idle")
    ended = sessions.start(user, user_agent="ended")
    sessions.end(ended.access_token)
    clock.shift(1800)
    kept = sessions.rotate(kept.refresh_token)
    clock.shift(1800)
    with_state = {r.user_agent for r in TokenSession.objects.with_state() if r.state == "live"}
    assert with_state == {r.user_agent for r in TokenSession.objects.live()} == {"kept"}


def test_a_session_ends_at_the_earliest_of_its_limits(clock: Any, settings: Any, user: Any) -> None:
    pair = sessions.start(user)
    login = datetime.fromtimestamp(1_800_000_000, UTC)
    row = TokenSession.objects.get()
    assert row.ends == (login + timedelta(days=7), IDLE)
    settings.JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(days=3)  # a lowered limit applies at once
    assert row.ends == (login + timedelta(days=3), IDLE)
    del settings.JWTAUTH_SESSION_IDLE_TIMEOUT
    for _ in range(28):
        clock.shift(24 * 3600)
        pair = sessions.rotate(pair.refresh_token)
    row.refresh_from_db()
    assert row.ends == (login + timedelta(days=30), LIFETIME)
    settings.JWTAUTH_SESSION_ABSOLUTE_LIFETIME = None
    assert row.ends == (row.expires_at, IDLE)
