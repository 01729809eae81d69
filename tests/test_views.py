"""The JSON endpoints through the Django test client: success, every failure, exact bodies."""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.contrib.auth.signals import user_logged_in
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import strategies as st

from jwtauth import dpop, revocation, sessions, signals
from jwtauth.conf import conf
from jwtauth.dpop.client import DPoPKey
from jwtauth.models import TokenSession
from tests.conftest import NO_CREDENTIAL, PASSWORD, dpop_headers, public_pem

pytestmark = pytest.mark.django_db

LOGIN = "/auth/login/"
REFRESH = "/auth/refresh/"
LOGOUT = "/auth/logout/"
LOGOUT_ALL = "/auth/logout-all/"
SESSIONS = "/auth/sessions/"
JWKS = "/.well-known/jwks.json"
ME = "/api/me/"


def post(client: Client, path: str, data: Any = None, **extra: Any) -> Any:
    """POST ``data`` as JSON (nothing when ``None``)."""
    if data is None:
        return client.post(path, **extra)
    return client.post(path, data, content_type="application/json", **extra)


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def error_of(response: Any) -> str:
    """Return the stable code, after checking the body is exactly {"error", "detail"}."""
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return str(body["error"])


def login(client: Client, username: str = "alice", **extra: Any) -> dict[str, Any]:
    response = post(client, LOGIN, {"username": username, "password": PASSWORD}, **extra)
    assert response.status_code == 200, response.content
    return dict(response.json())


# --- login -----------------------------------------------------------------------------


def test_login_answers_a_token_pair_that_no_cache_may_keep(client: Client, user: Any) -> None:
    response = post(client, LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    me = client.get(ME, **bearer(body["access"]))
    assert me.status_code == 200
    assert me.json() == {"id": user.pk, "username": "alice"}


def test_login_updates_last_login_sends_the_signal_and_records_the_session(
    client: Client, user: Any
) -> None:
    received: list[Any] = []

    def receiver(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        received.append(user)

    user_logged_in.connect(receiver)
    try:
        body = login(client, HTTP_USER_AGENT="Firefox/128\x00 on\tLinux", REMOTE_ADDR="10.1.2.3")
    finally:
        user_logged_in.disconnect(receiver)
    assert received == [user]
    user.refresh_from_db()
    assert user.last_login is not None
    row = TokenSession.objects.get(user=user)
    # The NUL (which PostgreSQL text refuses) and other control characters are dropped.
    assert row.user_agent == "Firefox/128 onLinux"
    assert row.ip_address == "10.1.2.3"
    assert row.sid == jwt.decode(body["access"], options={"verify_signature": False})["sid"]
    assert row.revoked_at is None


@pytest.mark.parametrize(
    ("remote", "stored"),
    [("fe80::1%eth0", "fe80::1"), ("::ffff:192.0.2.7", "::ffff:192.0.2.7"), ("unknown", None)],
)
def test_the_session_records_a_usable_client_address(
    client: Client, user: Any, remote: str, stored: str | None
) -> None:
    login(client, REMOTE_ADDR=remote)
    assert TokenSession.objects.get(user=user).ip_address == stored


def test_login_accepts_a_form_encoded_body(client: Client, user: Any) -> None:
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh", "token_type", "expires_in"}


def _refusals(client: Client, django_user_model: Any) -> list[Any]:
    django_user_model.objects.create_user("carol", password=PASSWORD, is_active=False)
    return [
        post(client, LOGIN, {"username": "alice", "password": "wrong"}),
        post(client, LOGIN, {"username": "nobody", "password": PASSWORD}),
        post(client, LOGIN, {"username": "carol", "password": PASSWORD}),
    ]


def test_wrong_password_unknown_user_and_inactive_user_get_the_same_401(
    client: Client, user: Any, django_user_model: Any
) -> None:
    responses = _refusals(client, django_user_model)
    answers = {
        (r.status_code, r.content, r.get("WWW-Authenticate"), r["Cache-Control"]) for r in responses
    }
    assert len(answers) == 1
    assert responses[0].status_code == 401
    assert error_of(responses[0]) == "invalid_credentials"
    assert TokenSession.objects.count() == 0


@override_settings(
    PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
    JWTAUTH_LOGIN_FAILURE_LIMIT=0,
    JWTAUTH_LOGIN_IP_FAILURE_LIMIT=0,
)
def test_refusals_take_about_the_same_time_with_the_real_hasher(
    client: Client, django_user_model: Any
) -> None:
    """Time each refusal with Django's default PBKDF2 hasher; report medians, bound the ratio.

    The bound is loose on purpose (a shared CI machine is noisy): it catches a path that skips
    hashing altogether, which would be several times faster, not small differences.
    """
    django_user_model.objects.create_user("alice", password=PASSWORD)
    django_user_model.objects.create_user("carol", password=PASSWORD, is_active=False)
    cases = {
        "wrong password": {"username": "alice", "password": "wrong"},
        "unknown user": {"username": "nobody", "password": PASSWORD},
        "inactive user": {"username": "carol", "password": PASSWORD},
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    for _ in range(4):
        random.shuffle(order)  # interleaved and shuffled, so load drift hits every case alike
        for name in order:
            start = time.perf_counter()
            response = post(client, LOGIN, cases[name])
            samples[name].append(time.perf_counter() - start)
            assert response.status_code == 401
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print("login refusal medians (s):", {k: round(v, 4) for k, v in medians.items()})
    assert max(medians.values()) / min(medians.values()) < 2.0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, "invalid_request"),
        ({"username": "alice"}, "invalid_request"),
        ({"username": "alice", "password": 7}, "invalid_request"),
        ({"username": ["alice"], "password": PASSWORD}, "invalid_request"),
        ({"username": "alice", "password": ""}, "invalid_request"),
        ({"username": "alice\x00", "password": PASSWORD}, "invalid_request"),
        ({"username": "a" * 255, "password": PASSWORD}, "invalid_request"),
        ({"username": "alice", "password": "p" * 4097}, "invalid_request"),
    ],
)
def test_login_refuses_missing_or_unfit_fields(
    client: Client, user: Any, data: dict[str, Any], code: str
) -> None:
    response = post(client, LOGIN, data)
    assert response.status_code == 400
    assert error_of(response) == code


