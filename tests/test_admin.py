"""Tests of jwtauth's admin, through the real admin URLs and the demo API's next request."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.core.signals import request_started
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from jwtauth import admin as jwtauth_admin
from jwtauth import revocation, sessions, signals, tokens
from jwtauth.clock import now
from jwtauth.exceptions import TokenReused
from jwtauth.models import RevokedToken, TokenSession, UserCutoff

pytestmark = pytest.mark.django_db

TOKENS = reverse("admin:jwtauth_revokedtoken_changelist")
ADD_TOKEN = reverse("admin:jwtauth_revokedtoken_add")
SESSIONS = reverse("admin:jwtauth_tokensession_changelist")
CUTOFFS = reverse("admin:jwtauth_usercutoff_changelist")
USERS = reverse("admin:auth_user_changelist")


def me(client: Any, raw: str) -> int:
    """Return the status of ``/api/me/`` called with the access token ``raw``."""
    return int(client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code)


def revoke_form(admin_client: Any, **data: str) -> Any:
    """Post the admin's revoke form and return the response."""
    fields = {"token": "", "jti": "", "token_type": "", "reason": ""}
    fields.update(data)
    return admin_client.post(ADD_TOKEN, fields)


def form_errors(response: Any) -> list[str]:
    """Return every error message of the add form in ``response``."""
    form = response.context["adminform"].form
    return [str(m) for messages in form.errors.values() for m in messages]


def revoked(jti: str, **extra: Any) -> RevokedToken:
    """Insert a revoked-token row directly (fixtures for lists and filters)."""
    return RevokedToken.objects.create(
        jti=jti,
        token_type=extra.pop("token_type", "access"),
        expires_at=extra.pop("expires_at", now() + timedelta(hours=1)),
        revoked_at=extra.pop("revoked_at", now()),
        **extra,
    )


def action(admin_client: Any, url: str, name: str, pks: list[Any], **extra: str) -> Any:
    """Post the changelist action ``name`` on the rows ``pks``."""
    return admin_client.post(url, {"action": name, "_selected_action": pks, **extra})


def messages_of(response: Any) -> list[str]:
    """Return the flash messages of a followed response."""
    return [str(m) for m in response.context["messages"]]


# --------------------------------------------------------------------- revoked tokens: list


def test_changelist_columns_and_constant_queries(
    admin_client: Any, user: Any, admin_user: Any
) -> None:
    revoked("a" * 22, user=user, revoked_by=admin_user, reason="stolen laptop")

    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(TOKENS)
    for i in range(15):
        revoked(f"row{i:019d}", user=user, revoked_by=admin_user)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(TOKENS)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'title="' + "a" * 22 + '"' in html
    for text in ("alice", "stolen laptop", "admin", "access"):
        assert text in html
    # list_select_related: the user and revoked_by columns cost no query per row.
    assert len(many) == len(few)


def test_search_by_jti_prefix_and_username(admin_client: Any, user: Any, other_user: Any) -> None:
    revoked("AliceToken000000000001", user=user)
    revoked("BobToken00000000000001", user=other_user)

    by_jti = admin_client.get(TOKENS, {"q": "BobTok"})
    by_name = admin_client.get(TOKENS, {"q": "alice"})

    assert [r.jti for r in by_jti.context["cl"].result_list] == ["BobToken00000000000001"]
    assert [r.jti for r in by_name.context["cl"].result_list] == ["AliceToken000000000001"]


def test_filters_by_type_and_expiry(clock: Any, admin_client: Any) -> None:
    revoked("live-access", expires_at=now() + timedelta(seconds=1))
    revoked("dead-access", expires_at=now())
    revoked("live-refresh", token_type="refresh", expires_at=now() + timedelta(days=1))

    def jtis(**params: str) -> set[str]:
        return {r.jti for r in admin_client.get(TOKENS, params).context["cl"].result_list}

    assert jtis(expiry="live") == {"live-access", "live-refresh"}
    assert jtis(expiry="expired") == {"dead-access"}
    assert jtis(token_type__exact="refresh") == {"live-refresh"}
    assert jtis(token_type__exact="access", expiry="live") == {"live-access"}


