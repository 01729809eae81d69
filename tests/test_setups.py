"""The whole flow in each set-up the docs present: the middleware, DRF alone, Django Ninja alone.

Login, the API, refresh, the sessions list and revoke, logout, logout-all, and the refused
tokens afterwards: every step must answer alike whatever the set-up (the same status, the same
``{"error", "detail"}`` body, the same challenge), since every piece authenticates the request
through :func:`jwtauth.requestauth.authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from jwtauth import sessions
from jwtauth.conf import conf
from jwtauth.dpop.client import DPoPKey
from services import free_port
from tests.conftest import NO_CREDENTIAL, PASSWORD, dpop_headers

pytestmark = pytest.mark.django_db

JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"
ME = "/api/me/"
ECHO = "/api/echo/"
REVOKED = {"error": "token_revoked", "detail": "The token has been revoked."}
REVOKED_CHALLENGE = 'Bearer error="invalid_token", error_description="The token has been revoked."'


@dataclass(frozen=True)
class Setup:
    """One documented way of installing jwtauth."""

    name: str
    urlconf: str
    middleware: bool


SETUPS = [
    Setup("middleware", "tests.setups.middleware_urls", middleware=True),
    Setup("drf-only", "tests.setups.drf_urls", middleware=False),
    Setup("ninja-only", "tests.setups.ninja_urls", middleware=False),
]


@pytest.fixture(params=SETUPS, ids=[s.name for s in SETUPS])
def setup(request: Any, settings: Any) -> Setup:
    """Serve the set-up's urlconf, with jwtauth's middleware only where it installs it."""
    chosen: Setup = request.param
    settings.ROOT_URLCONF = chosen.urlconf
    if not chosen.middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != JWT_MIDDLEWARE]
    return chosen


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def login(client: Client, *, cookie: bool = False, **headers: Any) -> Any:
    body = {"username": "alice", "password": PASSWORD, "cookie": cookie}
    return client.post("/auth/login/", body, "application/json", **headers)


def pair_of(client: Client) -> dict[str, str]:
    response = login(client)
    assert response.status_code == 200, response.content
    return dict(response.json())


def assert_refused(response: Any, body: dict[str, str], challenge: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == body
    assert response["WWW-Authenticate"] == challenge


def test_the_whole_flow_with_bearer_tokens(setup: Setup, user: Any) -> None:
    # A client that enforces CSRF like a deployment: Bearer requests must not need a token.
    client = Client(enforce_csrf_checks=True)
    first = pair_of(client)
    me = client.get(ME, **bearer(first["access"]))
    assert (me.status_code, me.json()) == (200, {"id": user.pk, "username": "alice"})
    echo = client.post(ECHO, {"message": "hi"}, "application/json", **bearer(first["access"]))
    assert echo.json() == {"username": "alice", "message": "hi"}

    refreshed = client.post("/auth/refresh/", {"refresh": first["refresh"]}, "application/json")
    assert refreshed.status_code == 200
    current = refreshed.json()
    assert client.get(ME, **bearer(current["access"])).status_code == 200

    other = pair_of(client)  # a second device
    listed = client.get("/auth/sessions/", **bearer(current["access"])).json()["sessions"]
    assert len(listed) == 2
    [mine] = [s for s in listed if s["current"]]
    [theirs] = [s for s in listed if not s["current"]]
    revoked = client.post(f"/auth/sessions/{theirs['id']}/revoke/", **bearer(current["access"]))
    assert revoked.status_code == 204
    assert_refused(client.get(ME, **bearer(other["access"])), REVOKED, REVOKED_CHALLENGE)

    logout = client.post(
        "/auth/logout/", {"refresh": current["refresh"]}, "application/json",
        **bearer(current["access"]),
    )  # fmt: skip
    assert logout.status_code == 204
    assert not logout.cookies  # no cookie was presented, so none is cleared
    assert_refused(client.get(ME, **bearer(current["access"])), REVOKED, REVOKED_CHALLENGE)
    again = client.post("/auth/refresh/", {"refresh": current["refresh"]}, "application/json")
    assert_refused(again, REVOKED, REVOKED_CHALLENGE)
    assert mine["id"] != theirs["id"]

    a, b = pair_of(client), pair_of(client)
    assert client.post("/auth/logout-all/", **bearer(a["access"])).status_code == 204
    for pair in (a, b):
        assert_refused(client.get(ME, **bearer(pair["access"])), REVOKED, REVOKED_CHALLENGE)


def test_the_whole_flow_in_cookie_mode(setup: Setup, user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    csrf = {"HTTP_X_CSRFTOKEN": client.get("/auth/csrf/").json()["csrf_token"]}
    assert login(client, cookie=True, **csrf).status_code == 200
    assert client.get(ME).json() == {"id": user.pk, "username": "alice"}
    forged = client.post(ECHO, {"message": "hi"}, "application/json")
    assert forged.status_code == 403
    assert forged.json() == {"error": "permission_denied", "detail": "CSRF verification failed."}
    echo = client.post(ECHO, {"message": "hi"}, "application/json", **csrf)
    assert echo.json() == {"username": "alice", "message": "hi"}

    old_access = client.cookies[conf.ACCESS_COOKIE].value
    assert client.post("/auth/refresh/", **csrf).status_code == 200
    assert client.cookies[conf.ACCESS_COOKIE].value != old_access
    [current] = client.get("/auth/sessions/").json()["sessions"]
    assert current["current"]

    dead_access = client.cookies[conf.ACCESS_COOKIE].value
    refused = client.post("/auth/logout/")
    assert refused.status_code == 403
    assert not refused.cookies  # a refused logout logs nobody out
    logout = client.post("/auth/logout/", **csrf)
    assert logout.status_code == 204
    assert logout.cookies[conf.ACCESS_COOKIE]["max-age"] == 0
    client.cookies[conf.ACCESS_COOKIE] = dead_access  # a browser that kept the cookie
    assert_refused(client.get(ME), REVOKED, REVOKED_CHALLENGE)

    assert login(client, cookie=True, **csrf).status_code == 200
    assert client.post("/auth/logout-all/", **csrf).status_code == 204
    assert client.get(ME).status_code == 401


@pytest.mark.parametrize("scheme", ["header", "cookie"])
def test_an_expired_token_is_answered_alike(
    setup: Setup, user: Any, clock: Any, scheme: str
) -> None:
    client = Client()
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    if scheme == "cookie":
        client.cookies[conf.ACCESS_COOKIE] = pair.access
        response = client.get(ME)
    else:
        response = client.get(ME, **bearer(pair.access))
    # Clients refresh on this code (docs/browser.md); it must survive every set-up.
    assert_refused(
        response,
        {"error": "token_expired", "detail": "The token has expired."},
        'Bearer error="invalid_token", error_description="The token has expired."',
    )


def test_a_deactivated_user_is_refused_alike(
    setup: Setup, user: Any, pair: Any, django_user_model: Any
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no cutoff moved
    detail = "The user of this token is no longer active."
    assert_refused(
        Client().get(ME, **bearer(pair.access)),
        {"error": "token_revoked", "detail": detail},
        f'Bearer error="invalid_token", error_description="{detail}"',
    )


def test_no_token_is_401_with_a_bare_challenge(setup: Setup) -> None:
    response = Client().get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_CREDENTIAL
    if setup.name != "drf-only":
        # DRF answers this one itself, after every authentication class declined.
        assert response.json()["error"] == "not_authenticated"


def test_a_logout_with_the_access_token_alone_ends_the_session(
    setup: Setup, user: Any, pair: Any
) -> None:
    response = Client().post("/auth/logout/", **bearer(pair.access))
    assert response.status_code == 204
    assert_refused(Client().get(ME, **bearer(pair.access)), REVOKED, REVOKED_CHALLENGE)
    spent = Client().post("/auth/refresh/", {"refresh": pair.refresh}, "application/json")
    assert_refused(spent, REVOKED, REVOKED_CHALLENGE)


# --- DPoP (RFC 9449): the same flow with tokens bound to the client's key ----------------

ALGS = 'algs="ES256 Ed25519 EdDSA"'


def dpop(key: DPoPKey, method: str, path: str, access: str | None = None, **kw: Any) -> Any:
    return dpop_headers(key, method, path, access, **kw)


def test_the_whole_flow_with_dpop_bound_tokens(setup: Setup, user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    key = DPoPKey.generate()
    first = login(client, **dpop(key, "POST", "/auth/login/"))
    assert first.json()["token_type"] == "DPoP"
    access = first.json()["access"]
    me = client.get(ME, **dpop(key, "GET", ME, access))
    assert (me.status_code, me.json()) == (200, {"id": user.pk, "username": "alice"})
    echo = client.post(
        ECHO, {"message": "hi"}, "application/json", **dpop(key, "POST", ECHO, access)
    )
    assert echo.json() == {"username": "alice", "message": "hi"}  # no CSRF token needed

    refreshed = client.post(
        "/auth/refresh/", {"refresh": first.json()["refresh"]}, "application/json",
        **dpop(key, "POST", "/auth/refresh/"),
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.content
    current = refreshed.json()
    listed = client.get("/auth/sessions/", **dpop(key, "GET", "/auth/sessions/", current["access"]))
    assert [s["current"] for s in listed.json()["sessions"]] == [True]

    logout = client.post(
        "/auth/logout/", {"refresh": current["refresh"]}, "application/json",
        **dpop(key, "POST", "/auth/logout/", current["access"]),
    )  # fmt: skip
    assert logout.status_code == 204
    assert_refused(
        client.get(ME, **dpop(key, "GET", ME, current["access"])),
        REVOKED,
        f'DPoP error="invalid_token", error_description="The token has been revoked.", {ALGS}',
    )


STOLEN = {
    "as bearer": ("token_invalid", "The token is bound to a key; send it with DPoP and a proof."),
    "another key": ("token_invalid", "The DPoP proof was made with another key than the token's."),
    "no proof": ("invalid_dpop_proof", "The request carries no DPoP proof."),
    "replay": ("invalid_dpop_proof", "The DPoP proof was already used."),
}


@pytest.mark.parametrize("attack", STOLEN)
def test_a_stolen_bound_token_is_refused_alike(
    setup: Setup, user: Any, bound_pair: Any, dpop_key: DPoPKey, attack: str
) -> None:
    code, detail = STOLEN[attack]
    access = bound_pair.access
    if attack == "as bearer":
        headers = bearer(access)
    elif attack == "another key":
        headers = dpop(DPoPKey.generate(), "GET", ME, access)
    elif attack == "no proof":
        headers = {"HTTP_AUTHORIZATION": f"DPoP {access}"}
    else:
        headers = dpop(dpop_key, "GET", ME, access)
        assert Client().get(ME, **headers).status_code == 200
    error = "invalid_dpop_proof" if code == "invalid_dpop_proof" else "invalid_token"
    challenge = f'DPoP error="{error}", error_description="{detail}", {ALGS}'
    assert_refused(Client().get(ME, **headers), {"error": code, "detail": detail}, challenge)


def test_a_nonce_challenge_is_answered_alike(
    setup: Setup, user: Any, bound_pair: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    if setup.name == "drf-only":
        settings.REST_FRAMEWORK = {"EXCEPTION_HANDLER": "jwtauth.contrib.drf.exception_handler"}
    challenged = Client().get(ME, **dpop(dpop_key, "GET", ME, bound_pair.access))
    assert challenged.status_code == 401
    assert challenged.json()["error"] == "use_dpop_nonce"
    assert challenged["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = challenged["DPoP-Nonce"]
    retried = Client().get(ME, **dpop(dpop_key, "GET", ME, bound_pair.access, nonce=nonce))
    assert retried.status_code == 200


@pytest.mark.redis
def test_an_outage_is_answered_alike_with_when_to_retry(
    setup: Setup, user: Any, bound_pair: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    # Nothing listens there, so the proof cannot be recorded: a 503 in every set-up, with the
    # same body and the Retry-After that spaces the client's retries (DRF's too).
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"},
    }
    response = Client().get(ME, **dpop(dpop_key, "GET", ME, bound_pair.access))
    assert response.status_code == 503, response.content
    assert response.json() == {
        "error": "service_unavailable",
        "detail": "DPoP proofs cannot be checked right now. Try again shortly.",
    }
    assert response["Retry-After"] == "1"