def test_login_refuses_lone_surrogates_instead_of_failing_in_the_hasher(
    client: Client, user: Any
) -> None:
    for field in ("username", "password"):
        data = {"username": "alice", "password": PASSWORD, field: "x\ud800"}
        raw = json.dumps(data)  # ensure_ascii keeps the lone surrogate as a \ud800 escape
        response = client.post(LOGIN, raw, content_type="application/json")
        assert response.status_code == 400
        assert error_of(response) == "invalid_request"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_request"),
        (b"[1, 2]", "application/json", 400, "invalid_request"),
        (b'"alice"', "application/json", 400, "invalid_request"),
        (b"null", "application/json", 400, "invalid_request"),
        (b'{"username": "\xff\xfe"}', "application/json", 400, "invalid_request"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "payload_too_large"),
        (b"[" * 5_000 + b"]" * 5_000, "application/json", 400, "invalid_request"),
        (b'{"n": ' + b"9" * 5000 + b"}", "application/json", 400, "invalid_request"),
        (b"username=alice", "text/plain", 400, "invalid_request"),
        (b"--x\r\nbroken", "multipart/form-data", 400, "invalid_request"),
        (b'{"username": "' + b"a" * 20_000 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
def test_malformed_or_oversized_bodies_are_4xx_json(
    client: Client, body: bytes, content_type: str, status: int, code: str
) -> None:
    for path in (LOGIN, REFRESH, LOGOUT):
        response = client.generic("POST", path, body, content_type=content_type)
        assert response.status_code == status, (path, response.content)
        assert error_of(response) == code


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: Client) -> None:
    response = client.generic(
        "POST", LOGIN, b"{}", content_type="application/json", CONTENT_LENGTH="999999"
    )
    assert response.status_code == 413
    assert error_of(response) == "payload_too_large"


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        (LOGIN, "get", "POST"),
        (LOGIN, "put", "POST"),
        (REFRESH, "delete", "POST"),
        (LOGOUT, "get", "POST"),
        (LOGOUT_ALL, "patch", "POST"),
        (SESSIONS, "post", "GET, HEAD"),
        ("/auth/sessions/abc/revoke/", "get", "POST"),
        ("/auth/sessions/abc/", "post", "GET, PATCH, HEAD"),
        (JWKS, "post", "GET, HEAD"),
        ("/auth/csrf/", "post", "GET, HEAD"),
        ("/api/ping/", "post", "GET, HEAD"),
        (ME, "delete", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(client: Client, path: str, method: str, allow: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == allow
    assert error_of(response) == "method_not_allowed"


def test_head_is_answered_where_get_is(client: Client, settings: Any, private_keys: Any) -> None:
    settings.JWTAUTH_ALGORITHM = "ES256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["ES256"]
    response = client.head(JWKS)
    assert response.status_code == 200
    assert response.content == b""


# --- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_both_tokens_and_spends_the_old_one(client: Client, pair: Any) -> None:
    response = post(client, REFRESH, {"refresh": pair.refresh})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert response["Cache-Control"] == "no-store"
    assert body["access"] != pair.access
    assert body["refresh"] != pair.refresh
    new_claims = jwt.decode(body["refresh"], options={"verify_signature": False})
    assert new_claims["sid"] == pair.refresh_token.sid  # same family
    assert client.get(ME, **bearer(body["access"])).status_code == 200
    row = TokenSession.objects.get(sid=pair.refresh_token.sid)
    assert row.refresh_jti == new_claims["jti"]
    assert row.previous_refresh_jti == pair.refresh_token.jti
    assert row.refreshed_at is not None


def test_reusing_a_spent_refresh_token_kills_the_whole_family(
    client: Client, clock: Any, pair: Any
) -> None:
    first = post(client, REFRESH, {"refresh": pair.refresh}).json()
    clock.shift(conf.REFRESH_REUSE_INTERVAL + 1)  # past the interval: no retry any more
    reuse = post(client, REFRESH, {"refresh": pair.refresh})
    assert reuse.status_code == 401
    assert error_of(reuse) == "token_reused"
    assert reuse["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description=')
    # The thief's (or the victim's) descendant is dead too (RFC 9700 §4.14.2).
    descendant = post(client, REFRESH, {"refresh": first["refresh"]})
    assert descendant.status_code == 401
    assert error_of(descendant) == "token_revoked"
    me = client.get(ME, **bearer(first["access"]))
    assert me.status_code == 401
    assert error_of(me) == "token_revoked"
    assert client.get(ME, **bearer(pair.access)).status_code == 401
    assert TokenSession.objects.get(sid=pair.refresh_token.sid).revoke_reason == (
        "refresh token reuse"
    )


def test_a_retry_within_the_interval_gets_the_same_successor_and_a_working_access_token(
    client: Client, clock: Any, pair: Any
) -> None:
    first = post(client, REFRESH, {"refresh": pair.refresh}).json()
    clock.shift(conf.REFRESH_REUSE_INTERVAL)  # the last instant of the interval
    retry = post(client, REFRESH, {"refresh": pair.refresh})
    assert retry.status_code == 200
    again = retry.json()
    assert again["refresh"] == first["refresh"]  # HS256 signs deterministically: same bytes
    assert again["access"] != first["access"]
    assert client.get(ME, **bearer(again["access"])).status_code == 200
    assert client.get(ME, **bearer(first["access"])).status_code == 200
    # No fork: the one successor rotates the family once, as if no retry had happened.
    assert post(client, REFRESH, {"refresh": again["refresh"]}).status_code == 200
    assert TokenSession.objects.get(sid=pair.refresh_token.sid).revoked_at is None


def test_a_token_two_generations_old_is_reuse_even_within_the_interval(
    client: Client, pair: Any
) -> None:
    second = post(client, REFRESH, {"refresh": pair.refresh}).json()
    third = post(client, REFRESH, {"refresh": second["refresh"]}).json()
    reuse = post(client, REFRESH, {"refresh": pair.refresh})
    assert (reuse.status_code, error_of(reuse)) == (401, "token_reused")
    assert error_of(client.get(ME, **bearer(third["access"]))) == "token_revoked"


def test_reuse_is_logged_and_signalled_with_the_client_but_never_the_token(
    client: Client, clock: Any, user: Any, pair: Any, caplog: Any
) -> None:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    post(client, REFRESH, {"refresh": pair.refresh})
    clock.shift(conf.REFRESH_REUSE_INTERVAL + 1)
    signals.refresh_reused.connect(receiver)
    try:
        with caplog.at_level("WARNING", logger="jwtauth"):
            post(
                client,
                REFRESH,
                {"refresh": pair.refresh},
                HTTP_USER_AGENT="Thief/1.0\nforged line",
                REMOTE_ADDR="203.0.113.9",
            )
    finally:
        signals.refresh_reused.disconnect(receiver)
    assert len(seen) == 1
    assert seen[0]["sid"] == pair.refresh_token.sid
    assert seen[0]["user_id"] == user.pk
    assert seen[0]["jti"] == pair.refresh_token.jti
    assert (seen[0]["ip_address"], seen[0]["user_agent"]) == ("203.0.113.9", "Thief/1.0forged line")
    (record,) = [r for r in caplog.records if r.name == "jwtauth" and r.levelname == "WARNING"]
    line = record.getMessage()
    assert "refresh token reuse" in line
    for part in (pair.refresh_token.sid, f"user={user.pk}", "203.0.113.9", "Thief/1.0"):
        assert part in line
    assert "\n" not in line
    for raw in (pair.refresh, pair.access):
        assert raw.rsplit(".", 1)[1] not in line
        assert raw.split(".")[1] not in line


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda p: p.access, "token_invalid"),  # an access token is not a refresh token
        (lambda p: "not.a.token", "token_invalid"),
        (lambda p: p.refresh[:-4] + "AAAA", "token_invalid"),
        (lambda p: "x" * 4097, "token_invalid"),
    ],
)
def test_refresh_refuses_unusable_tokens_with_an_invalid_token_challenge(
    client: Client, pair: Any, make: Any, code: str
) -> None:
    response = post(client, REFRESH, {"refresh": make(pair)})
    assert response.status_code == 401
    assert error_of(response) == code
    assert response["WWW-Authenticate"].startswith(
        'Bearer error="invalid_token", error_description="'
    )