def test_rows_are_read_only(admin_client: Any) -> None:
    row = revoked("readonly-jti")
    url = reverse("admin:jwtauth_revokedtoken_change", args=[row.pk])

    page = admin_client.get(url)
    post = admin_client.post(url, {"jti": "changed", "token_type": "refresh", "reason": "x"})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "Un-revoke" in html
    assert post.status_code == 403
    assert RevokedToken.objects.get(pk=row.pk).jti == "readonly-jti"


# --------------------------------------------------------------------- revoked tokens: add


def test_revoking_a_pasted_access_token_refuses_it_on_the_next_request(
    client: Any, admin_client: Any, admin_user: Any, user: Any, pair: Any
) -> None:
    assert me(client, pair.access) == 200

    response = revoke_form(admin_client, token=pair.access, reason="phished")

    assert response.status_code == 302
    row = RevokedToken.objects.get()
    assert (row.jti, row.token_type, row.user, row.revoked_by) == (
        pair.access_token.jti,
        "access",
        user,
        admin_user,
    )
    assert row.expires_at == datetime.fromtimestamp(pair.access_token.exp, UTC)
    assert row.reason == "phished"
    assert me(client, pair.access) == 401
    # The session and its other tokens are untouched: only this token is revoked.
    assert (
        client.post(
            "/auth/refresh/", {"refresh": pair.refresh}, content_type="application/json"
        ).status_code
        == 200
    )


def test_a_token_pasted_with_its_bearer_prefix_and_line_breaks(
    client: Any, admin_client: Any, pair: Any
) -> None:
    head, body, signature = pair.access.split(".")
    pasted = f"  Bearer {head}.\n{body[:20]}\r\n{body[20:]}.{signature}\n"

    response = revoke_form(admin_client, token=pasted)

    assert response.status_code == 302
    assert RevokedToken.objects.get().jti == pair.access_token.jti
    assert me(client, pair.access) == 401