def test_refresh_refuses_a_field_longer_than_any_token_as_malformed(client: Client) -> None:
    response = post(client, REFRESH, {"refresh": "x" * 4098})
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


def test_refresh_without_a_token_is_401_with_a_bare_challenge(client: Client) -> None:
    response = post(client, REFRESH, {})
    assert response.status_code == 401
    assert error_of(response) == "not_authenticated"
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


def test_an_expired_refresh_token_is_refused(client: Client, user: Any, clock: Any) -> None:
    pair = sessions.start(user)
    clock.shift(conf.refresh_lifetime)
    response = post(client, REFRESH, {"refresh": pair.refresh})
    assert response.status_code == 401
    assert error_of(response) == "token_expired"


def test_refresh_for_a_deactivated_user_is_refused(client: Client, pair: Any, user: Any) -> None:
    user.is_active = False
    user.save()
    response = post(client, REFRESH, {"refresh": pair.refresh})
    assert response.status_code == 401
    assert error_of(response) == "token_revoked"


def test_refresh_via_the_cookie_sets_new_cookies_and_keeps_tokens_out_of_the_body(
    client: Client, user: Any, clock: Any
) -> None:
    login_response = post(
        client, LOGIN, {"username": "alice", "password": PASSWORD, "cookie": True}
    )
    old_refresh = login_response.cookies[conf.REFRESH_COOKIE].value
    response = post(client, REFRESH)
    assert response.status_code == 200
    assert set(response.json()) == {"token_type", "expires_in"}
    new_refresh = response.cookies[conf.REFRESH_COOKIE].value
    assert new_refresh != old_refresh
    assert response.cookies[conf.ACCESS_COOKIE].value
    # The cookie-borne refresh token was spent like a body one: presented again within the
    # reuse interval it is a retry (two tabs), answered with the same new cookie...
    client.cookies[conf.REFRESH_COOKIE] = old_refresh
    retry = post(client, REFRESH)
    assert retry.status_code == 200
    assert retry.cookies[conf.REFRESH_COOKIE].value == new_refresh
    # ...and after it, reuse.
    clock.shift(conf.REFRESH_REUSE_INTERVAL + 1)
    client.cookies[conf.REFRESH_COOKIE] = old_refresh
    reuse = post(client, REFRESH)
    assert reuse.status_code == 401
    assert error_of(reuse) == "token_reused"
    assert reuse.cookies[conf.REFRESH_COOKIE]["max-age"] == 0


# --- logout ----------------------------------------------------------------------------


def test_logout_revokes_the_access_token_and_its_refresh_family(client: Client, pair: Any) -> None:
    response = post(client, LOGOUT, **bearer(pair.access))
    assert response.status_code == 204
    assert response.content == b""
    me = client.get(ME, **bearer(pair.access))
    assert me.status_code == 401
    assert error_of(me) == "token_revoked"
    assert 'error="invalid_token"' in me["WWW-Authenticate"]
    assert post(client, REFRESH, {"refresh": pair.refresh}).status_code == 401


def test_logout_with_the_refresh_token_alone_after_the_access_token_expired(
    client: Client, user: Any, clock: Any
) -> None:
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime + 1)
    expired = client.get(ME, **bearer(pair.access))
    assert error_of(expired) == "token_expired"
    response = post(client, LOGOUT, {"refresh": pair.refresh}, **bearer(pair.access))
    assert response.status_code == 204
    refused = post(client, REFRESH, {"refresh": pair.refresh})
    assert refused.status_code == 401
    assert error_of(refused) == "token_revoked"


def test_logout_with_only_a_refresh_token_in_the_body(client: Client, pair: Any) -> None:
    assert post(client, LOGOUT, {"refresh": pair.refresh}).status_code == 204
    assert client.get(ME, **bearer(pair.access)).status_code == 401