def test_revoking_a_pasted_refresh_token(client: Any, admin_client: Any, pair: Any) -> None:
    response = revoke_form(admin_client, token=pair.refresh)

    assert response.status_code == 302
    row = RevokedToken.objects.get()
    assert (row.jti, row.token_type) == (pair.refresh_token.jti, "refresh")
    assert row.reason == jwtauth_admin.ADMIN_REASON
    refused = client.post(
        "/auth/refresh/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "token_revoked"


def test_the_raw_token_is_never_stored_logged_or_echoed(admin_client: Any, pair: Any) -> None:
    revoke_form(admin_client, token=pair.access, reason="r")
    second = revoke_form(admin_client, token=pair.access, reason="again")

    assert form_errors(second) == ["This token is already revoked."]
    assert pair.access not in second.content.decode()
    signature = pair.access.rsplit(".", 1)[1]
    for entry in LogEntry.objects.all():
        assert signature not in entry.object_repr + str(entry.change_message)
    row = RevokedToken.objects.values().get()
    assert all(signature not in str(value) for value in row.values())


def test_a_token_with_a_bad_signature_is_refused(
    client: Any, admin_client: Any, pair: Any, user: Any
) -> None:
    other = sessions.start(user)
    forged = pair.access.rsplit(".", 1)[0] + "." + other.access.rsplit(".", 1)[1]

    response = revoke_form(admin_client, token=forged)

    assert response.status_code == 200
    assert form_errors(response) == [
        "This is not a valid token of this site: The token signature is invalid."
    ]
    assert forged not in response.content.decode()
    assert not RevokedToken.objects.exists()
    assert me(client, pair.access) == 200


def test_a_refresh_token_with_a_bad_signature_reports_the_signature(
    admin_client: Any, pair: Any, user: Any
) -> None:
    other = sessions.start(user)
    forged = pair.refresh.rsplit(".", 1)[0] + "." + other.refresh.rsplit(".", 1)[1]

    response = revoke_form(admin_client, token=forged)

    assert form_errors(response) == [
        "This is not a valid token of this site: The token signature is invalid."
    ]


def test_the_reason_survives_translated_messages(
    admin_client: Any, pair: Any, user: Any, monkeypatch: Any
) -> None:
    """Issue 16 item 3: the admin told token errors apart by their English text."""
    # A stand-in translation of every message of the token module.
    monkeypatch.setattr(tokens, "_", lambda text: "«" + text + "»")
    other = sessions.start(user)
    forged = pair.refresh.rsplit(".", 1)[0] + "." + other.refresh.rsplit(".", 1)[1]

    response = revoke_form(admin_client, token=forged)

    assert form_errors(response) == [
        "This is not a valid token of this site: «The token signature is invalid.»"
    ]


def test_a_token_signed_with_another_key_is_refused(
    admin_client: Any, settings: Any, user: Any
) -> None:
    original = settings.JWTAUTH_SECRET_KEY
    settings.JWTAUTH_SECRET_KEY = "another-site-secret-" + "z" * 48
    foreign = sessions.start(user)
    settings.JWTAUTH_SECRET_KEY = original

    response = revoke_form(admin_client, token=foreign.access)

    assert response.status_code == 200
    assert len(form_errors(response)) == 1
    assert not RevokedToken.objects.exists()


@pytest.mark.parametrize("garbage", ["not a token", "a.b.c", "x" * 5000])
def test_garbage_is_refused_with_a_form_error(admin_client: Any, garbage: str) -> None:
    response = revoke_form(admin_client, token=garbage)

    assert response.status_code == 200
    assert form_errors(response)[0].startswith("This is not a valid token of this site")
    assert not RevokedToken.objects.exists()


def test_an_expired_token_is_refused_as_already_dead(
    clock: Any, admin_client: Any, pair: Any, settings: Any
) -> None:
    clock.shift(3601)

    response = revoke_form(admin_client, token=pair.access)

    assert response.status_code == 200
    assert "This token has expired" in form_errors(response)[0]
    assert not RevokedToken.objects.exists()


def test_revoking_a_bare_jti(
    clock: Any, client: Any, admin_client: Any, admin_user: Any, pair: Any, settings: Any
) -> None:
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=3)
    assert me(client, pair.access) == 200

    response = revoke_form(
        admin_client, jti=pair.access_token.jti, token_type="access", reason="from the logs"
    )

    assert response.status_code == 302
    row = RevokedToken.objects.get()
    assert (row.jti, row.token_type, row.user, row.revoked_by, row.reason) == (
        pair.access_token.jti,
        "access",
        None,
        admin_user,
        "from the logs",
    )
    assert row.expires_at == now() + timedelta(days=3)
    assert me(client, pair.access) == 401


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Paste a token, or give a token id and its type."),
        ({"jti": "abc"}, "Choose the type of the token this id belongs to."),
        ({"jti": "abcdefgh…", "token_type": "access"}, "A token id is letters, digits"),
        ({"jti": "has space", "token_type": "access"}, "A token id is letters, digits"),
        ({"jti": "x" * 65, "token_type": "access"}, "Ensure this value has at most 64"),
        ({"jti": "abc", "token_type": "bogus"}, "Select a valid choice."),
    ],
)
def test_bare_jti_form_errors(admin_client: Any, data: dict[str, str], error: str) -> None:
    response = revoke_form(admin_client, **data)

    assert response.status_code == 200
    assert any(message.startswith(error) for message in form_errors(response))
    assert not RevokedToken.objects.exists()


def test_token_and_jti_together_are_refused(admin_client: Any, pair: Any) -> None:
    response = revoke_form(admin_client, token=pair.access, jti="abc", token_type="access")

    assert form_errors(response) == ["Give either a token or a token id, not both."]


def test_the_add_page_explains_itself(admin_client: Any) -> None:
    html = admin_client.get(ADD_TOKEN).content.decode()

    assert 'name="token"' in html
    assert 'value="Revoke"' in html
    assert "from the very next request" in html


# --------------------------------------------------------------------- revoked tokens: un-revoke


def test_unrevoking_one_token_accepts_it_again_on_the_next_request(
    client: Any, admin_client: Any, pair: Any
) -> None:
    revocation.revoke(pair.access_token, reason="mistake")
    assert me(client, pair.access) == 401  # the revoked flag is now cached
    row = RevokedToken.objects.get()
    url = reverse("admin:jwtauth_revokedtoken_delete", args=[row.pk])

    confirm = admin_client.get(url)
    done = admin_client.post(url, {"post": "yes"}, follow=True)

    assert "Un-revoke this token?" in confirm.content.decode()
    assert "Yes, un-revoke it" in confirm.content.decode()
    assert done.redirect_chain[-1][0] == TOKENS
    assert any(m.startswith("Un-revoked") for m in messages_of(done))
    assert not RevokedToken.objects.exists()
    assert me(client, pair.access) == 200


def test_unrevoking_selected_tokens(client: Any, admin_client: Any, user: Any) -> None:
    pairs = [sessions.start(user) for _ in range(3)]
    for p in pairs:
        revocation.revoke(p.access_token)
        assert me(client, p.access) == 401
    pks = list(
        RevokedToken.objects.filter(jti__in=[p.access_token.jti for p in pairs[:2]]).values_list(
            "pk", flat=True
        )
    )

    listing = admin_client.get(TOKENS)
    confirm = action(admin_client, TOKENS, "delete_selected", pks)
    done = action(admin_client, TOKENS, "delete_selected", pks, post="yes")

    assert "Un-revoke selected tokens" in listing.content.decode()
    assert "Delete selected" not in listing.content.decode()
    assert "Un-revoke the selected tokens?" in confirm.content.decode()
    assert done.status_code == 302
    assert [me(client, p.access) for p in pairs] == [200, 200, 401]


# --------------------------------------------------------------------- sessions


def test_sessions_list_states_and_filters(
    clock: Any, admin_client: Any, user: Any, other_user: Any
) -> None:
    sessions.start(user, user_agent="Firefox on Linux", ip_address="192.0.2.7")
    dead = sessions.start(user, user_agent="Old phone")
    revocation.revoke_session(dead.access_token.sid)
    expired = sessions.start(other_user, user_agent="Tablet")
    TokenSession.objects.filter(sid=expired.access_token.sid).update(expires_at=now())
    sessions.start(other_user, user_agent="Laptop")
    clock.shift(1)
    revocation.revoke_user(other_user.pk)  # kills "cut" (and "expired") through the cutoff
    clock.shift(1)
    sessions.start(other_user, user_agent="New laptop")

    def states(**params: str) -> dict[str, str]:
        rows = admin_client.get(SESSIONS, params).context["cl"].result_list
        return {r.user_agent: r.state for r in rows}

    assert states() == {
        "Firefox on Linux": "live",
        "Old phone": "revoked",
        "Tablet": "revoked",
        "Laptop": "revoked",
        "New laptop": "live",
    }
    assert set(states(state="live")) == {"Firefox on Linux", "New laptop"}
    assert set(states(state="revoked")) == {"Old phone", "Tablet", "Laptop"}
    assert set(states(q="alice")) == {"Firefox on Linux", "Old phone"}
    assert "192.0.2.7" in admin_client.get(SESSIONS).content.decode()


def test_expired_state(clock: Any, admin_client: Any, user: Any) -> None:
    sessions.start(user, user_agent="Stale")
    clock.shift(8 * 24 * 3600)

    rows = admin_client.get(SESSIONS, {"state": "expired"}).context["cl"].result_list

    assert [r.user_agent for r in rows] == ["Stale"]


def test_sessions_list_costs_constant_queries(admin_client: Any, user: Any) -> None:
    sessions.start(user)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(SESSIONS)
    for _ in range(10):
        sessions.start(user)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(SESSIONS)

    assert len(many) == len(few)