def test_logout_is_idempotent_for_an_already_revoked_token(client: Client, pair: Any) -> None:
    assert post(client, LOGOUT, **bearer(pair.access)).status_code == 204
    assert post(client, LOGOUT, **bearer(pair.access)).status_code == 204


def test_logout_with_a_deleted_users_refresh_token_is_not_an_error(
    client: Client, pair: Any, user: Any
) -> None:
    user.delete()
    assert post(client, LOGOUT, {"refresh": pair.refresh}).status_code == 204


def test_logout_without_any_token_is_401(client: Client) -> None:
    response = post(client, LOGOUT)
    assert response.status_code == 401
    assert error_of(response) == "not_authenticated"
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


def test_logout_with_a_forged_token_is_401_invalid_token(client: Client, pair: Any) -> None:
    response = post(client, LOGOUT, **bearer(pair.access[:-4] + "AAAA"))
    assert response.status_code == 401
    assert error_of(response) == "token_invalid"
    assert client.get(ME, **bearer(pair.access)).status_code == 200


def test_logout_all_revokes_every_session_of_the_user_only(
    client: Client, user: Any, other_user: Any
) -> None:
    phone, laptop = sessions.start(user), sessions.start(user)
    bobs = sessions.start(other_user)
    response = post(client, LOGOUT_ALL, **bearer(phone.access))
    assert response.status_code == 204
    for gone in (phone, laptop):
        assert error_of(client.get(ME, **bearer(gone.access))) == "token_revoked"
        assert post(client, REFRESH, {"refresh": gone.refresh}).status_code == 401
    assert client.get(ME, **bearer(bobs.access)).status_code == 200
    # A login after the cutoff works again.
    fresh = login(client)
    assert client.get(ME, **bearer(fresh["access"])).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer nonsense"}])
def test_logout_all_requires_a_valid_token(client: Client, headers: dict[str, str]) -> None:
    response = post(client, LOGOUT_ALL, **headers)
    assert response.status_code == 401
    assert error_of(response) in {"not_authenticated", "token_invalid"}


# --- DPoP (RFC 9449): bound logins, refreshes and logouts --------------------------------

CREDENTIALS = {"username": "alice", "password": PASSWORD}


def dpop_login(client: Client, key: DPoPKey, **extra: Any) -> Any:
    """Log alice in with a DPoP proof from ``key``."""
    return post(client, LOGIN, CREDENTIALS, **dpop_headers(key, "POST", LOGIN), **extra)


def cnf(token: str) -> Any:
    return jwt.decode(token, options={"verify_signature": False}).get("cnf")


def spend(client: Client, refresh: str, key: DPoPKey | None) -> Any:
    """Refresh with ``refresh`` and, if ``key``, a proof from it."""
    headers = dpop_headers(key, "POST", REFRESH) if key is not None else {}
    return post(client, REFRESH, {"refresh": refresh}, **headers)