def test_revoking_selected_sessions_asks_first_then_refuses_their_tokens(
    client: Any, admin_client: Any, admin_user: Any, user: Any
) -> None:
    phone, laptop = sessions.start(user, user_agent="phone"), sessions.start(user)
    assert me(client, phone.access) == me(client, laptop.access) == 200
    pk = TokenSession.objects.get(sid=phone.access_token.sid).pk
    seen: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs["revoked_by"])

    confirm = action(admin_client, SESSIONS, "revoke_selected_sessions", [pk])
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Revoke the selected sessions?" in html
    assert 'name="post" value="yes"' in html
    assert f'name="_selected_action" value="{pk}"' in html
    assert me(client, phone.access) == 200  # nothing happened yet

    signals.session_revoked.connect(receiver)
    try:
        done = admin_client.post(
            SESSIONS,
            {"action": "revoke_selected_sessions", "_selected_action": [pk], "post": "yes"},
            follow=True,
        )
    finally:
        signals.session_revoked.disconnect(receiver)

    assert messages_of(done) == ["Revoked 1 session: its tokens are refused from the next request."]
    assert me(client, phone.access) == 401
    assert me(client, laptop.access) == 200
    assert seen == [admin_user]
    again = action(admin_client, SESSIONS, "revoke_selected_sessions", [pk], post="yes")
    assert again.status_code == 302
    assert TokenSession.objects.get(pk=pk).revoke_reason == jwtauth_admin.ADMIN_REASON


def _why(admin_client: Any) -> dict[str, str]:
    """Return each session's "ends or ended" cell by user agent, as text."""
    # Days pass on the clock in these tests: log in again, as the admin's session expires.
    admin_client.force_login(get_user_model().objects.get(username="admin"))
    rows = admin_client.get(SESSIONS).context["cl"].result_list
    model_admin = admin.site.get_model_admin(TokenSession)
    return {r.user_agent: html.unescape(strip_tags(str(model_admin.why(r)))) for r in rows}


def test_each_session_says_when_and_why_it_ended_or_will_end(
    clock: Any, admin_client: Any, settings: Any, user: Any, other_user: Any
) -> None:
    settings.JWTAUTH_MAX_SESSIONS_PER_USER = 2
    stolen = sessions.start(user, user_agent="stolen")
    clock.shift(1)
    sessions.rotate(stolen.refresh_token)
    clock.shift(60)
    with pytest.raises(TokenReused):
        sessions.rotate(stolen.refresh_token)
    sessions.start(other_user, user_agent="cut off")
    sessions.start(other_user, user_agent="evicted")
    revocation.revoke_user(other_user.pk, reason="password changed")
    clock.shift(1)
    sessions.start(other_user, user_agent="evicting")
    sessions.start(other_user, user_agent="capped")
    sessions.start(other_user, user_agent="third")
    live = sessions.start(user, user_agent="live")
    TokenSession.objects.filter(user_agent="capped").update(expires_at=now())

    why = _why(admin_client)

    assert why["stolen"].startswith("refresh token reuse")
    assert why["cut off"].startswith("all of the user's tokens revoked: password changed")
    assert why["evicting"].startswith("session limit reached")
    assert why["capped"].startswith("unused too long")
    assert why["live"].startswith("ends unless used")
    assert live.refresh_token.exp == live.refresh_token.iat + 7 * 24 * 3600


def test_a_session_at_its_lifetime_says_so(clock: Any, admin_client: Any, user: Any) -> None:
    pair = sessions.start(user, user_agent="old")
    for _ in range(25):
        clock.shift(24 * 3600)
        pair = sessions.rotate(pair.refresh_token)
    assert _why(admin_client)["old"].startswith("ends (maximum lifetime)")
    clock.shift(5 * 24 * 3600)
    assert _why(admin_client)["old"].startswith("maximum lifetime reached")


def test_the_list_shows_and_searches_the_users_label(
    client: Any, admin_client: Any, pair: Any
) -> None:
    url = reverse("jwtauth:session", args=[pair.access_token.sid])
    client.patch(
        url,
        {"label": "Grandma's tablet"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {pair.access}",
    )
    listing = admin_client.get(SESSIONS, {"q": "grandma"})
    assert [r.sid for r in listing.context["cl"].result_list] == [pair.access_token.sid]
    assert "Grandma&#x27;s tablet" in listing.content.decode()


def test_sessions_are_read_only(admin_client: Any, pair: Any) -> None:
    row = TokenSession.objects.get()

    assert admin_client.get(reverse("admin:jwtauth_tokensession_add")).status_code == 403
    change = reverse("admin:jwtauth_tokensession_change", args=[row.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"user_agent": "x"}).status_code == 403
    delete = reverse("admin:jwtauth_tokensession_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert TokenSession.objects.filter(pk=row.pk, user_agent="pytest").exists()


def test_a_viewer_cannot_revoke_sessions(client: Any, django_user_model: Any, pair: Any) -> None:
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_tokensession"))
    client.force_login(viewer)
    pk = TokenSession.objects.get().pk

    listing = client.get(SESSIONS)
    client.post(SESSIONS, {"action": "revoke_selected_sessions", "_selected_action": [pk]})

    assert listing.status_code == 200
    assert "revoke_selected_sessions" not in listing.content.decode()
    assert TokenSession.objects.get(pk=pk).revoked_at is None


# --------------------------------------------------------------------- user cutoffs


def test_user_cutoffs_are_listed_read_only(admin_client: Any, user: Any) -> None:
    revocation.revoke_user(user.pk, reason="password changed")

    listing = admin_client.get(CUTOFFS)

    assert [c.user for c in listing.context["cl"].result_list] == [user]
    assert "password changed" in listing.content.decode()
    assert admin_client.get(reverse("admin:jwtauth_usercutoff_add")).status_code == 403
    delete = reverse("admin:jwtauth_usercutoff_delete", args=[user.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert UserCutoff.objects.filter(user=user).exists()


# --------------------------------------------------------------------- users


def test_revoking_all_tokens_of_selected_users_asks_first(
    clock: Any, client: Any, admin_client: Any, admin_user: Any, user: Any, other_user: Any
) -> None:
    alice = [sessions.start(user), sessions.start(user)]
    bob = sessions.start(other_user)
    assert [me(client, p.access) for p in [*alice, bob]] == [200, 200, 200]
    clock.shift(1)

    listing = admin_client.get(USERS)
    confirm = action(admin_client, USERS, "revoke_all_tokens", [user.pk])
    assert "Revoke every token of the selected users?" in confirm.content.decode()
    assert [me(client, p.access) for p in alice] == [200, 200]
    done = admin_client.post(
        USERS,
        {"action": "revoke_all_tokens", "_selected_action": [user.pk], "post": "yes"},
        follow=True,
    )

    assert "Revoke all tokens of selected users" in listing.content.decode()
    assert messages_of(done) == ["Revoked every token of 1 user: they must log in again."]
    assert [me(client, p.access) for p in alice] == [401, 401]
    assert me(client, bob.access) == 200
    refresh = client.post(
        "/auth/refresh/", {"refresh": alice[0].refresh}, content_type="application/json"
    )
    assert refresh.status_code == 401
    cutoff = UserCutoff.objects.get(user=user)
    assert (cutoff.cutoff, cutoff.reason) == (now(), jwtauth_admin.ADMIN_REASON)


def test_a_users_page_links_to_their_live_sessions(
    admin_client: Any, user: Any, other_user: Any
) -> None:
    sessions.start(user)
    ended = sessions.start(user)
    sessions.end(ended.access_token)
    sessions.start(user)
    sessions.start(other_user)

    page = admin_client.get(reverse("admin:auth_user_change", args=[user.pk])).content.decode()

    link = f"{SESSIONS}?user__id__exact={user.pk}"
    assert f'href="{link}">2 live sessions</a>' in page
    listed = admin_client.get(link).context["cl"].result_list
    assert {r.user for r in listed} == {user}
    assert len(listed) == 3  # the list shows the dead one too, with its state


def test_revoke_all_from_a_users_page_asks_then_ends_every_session(
    clock: Any, client: Any, admin_client: Any, admin_user: Any, user: Any
) -> None:
    pairs = [sessions.start(user), sessions.start(user)]
    clock.shift(1)
    change = reverse("admin:auth_user_change", args=[user.pk])
    url = reverse("admin:auth_user_revoke_tokens", args=[user.pk])
    assert f'href="{url}"' in admin_client.get(change).content.decode()

    confirm = admin_client.get(url)
    assert confirm.status_code == 200
    assert "has 2 live sessions" in confirm.content.decode()
    assert admin_client.post(url).status_code == 200  # no "yes": still only the question
    assert [me(client, p.access) for p in pairs] == [200, 200]

    done = admin_client.post(url, {"post": "yes"}, follow=True)

    assert done.redirect_chain[-1][0] == change
    assert messages_of(done) == ["Revoked every token of “alice”: they must log in again."]
    assert [me(client, p.access) for p in pairs] == [401, 401]
    assert UserCutoff.objects.get(user=user).reason == jwtauth_admin.ADMIN_REASON


def test_revoke_all_needs_the_change_permission(
    client: Any, django_user_model: Any, user: Any, pair: Any
) -> None:
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    url = reverse("admin:auth_user_revoke_tokens", args=[user.pk])

    page = client.get(reverse("admin:auth_user_change", args=[user.pk])).content.decode()

    assert url not in page
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:auth_user_revoke_tokens", args=[10**9])).status_code == 404
    assert not UserCutoff.objects.exists()


def test_importing_jwtauth_admin_patches_no_other_apps_admin() -> None:
    """Issue 16 item 3: jwtauth patched the registered UserAdmin at import and first request."""
    model = get_user_model()
    registered = admin.site.get_model_admin(model)
    # The demo site mixes UserTokensAdminMixin in by itself; nothing was set on the instance.
    assert isinstance(registered, jwtauth_admin.UserTokensAdminMixin)
    assert "actions" not in vars(registered)
    plain = admin.AdminSite(name="plain")
    plain.register(model, UserAdmin)
    request_started.send(sender=None)
    assert jwtauth_admin.revoke_all_tokens not in (plain.get_model_admin(model).actions or ())


class ProjectUserAdmin(jwtauth_admin.UserTokensAdminMixin, UserAdmin):  # type: ignore[type-arg]
    """A project's own user admin, with an action of its own."""

    actions = ["make_inactive", jwtauth_admin.revoke_all_tokens]

    @admin.action(description="Deactivate")
    def make_inactive(self, request: Any, queryset: Any) -> None:
        """Deactivate the selected users."""
        queryset.update(is_active=False)


def test_a_project_admin_with_actions_of_its_own_lists_ours_beside_them(
    admin_client: Any, user: Any
) -> None:
    site = admin.AdminSite(name="custom")
    site.register(get_user_model(), ProjectUserAdmin)
    model_admin = site.get_model_admin(get_user_model())
    request = admin_client.get(USERS).wsgi_request
    assert set(model_admin.get_actions(request)) >= {"make_inactive", "revoke_all_tokens"}


def _cache_unreachable(settings: Any) -> None:
    """Point the cache at a port nobody listens on: every revocation must answer 503."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }


def test_a_session_revocation_the_cache_cannot_take_is_an_error_message_not_a_crash(
    settings: Any, admin_client: Any, pair: Any
) -> None:
    pk = TokenSession.objects.get(sid=pair.access_token.sid).pk
    _cache_unreachable(settings)
    done = action(admin_client, SESSIONS, "revoke_selected_sessions", [pk], post="yes")
    assert done.status_code == 302  # back to the list, with the message below
    assert messages_of(admin_client.get(SESSIONS)) == [
        "The revocation could not be put in force everywhere, so it was not made. "
        "Try again shortly."
    ]
    assert TokenSession.objects.get(pk=pk).revoked_at is None


def test_revoke_all_the_cache_cannot_take_says_so(
    settings: Any, admin_client: Any, user: Any, pair: Any
) -> None:
    url = reverse("admin:auth_user_revoke_tokens", args=[user.pk])
    _cache_unreachable(settings)
    done = admin_client.post(url, {"post": "yes"}, follow=True)
    assert messages_of(done) == [
        "1 user's tokens could not be revoked: The revocation could not be put in force "
        "everywhere, so it was not made. Try again shortly."
    ]
    assert not UserCutoff.objects.filter(user=user).exists()