def test_a_login_with_a_proof_binds_both_tokens_and_the_session_to_its_key(
    client: Client, user: Any, dpop_key: DPoPKey
) -> None:
    response = dpop_login(client, dpop_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"  # RFC 9449 §5
    assert response["Cache-Control"] == "no-store"
    assert cnf(body["access"]) == {"jkt": dpop_key.thumbprint}
    assert cnf(body["refresh"]) == {"jkt": dpop_key.thumbprint}
    row = TokenSession.objects.get(user=user)
    assert row.dpop_jkt == dpop_key.thumbprint
    me = client.get(ME, **dpop_headers(dpop_key, "GET", ME, body["access"]))
    assert (me.status_code, me.json()) == (200, {"id": user.pk, "username": "alice"})


def test_a_login_without_a_proof_still_gets_bearer_tokens(client: Client, user: Any) -> None:
    body = login(client)
    assert body["token_type"] == "Bearer"
    assert cnf(body["access"]) is None
    assert TokenSession.objects.get(user=user).dpop_jkt == ""
    assert client.get(ME, **bearer(body["access"])).status_code == 200


@pytest.mark.parametrize(
    "proof",
    [
        lambda key: key.proof("POST", "http://testserver/auth/refresh/"),  # another URL
        lambda key: key.proof("GET", "http://testserver/auth/login/"),  # another method
        lambda key: "not.a.proof",
        lambda key: key.proof("POST", "http://testserver/auth/login/")[:-3] + "AAA",
    ],
)
def test_a_login_with_a_bad_proof_is_400_and_starts_no_session(
    client: Client, user: Any, dpop_key: DPoPKey, proof: Any
) -> None:
    response = post(client, LOGIN, CREDENTIALS, HTTP_DPOP=proof(dpop_key))
    assert response.status_code == 400  # RFC 9449 §5: the token endpoint says 400
    assert error_of(response) == "invalid_dpop_proof"
    assert "WWW-Authenticate" not in response
    assert not TokenSession.objects.exists()


def test_a_login_proof_is_checked_before_the_password_and_counts_no_failure(
    client: Client, user: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_LOGIN_FAILURE_LIMIT = 1
    wrong = {"username": "alice", "password": "wrong"}
    for _ in range(3):
        refused = post(client, LOGIN, wrong, HTTP_DPOP=dpop_key.proof("POST", "http://x/"))
        assert error_of(refused) == "invalid_dpop_proof"
    assert dpop_login(client, dpop_key).status_code == 200


def test_a_login_proof_is_never_accepted_twice(
    client: Client, user: Any, dpop_key: DPoPKey
) -> None:
    headers = dpop_headers(dpop_key, "POST", LOGIN)
    assert post(client, LOGIN, CREDENTIALS, **headers).status_code == 200
    replayed = post(client, LOGIN, CREDENTIALS, **headers)
    assert (replayed.status_code, error_of(replayed)) == (400, "invalid_dpop_proof")
    assert TokenSession.objects.count() == 1


def test_a_login_asks_for_a_nonce_and_takes_it_when_nonces_are_on(
    client: Client, user: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    settings.JWTAUTH_LOGIN_FAILURE_LIMIT = 1
    challenged = post(
        client,
        LOGIN,
        {"username": "alice", "password": "wrong"},
        **dpop_headers(dpop_key, "POST", LOGIN),
    )
    assert (challenged.status_code, error_of(challenged)) == (400, "use_dpop_nonce")
    nonce = challenged["DPoP-Nonce"]
    assert nonce == dpop.current_nonce()
    assert "WWW-Authenticate" not in challenged
    # The challenge was no failed attempt: the limit of one is still untouched.
    response = post(
        client, LOGIN, CREDENTIALS, **dpop_headers(dpop_key, "POST", LOGIN, nonce=nonce)
    )
    assert response.status_code == 200, response.content
    assert response["DPoP-Nonce"] == nonce  # RFC 9449 §8.2: the nonce to use next


def test_a_cookie_login_with_a_proof_is_refused(
    user: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    client = Client()
    response = post(
        client, LOGIN, {**CREDENTIALS, "cookie": True}, **dpop_headers(dpop_key, "POST", LOGIN)
    )
    assert (response.status_code, error_of(response)) == (400, "invalid_request")
    assert not response.cookies
    assert not TokenSession.objects.exists()


def test_with_dpop_required_a_login_needs_a_proof_and_bearer_tokens_are_refused(
    client: Client, user: Any, pair: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_REQUIRED = True
    refused = post(client, LOGIN, CREDENTIALS)
    assert (refused.status_code, error_of(refused)) == (400, "invalid_dpop_proof")
    # A bearer token issued before the switch is refused (RFC 9449 §7.1's challenge).
    me = client.get(ME, **bearer(pair.access))
    assert (me.status_code, error_of(me)) == (401, "token_invalid")
    assert me["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    spent = post(client, REFRESH, {"refresh": pair.refresh})
    assert (spent.status_code, error_of(spent)) == (401, "token_invalid")
    assert client.get(ME)["WWW-Authenticate"] == 'DPoP algs="ES256 Ed25519 EdDSA"'
    body = dpop_login(client, dpop_key).json()
    assert client.get(ME, **dpop_headers(dpop_key, "GET", ME, body["access"])).status_code == 200


def test_with_dpop_off_a_login_proof_is_ignored(
    client: Client, user: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_ENABLED = False
    body = dpop_login(client, dpop_key).json()
    assert body["token_type"] == "Bearer"  # RFC 9449 §5: the client learns it is not bound
    assert cnf(body["access"]) is None
    assert client.get(ME)["WWW-Authenticate"] == "Bearer"


def test_a_bound_refresh_gives_a_new_bound_pair(
    client: Client, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    response = spend(client, bound_pair.refresh, dpop_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert cnf(body["access"]) == cnf(body["refresh"]) == {"jkt": dpop_key.thumbprint}
    me = client.get(ME, **dpop_headers(dpop_key, "GET", ME, body["access"]))
    assert me.status_code == 200


@pytest.mark.parametrize("key", [None, "other"])
def test_a_bound_refresh_without_its_key_is_refused_and_spends_nothing(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, key: str | None
) -> None:
    sid = bound_pair.refresh_token.sid
    before = TokenSession.objects.values().get(sid=sid)
    refused = spend(client, bound_pair.refresh, DPoPKey.generate() if key else None)
    assert (refused.status_code, error_of(refused)) == (400, "invalid_dpop_proof")
    assert TokenSession.objects.values().get(sid=sid) == before  # not spent, not revoked
    assert spend(client, bound_pair.refresh, dpop_key).status_code == 200


def test_a_bound_refresh_with_a_bearer_access_token_beside_it_still_needs_the_proof(
    client: Client, bound_pair: Any
) -> None:
    refused = post(client, REFRESH, {"refresh": bound_pair.refresh}, **bearer(bound_pair.access))
    assert error_of(refused) == "invalid_dpop_proof"


def test_a_refresh_carrying_the_access_token_and_proof_verifies_the_proof_once(
    client: Client, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    # The proof, checked (with its ath) as the request's credential, is the refresh's too: a
    # second verification would refuse it as a replay.
    headers = dpop_headers(dpop_key, "POST", REFRESH, bound_pair.access)
    assert post(client, REFRESH, {"refresh": bound_pair.refresh}, **headers).status_code == 200


def test_a_bearer_refresh_with_a_proof_is_refused_and_spends_nothing(
    client: Client, pair: Any, dpop_key: DPoPKey
) -> None:
    refused = spend(client, pair.refresh, dpop_key)
    assert (refused.status_code, error_of(refused)) == (400, "invalid_dpop_proof")
    assert spend(client, pair.refresh, None).status_code == 200


def test_a_retry_keeps_the_binding_and_still_needs_the_key(
    client: Client, clock: Any, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    first = spend(client, bound_pair.refresh, dpop_key).json()
    clock.shift(1)
    # Within the interval, without the key: refused as a proof problem, not taken for reuse.
    assert spend(client, bound_pair.refresh, DPoPKey.generate()).status_code == 400
    retry = spend(client, bound_pair.refresh, dpop_key)
    assert retry.status_code == 200, retry.content
    again = retry.json()
    assert again["refresh"] == first["refresh"]
    assert again["token_type"] == "DPoP"
    assert cnf(again["access"]) == {"jkt": dpop_key.thumbprint}
    assert client.get(ME, **bearer(again["access"])).status_code == 401
    assert client.get(ME, **dpop_headers(dpop_key, "GET", ME, again["access"])).status_code == 200
    assert TokenSession.objects.get(sid=bound_pair.refresh_token.sid).revoked_at is None


def test_a_stolen_old_refresh_token_without_the_key_cannot_revoke_the_session(
    client: Client, clock: Any, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    second = spend(client, bound_pair.refresh, dpop_key).json()
    spend(client, second["refresh"], dpop_key)
    clock.shift(conf.REFRESH_REUSE_INTERVAL + 1)
    # Reuse detection would revoke the family; a thief without the key gets no that far.
    thief = spend(client, bound_pair.refresh, DPoPKey.generate())
    assert error_of(thief) == "invalid_dpop_proof"
    assert TokenSession.objects.get(sid=bound_pair.refresh_token.sid).revoked_at is None
    # The key holder's reuse is still reuse (RFC 9700 §4.14.2).
    assert error_of(spend(client, bound_pair.refresh, dpop_key)) == "token_reused"


def test_a_refresh_nonce_challenge_is_400_with_the_nonce(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    challenged = spend(client, bound_pair.refresh, dpop_key)
    assert (challenged.status_code, error_of(challenged)) == (400, "use_dpop_nonce")
    nonce = challenged["DPoP-Nonce"]
    headers = dpop_headers(dpop_key, "POST", REFRESH, nonce=nonce)
    assert post(client, REFRESH, {"refresh": bound_pair.refresh}, **headers).status_code == 200


def test_a_bound_session_logs_out_with_its_proof(
    client: Client, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    as_bearer = post(client, LOGOUT, **bearer(bound_pair.access))
    assert (as_bearer.status_code, error_of(as_bearer)) == (401, "token_invalid")
    assert TokenSession.objects.get(sid=bound_pair.access_token.sid).revoked_at is None
    headers = dpop_headers(dpop_key, "POST", LOGOUT, bound_pair.access)
    assert post(client, LOGOUT, {"refresh": bound_pair.refresh}, **headers).status_code == 204
    assert TokenSession.objects.get(sid=bound_pair.access_token.sid).revoked_at is not None


def test_a_bound_refresh_token_alone_ends_its_session_only_with_its_key(
    client: Client, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    sid = bound_pair.refresh_token.sid
    for headers in ({}, dpop_headers(DPoPKey.generate(), "POST", LOGOUT)):
        refused = post(client, LOGOUT, {"refresh": bound_pair.refresh}, **headers)
        assert (refused.status_code, error_of(refused)) == (401, "invalid_dpop_proof")
        assert refused["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
        assert TokenSession.objects.get(sid=sid).revoked_at is None
    headers = dpop_headers(dpop_key, "POST", LOGOUT)
    assert post(client, LOGOUT, {"refresh": bound_pair.refresh}, **headers).status_code == 204
    assert TokenSession.objects.get(sid=sid).revoked_at is not None


def test_logout_all_of_a_bound_session_needs_its_proof(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, user: Any
) -> None:
    assert post(client, LOGOUT_ALL, **bearer(bound_pair.access)).status_code == 401
    assert TokenSession.objects.live().filter(user=user).exists()
    headers = dpop_headers(dpop_key, "POST", LOGOUT_ALL, bound_pair.access)
    assert post(client, LOGOUT_ALL, **headers).status_code == 204
    assert not TokenSession.objects.live().filter(user=user).exists()


# --- sessions --------------------------------------------------------------------------


def test_sessions_lists_the_users_own_live_sessions_and_marks_the_current_one(
    client: Client, user: Any, other_user: Any
) -> None:
    phone = sessions.start(user, user_agent="Phone", ip_address="192.0.2.1")
    laptop = sessions.start(user, user_agent="Laptop", ip_address="2001:db8::1")
    ended = sessions.start(user, user_agent="Old")
    sessions.end(ended.access_token)
    bobs = sessions.start(other_user, user_agent="Bob's")
    response = client.get(SESSIONS, **bearer(laptop.access))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    listed = {s["id"]: s for s in response.json()["sessions"]}
    assert set(listed) == {phone.access_token.sid, laptop.access_token.sid}
    assert bobs.access_token.sid not in listed
    current = listed[laptop.access_token.sid]
    assert set(current) == {
        "id",
        "label",
        "device",
        "ip",
        "created",
        "last_used",
        "expires",
        "expires_reason",
        "current",
    }
    assert (current["device"], current["ip"], current["current"]) == ("Laptop", "2001:db8::1", True)
    assert current["label"] == ""
    assert listed[phone.access_token.sid]["current"] is False
    assert response.json()["count"] == 2
    assert (response.json()["next"], response.json()["previous"]) == (None, None)


def test_sessions_leaves_out_the_sessions_a_cutoff_killed(
    client: Client, user: Any, clock: Any
) -> None:
    """Issue 12 item 5: logout-all (a per-user cutoff) left its sessions listed as live."""
    phone = sessions.start(user, user_agent="Phone")
    assert post(client, LOGOUT_ALL, **bearer(phone.access)).status_code == 204
    clock.shift(1)
    laptop = sessions.start(user, user_agent="Laptop")
    listed = client.get(SESSIONS, **bearer(laptop.access)).json()
    assert [s["device"] for s in listed["sessions"]] == ["Laptop"]
    assert listed["count"] == 1


def test_revoking_a_session_a_cutoff_killed_is_404_not_a_silent_204(
    client: Client, user: Any, clock: Any
) -> None:
    """Issue 12 item 5: revoking such a session answered 204 and did nothing."""
    phone = sessions.start(user)
    revocation.revoke_user(user.pk, reason="password changed")
    clock.shift(1)
    laptop = sessions.start(user)
    url = reverse("jwtauth:session-revoke", args=[phone.access_token.sid])
    response = post(client, url, **bearer(laptop.access))
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    assert TokenSession.objects.get(sid=phone.access_token.sid).revoked_at is None


def _many_sessions(user: Any, count: int) -> None:
    # Rows as logins leave them, written in one statement: the list's size is under test.
    moment = sessions.now()
    TokenSession.objects.bulk_create(
        TokenSession(
            sid=f"bulk-{i:05d}",
            user=user,
            created_at=moment - timedelta(seconds=i + 1),
            expires_at=moment + timedelta(days=1),
            refresh_jti=f"bulk-jti-{i:05d}",
        )
        for i in range(count)
    )


def test_sessions_are_listed_a_page_at_a_time(client: Client, user: Any, pair: Any) -> None:
    """Issue 12 item 6: 30,000 sessions were one 14.5 MB answer; now pages of 50."""
    _many_sessions(user, 120)
    first = client.get(SESSIONS, **bearer(pair.access)).json()
    assert len(first["sessions"]) == 50
    assert first["count"] == 121
    assert first["sessions"][0]["id"] == pair.access_token.sid  # newest first
    assert first["previous"] is None
    assert first["next"] == "/auth/sessions/?page=2"
    second = client.get(first["next"], **bearer(pair.access)).json()
    assert second["previous"] == "/auth/sessions/?page=1"
    third = client.get(second["next"], **bearer(pair.access)).json()
    assert len(third["sessions"]) == 21
    assert third["next"] is None
    seen = [s["id"] for page in (first, second, third) for s in page["sessions"]]
    assert len(set(seen)) == 121


@pytest.mark.parametrize(("page", "status"), [("0", 400), ("-1", 400), ("x", 400), ("2", 404)])
def test_sessions_refuses_a_page_that_is_not_there(
    client: Client, pair: Any, page: str, status: int
) -> None:
    response = client.get(SESSIONS, {"page": page}, **bearer(pair.access))
    assert response.status_code == status
    assert error_of(response) == {400: "invalid_request", 404: "not_found"}[status]


def test_sessions_shows_when_and_why_each_session_ends(
    client: Client, user: Any, clock: Any
) -> None:
    pair = sessions.start(user)
    (row,) = client.get(SESSIONS, **bearer(pair.access)).json()["sessions"]
    login = datetime.fromtimestamp(1_800_000_000, UTC)
    assert (row["expires"], row["expires_reason"]) == (
        (login + timedelta(days=7)).isoformat(),
        "idle",
    )
    # Refreshed daily, the session lives on until its absolute lifetime, whatever it does.
    for _ in range(27):
        clock.shift(24 * 3600)
        pair = sessions.rotate(pair.refresh_token)
    (row,) = client.get(SESSIONS, **bearer(pair.access)).json()["sessions"]
    end = login + timedelta(days=30)
    assert (row["expires"], row["expires_reason"]) == (end.isoformat(), "lifetime")
    assert datetime.fromtimestamp(pair.refresh_token.exp, UTC) == end
    assert datetime.fromtimestamp(pair.access_token.exp, UTC) <= end


def test_sessions_last_used_follows_refreshes(client: Client, user: Any, clock: Any) -> None:
    pair = sessions.start(user)
    clock.shift(120)
    rotated = post(client, REFRESH, {"refresh": pair.refresh}).json()
    (row,) = client.get(SESSIONS, **bearer(rotated["access"])).json()["sessions"]
    assert row["last_used"] > row["created"]


def test_sessions_requires_a_token(client: Client) -> None:
    response = client.get(SESSIONS)
    assert response.status_code == 401
    assert error_of(response) == "not_authenticated"


def test_a_user_revokes_one_of_their_sessions(client: Client, user: Any) -> None:
    phone, laptop = sessions.start(user), sessions.start(user)
    url = reverse("jwtauth:session-revoke", args=[phone.access_token.sid])
    response = post(client, url, **bearer(laptop.access))
    assert response.status_code == 204
    assert error_of(client.get(ME, **bearer(phone.access))) == "token_revoked"
    assert post(client, REFRESH, {"refresh": phone.refresh}).status_code == 401
    assert client.get(ME, **bearer(laptop.access)).status_code == 200


@pytest.mark.parametrize("sid", ["bob", "no-such-session", "x" * 300, "a%00b", "%ff", "a.b"])
def test_revoking_another_users_or_an_unknown_session_is_404(
    client: Client, pair: Any, other_user: Any, sid: str
) -> None:
    bobs = sessions.start(other_user)
    target = bobs.access_token.sid if sid == "bob" else sid
    response = post(client, f"/auth/sessions/{target}/revoke/", **bearer(pair.access))
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    assert client.get(ME, **bearer(bobs.access)).status_code == 200


def test_session_revoke_requires_a_token(client: Client, pair: Any) -> None:
    response = post(client, f"/auth/sessions/{pair.access_token.sid}/revoke/")
    assert response.status_code == 401
    assert client.get(ME, **bearer(pair.access)).status_code == 200


def patch(client: Client, path: str, data: Any, **extra: Any) -> Any:
    """PATCH ``data`` as JSON."""
    return client.patch(path, data, content_type="application/json", **extra)


def test_a_user_labels_a_session_and_sees_the_label_in_the_list(
    client: Client, user: Any, pair: Any
) -> None:
    phone = sessions.start(user, user_agent="Phone")
    url = reverse("jwtauth:session", args=[phone.access_token.sid])
    response = patch(client, url, {"label": "  Work phone  "}, **bearer(pair.access))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["id"], body["label"], body["device"], body["current"]) == (
        phone.access_token.sid,
        "Work phone",
        "Phone",
        False,
    )
    assert client.get(url, **bearer(pair.access)).json() == body
    listed = {
        s["id"]: s["label"] for s in client.get(SESSIONS, **bearer(pair.access)).json()["sessions"]
    }
    assert listed[phone.access_token.sid] == "Work phone"
    cleared = patch(client, url, {"label": ""}, **bearer(phone.access))
    assert (cleared.json()["label"], cleared.json()["current"]) == ("", True)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"label": None},
        {"label": 5},
        {"label": ["x"]},
        {"label": "x" * 101},
        {"label": " " + "x" * 100},
        {"label": "a\x85b"},
        {"label": "\ud800"},
        {"label": "a\x00b"},
        {"label": "a\nb"},
    ],
    ids=repr,
)
def test_a_label_must_be_short_printable_text(client: Client, pair: Any, data: Any) -> None:
    url = reverse("jwtauth:session", args=[pair.access_token.sid])
    response = patch(client, url, data, **bearer(pair.access))
    assert (response.status_code, error_of(response)) == (400, "invalid_request")
    assert TokenSession.objects.get(sid=pair.access_token.sid).label == ""


def test_labelling_another_users_or_a_dead_session_is_404(
    client: Client, user: Any, other_user: Any, pair: Any
) -> None:
    bobs = sessions.start(other_user)
    ended = sessions.start(user)
    sessions.end(ended.access_token)
    for sid in (bobs.access_token.sid, ended.access_token.sid, "no-such-session", "a.b"):
        url = f"/auth/sessions/{sid}/"
        response = patch(client, url, {"label": "mine now"}, **bearer(pair.access))
        assert (response.status_code, error_of(response)) == (404, "not_found")
        assert client.get(url, **bearer(pair.access)).status_code == 404
    assert not TokenSession.objects.filter(label="mine now").exists()


def test_labelling_needs_a_token_and_with_cookies_the_csrf_token(user: Any, pair: Any) -> None:
    url = reverse("jwtauth:session", args=[pair.access_token.sid])
    browser = Client(enforce_csrf_checks=True)
    assert patch(browser, url, {"label": "x"}).status_code == 401
    browser.cookies[conf.ACCESS_COOKIE] = pair.access
    refused = patch(browser, url, {"label": "x"})
    assert (refused.status_code, error_of(refused)) == (403, "permission_denied")
    assert TokenSession.objects.get(sid=pair.access_token.sid).label == ""


# --- JWKS ------------------------------------------------------------------------------

# RFC 7638 §3.2: the members each key type's thumbprint covers.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def thumbprint(jwk: dict[str, str]) -> str:
    """Compute the RFC 7638 thumbprint of a public JWK, written out from the RFC."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode())
    return jwt.utils.base64url_encode(digest.digest()).decode()


def use_keys(settings: Any, alg: str, private: str, fallbacks: list[str] | None = None) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_PRIVATE_KEY = private
    settings.JWTAUTH_PUBLIC_KEY_FALLBACKS = fallbacks or []


def fresh_pem(alg: str) -> str:
    """Return a new PEM private key for ``alg``: a key nobody else has."""
    key: Any = {
        "RS256": lambda: rsa.generate_private_key(65537, 2048),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate,
    }[alg]()
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_jwks_publishes_current_and_fallback_public_keys_only(
    client: Client, settings: Any, private_keys: dict[str, str], alg: str
) -> None:
    use_keys(settings, alg, private_keys[alg], [public_pem(fresh_pem(alg))])
    settings.JWTAUTH_JWKS_MAX_AGE = 900
    response = client.get(JWKS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=900"
    keys = response.json()["keys"]
    assert len(keys) == 2
    assert len({jwk["kid"] for jwk in keys}) == 2
    for jwk in keys:
        assert jwk["use"] == "sig"
        assert jwk["alg"] == alg
        assert jwk["kid"] == thumbprint(jwk)
        assert not PRIVATE_MEMBERS & set(jwk)
    # The first key is the signing key: its JWK holds the configured key's public half.
    published = jwt.PyJWK.from_dict(keys[0]).key
    assert (
        public_pem(private_keys[alg])
        == published.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )
    assert client.get("/auth/jwks.json").json() == response.json()


def test_jwks_is_404_with_an_hmac_algorithm(client: Client) -> None:
    response = client.get(JWKS)
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    assert conf.SECRET_KEY not in response.content.decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_token_verifies_with_only_the_published_jwk_set(
    client: Client, settings: Any, private_keys: dict[str, str], user: Any, alg: str
) -> None:
    """Verify a login's access token with PyJWT and nothing but the fetched JWK Set."""
    use_keys(settings, alg, private_keys[alg])
    access = login(client)["access"]
    jwk_set = jwt.PyJWKSet.from_dict(client.get(JWKS).json())
    kid = jwt.get_unverified_header(access)["kid"]
    key = next(k for k in jwk_set.keys if k.key_id == kid)
    claims = jwt.decode(
        access, key=key.key, algorithms=[alg], audience=conf.AUDIENCE, issuer=conf.ISSUER
    )
    assert claims["sub"] == str(user.pk)
    # A token signed with another key of the same algorithm is refused by the same set.
    use_keys(settings, alg, fresh_pem(alg))
    forged = login(client)["access"]
    assert jwt.get_unverified_header(forged)["kid"] not in {k.key_id for k in jwk_set.keys}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key=key.key, algorithms=[alg], audience=conf.AUDIENCE)


def test_a_token_signed_before_a_key_rotation_verifies_with_the_published_fallback(
    client: Client, settings: Any, private_keys: dict[str, str], user: Any
) -> None:
    use_keys(settings, "RS256", private_keys["RS256"])
    old_token = login(client)["access"]
    use_keys(settings, "RS256", private_keys["RS256-other"], [public_pem(private_keys["RS256"])])
    jwk_set = jwt.PyJWKSet.from_dict(client.get(JWKS).json())
    jwk = jwk_set[jwt.get_unverified_header(old_token)["kid"]]
    assert jwt.decode(old_token, key=jwk.key, algorithms=["RS256"], audience=conf.AUDIENCE)
    assert client.get(ME, **bearer(old_token)).status_code == 200


# --- CSRF ------------------------------------------------------------------------------


def test_csrf_endpoint_sets_the_cookie_and_returns_the_token(client: Client) -> None:
    response = client.get("/auth/csrf/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json()["csrf_token"]
    assert response.cookies["csrftoken"].value


# --- nothing a client sends is a 5xx -----------------------------------------------------

_FIELDS = st.sampled_from(["username", "password", "refresh", "cookie", "csrfmiddlewaretoken"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELDS, inner, max_size=3),
    max_leaves=6,
)
_LATIN1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=60)  # what WSGI can carry


@hypothesis.settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    path=st.sampled_from(
        [
            LOGIN,
            REFRESH,
            LOGOUT,
            LOGOUT_ALL,
            SESSIONS,
            "/auth/sessions/x/",
            "/auth/sessions/x/revoke/",
            JWKS,
            ME,
        ]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", ""]
    ),
    body=st.binary(max_size=200) | _VALUES.map(lambda v: json.dumps(v).encode()),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "HTTP_AUTHORIZATION",
                "HTTP_COOKIE",
                "HTTP_USER_AGENT",
                "HTTP_X_CSRFTOKEN",
                "HTTP_DPOP",
            ]
        ),
        _LATIN1,
        max_size=3,
    ),
)
def test_no_client_input_is_answered_with_a_5xx(
    user: Any, path: str, method: str, content_type: str, body: bytes, headers: dict[str, str]
) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.generic(method, path, body, content_type=content_type, **headers)
    assert response.status_code < 500, response.content
