"""The authentication and security-header middleware, through the test clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client
from django.urls import include, path
from django.views.decorators.clickjacking import xframe_options_exempt

from jwtauth import revocation, sessions
from jwtauth.checks import AUTH_MIDDLEWARE, JWT_MIDDLEWARE, ORDER_ERROR
from jwtauth.conf import conf
from jwtauth.decorators import jwt_required
from services import free_port
from tests.conftest import NO_CREDENTIAL, bound_access

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

ROOT = Path(__file__).resolve().parent.parent
PAGE = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class SessionUserMiddleware(AuthenticationMiddleware):
    """A project's own authentication middleware, built on Django's."""


def auth_only(request: HttpRequest) -> JsonResponse:
    """Answer from ``request.auth`` alone, never touching ``request.user``."""
    token = request.auth  # type: ignore[attr-defined]
    return JsonResponse({"jti": token.jti if token else None, "sub": token.sub if token else None})


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username() or None})


async def async_whoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse({"username": user.get_username() or None})


@jwt_required
async def async_required(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username()})


@xframe_options_exempt
def frameable(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


urlpatterns = [
    path("t/auth-only/", auth_only),
    path("t/whoami/", whoami),
    path("t/async-whoami/", async_whoami),
    path("t/async-required/", async_required),
    path("t/frameable/", frameable),
    path("", include("project.urls")),
]


def bearer(access: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"{scheme} {access}"}


def header(access: str) -> dict[str, dict[str, str]]:
    """Return AsyncClient kwargs carrying the token (it takes headers, not WSGI META keys)."""
    return {"headers": {"Authorization": f"Bearer {access}"}}


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}
    return str(body["error"])


def assert_clears_the_access_cookie(response: Any) -> None:
    morsel = response.cookies[conf.ACCESS_COOKIE]
    assert (morsel.value, morsel["max-age"], morsel["path"]) == ("", 0, "/")


# --- finding the credential ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client: Client, pair: Any, scheme: str) -> None:
    response = client.get("/t/whoami/", **bearer(pair.access, scheme))
    assert response.json() == {"username": "alice"}


@pytest.mark.parametrize(
    "value",
    [
        "Bearer {t} {t}",  # two credentials in one header
        "Bearer {t},Bearer {t}",  # two Authorization headers, joined by the server
        "Bearer {t}, Basic YWxpY2U6cHc=",
        "Basic YWxpY2U6cHc=, Bearer {t}",
        "Bearer",
        "Bearer ",
        "Bearer {t}=",  # outside the JWS alphabet
    ],
)
def test_anything_but_exactly_one_bearer_token_is_refused(
    client: Client, pair: Any, value: str
) -> None:
    response = client.get("/api/ping/", HTTP_AUTHORIZATION=value.format(t=pair.access))
    assert response.status_code == 401
    assert error_of(response) == "token_invalid"
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_another_scheme_is_not_a_token(client: Client) -> None:
    assert client.get("/api/ping/", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=").status_code == 200
    response = client.get("/api/me/", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


@pytest.mark.parametrize("name", ["access_token", "token", "auth_token", "jwt"])
def test_tokens_are_never_read_from_the_query_string(client: Client, pair: Any, name: str) -> None:
    response = client.get(f"/api/me/?{name}={pair.access}")
    assert response.status_code == 401
    assert error_of(response) == "not_authenticated"
    assert response["WWW-Authenticate"] == NO_CREDENTIAL  # RFC 6750 §3.1: no token, no error code
    assert client.get(f"/t/auth-only/?{name}={pair.access}").json()["jti"] is None


def test_the_access_cookie_authenticates_in_cookie_mode(client: Client, pair: Any) -> None:
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    assert client.get("/t/whoami/").json() == {"username": "alice"}


def test_the_access_cookie_is_ignored_outside_cookie_mode(
    client: Client, pair: Any, settings: Any
) -> None:
    settings.JWTAUTH_COOKIES = False
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    assert client.get("/t/auth-only/").json()["jti"] is None


def test_the_header_wins_over_the_cookie(client: Client, pair: Any, other_user: Any) -> None:
    from jwtauth import sessions

    bobs = sessions.start(other_user)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    assert client.get("/t/whoami/", **bearer(bobs.access)).json() == {"username": "bob"}


# --- what the middleware sets ----------------------------------------------------------


def test_request_auth_holds_the_verified_claims(client: Client, pair: Any, user: Any) -> None:
    body = client.get("/t/auth-only/", **bearer(pair.access)).json()
    assert body == {"jti": pair.access_token.jti, "sub": str(user.pk)}


def test_the_user_is_loaded_only_when_read(
    client: Client, pair: Any, django_assert_num_queries: Any
) -> None:
    # With the shared cache (Redis) a warm revocation check costs no query; with a
    # per-process cache jwtauth reads the database each time (one query). Either way the user
    # costs exactly one more query, and only when the view reads it.
    check = 0 if django_settings.REDIS_URL else 1
    client.get("/t/auth-only/", **bearer(pair.access))  # warms the cache
    with django_assert_num_queries(check):
        assert client.get("/t/auth-only/", **bearer(pair.access)).status_code == 200
    with django_assert_num_queries(check + 1):
        assert client.get("/t/whoami/", **bearer(pair.access)).json() == {"username": "alice"}


def test_a_user_deactivated_behind_jwtauths_back_reads_as_anonymous(
    client: Client, pair: Any, user: Any, django_user_model: Any
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no signal
    assert client.get("/t/whoami/", **bearer(pair.access)).json() == {"username": None}


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda p: p.access[:-4] + "AAAA", "token_invalid"),
        (lambda p: p.refresh, "token_invalid"),
        (lambda p: "a.b.c", "token_invalid"),
    ],
)
def test_a_bad_token_is_answered_401_at_once_not_treated_as_anonymous(
    client: Client, pair: Any, make: Any, code: str
) -> None:
    response = client.get("/api/ping/", **bearer(make(pair)))
    assert response.status_code == 401
    assert error_of(response) == code
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert response["Cache-Control"] == "no-store"


def test_an_expired_token_is_401_token_expired(client: Client, user: Any, clock: Any) -> None:
    from jwtauth import sessions

    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    response = client.get("/api/ping/", **bearer(pair.access))
    assert response.status_code == 401
    assert error_of(response) == "token_expired"
    assert 'error_description="The token has expired."' in response["WWW-Authenticate"]


def test_a_revoked_token_is_401_token_revoked(client: Client, pair: Any) -> None:
    revocation.revoke(pair.access_token)
    response = client.get("/api/ping/", **bearer(pair.access))
    assert response.status_code == 401
    assert error_of(response) == "token_revoked"


def test_no_token_stays_anonymous_on_open_views(client: Client) -> None:
    response = client.get("/api/ping/")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.parametrize(
    ("cookies", "vary"),
    [(True, {"Authorization", "Cookie"}), (False, {"Authorization"})],
)
def test_vary_names_what_the_answer_depends_on(
    client: Client, settings: Any, cookies: bool, vary: set[str]
) -> None:
    settings.JWTAUTH_COOKIES = cookies
    response = client.get("/api/ping/")
    # Accept-Language is LocaleMiddleware's (installed in the test settings, as in the demo).
    assert {v.strip() for v in response["Vary"].split(",")} == {*vary, "Accept-Language"}


def test_a_401_carries_vary_too(client: Client) -> None:
    response = client.get("/api/ping/", HTTP_AUTHORIZATION="Bearer x.y.z")
    assert "Authorization" in response["Vary"]


# --- async -----------------------------------------------------------------------------


def test_async_views_get_the_user_through_auser(pair: Any) -> None:
    client = AsyncClient()
    response = async_to_sync(client.get)("/t/async-whoami/", **header(pair.access))
    assert response.json() == {"username": "alice"}
    anonymous = async_to_sync(client.get)("/t/async-whoami/")
    assert anonymous.json() == {"username": None}


def test_sync_views_work_under_the_async_handler(pair: Any) -> None:
    client = AsyncClient()
    response = async_to_sync(client.get)("/api/me/", **header(pair.access))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert "Authorization" in response["Vary"]


def test_async_handler_refuses_bad_tokens_and_serves_jwt_required_async_views(pair: Any) -> None:
    client = AsyncClient()
    refused = async_to_sync(client.get)("/api/ping/", **header("a.b.c"))
    assert refused.status_code == 401
    assert error_of(refused) == "token_invalid"
    assert async_to_sync(client.get)("/t/async-required/").status_code == 401
    ok = async_to_sync(client.get)("/t/async-required/", **header(pair.access))
    assert ok.json() == {"username": "alice"}


# --- security headers ------------------------------------------------------------------


def _every_kind_of_response(client: Client) -> list[Any]:
    return [
        client.get("/api/ping/"),
        client.get("/api/me/"),  # 401
        client.get("/auth/login/"),  # 405
        client.post("/auth/login/", "{", content_type="application/json"),  # 400
        client.get("/no/such/page/"),  # 404
        client.get("/api/ping/", HTTP_AUTHORIZATION="Bearer a.b.c"),  # 401 from middleware
    ]


def test_every_response_carries_the_security_headers(client: Client) -> None:
    for response in _every_kind_of_response(client):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-XSS-Protection"] == "0"
        assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


def test_hsts_is_sent_on_https(client: Client, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    for response in (client.get("/api/ping/", secure=True), client.get("/api/me/", secure=True)):
        assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/api/ping/")


@pytest.mark.parametrize(("value", "header"), [("1; mode=block", "1; mode=block"), (None, None)])
def test_x_xss_protection_is_configurable(
    client: Client, settings: Any, value: str | None, header: str | None
) -> None:
    settings.JWTAUTH_X_XSS_PROTECTION = value
    assert client.get("/api/ping/").get("X-XSS-Protection") == header


def test_frame_denial_holds_without_djangos_clickjacking_middleware(
    client: Client, settings: Any
) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "clickjacking" not in m]
    assert client.get("/api/ping/")["X-Frame-Options"] == "DENY"
    assert "X-Frame-Options" not in client.get("/t/frameable/")


# --- a dead access cookie --------------------------------------------------------------


def test_a_401_owed_to_a_dead_cookie_clears_it(client: Client, pair: Any) -> None:
    revocation.revoke_session(pair.access_token.sid)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    response = client.get("/api/ping/")
    assert (response.status_code, error_of(response)) == (401, "token_revoked")
    assert_clears_the_access_cookie(response)
    assert conf.REFRESH_COOKIE not in response.cookies  # it travels to the refresh path only
    assert client.get("/api/ping/").status_code == 200  # the browser is unstuck


def test_a_401_owed_to_a_bearer_header_leaves_the_cookies_alone(client: Client, pair: Any) -> None:
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    response = client.get("/api/ping/", **bearer("a.b.c"))
    assert response.status_code == 401
    assert not response.cookies


def test_a_page_load_with_a_dead_cookie_is_served_and_clears_it(
    client: Client, pair: Any, other_user: Any
) -> None:
    revocation.revoke_session(pair.access_token.sid)
    client.force_login(other_user)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    # A page, not jwtauth's JSON: the session's user, as if the dead cookie were not there.
    response = client.get("/t/whoami/", **PAGE)
    assert (response.status_code, response.json()) == (200, {"username": "bob"})
    assert_clears_the_access_cookie(response)
    # An API call from the same browser (fetch asks for */* or JSON) is still refused.
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    refused = client.get("/t/whoami/", HTTP_ACCEPT="application/json")
    assert (refused.status_code, error_of(refused)) == (401, "token_revoked")


def test_a_refresh_beside_an_expired_access_cookie_keeps_the_new_one(
    client: Client, user: Any, clock: Any
) -> None:
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    client.cookies[conf.REFRESH_COOKIE] = pair.refresh
    response = client.post("/auth/refresh/")
    assert response.status_code == 200
    assert response.cookies[conf.ACCESS_COOKIE].value  # set, not cleared
    assert client.get("/t/whoami/").json() == {"username": "alice"}


# --- middleware order ------------------------------------------------------------------


@pytest.mark.parametrize("auth", [AUTH_MIDDLEWARE, f"{__name__}.SessionUserMiddleware"])
def test_the_middleware_refuses_to_be_built_before_authentication_middleware(
    settings: Any, auth: str
) -> None:
    stack = [m for m in settings.MIDDLEWARE if m not in (JWT_MIDDLEWARE, AUTH_MIDDLEWARE)]
    settings.MIDDLEWARE = [*stack, JWT_MIDDLEWARE, auth]
    with pytest.raises(ImproperlyConfigured, match=ORDER_ERROR):
        Client().get("/api/ping/")
    with pytest.raises(ImproperlyConfigured, match=ORDER_ERROR):
        async_to_sync(AsyncClient().get)("/api/ping/")
    settings.MIDDLEWARE = [*stack, auth, JWT_MIDDLEWARE]
    assert Client().get("/api/ping/").status_code == 200


def test_gunicorn_refuses_to_serve_a_misordered_site(tmp_path: Path) -> None:
    """A plain wsgi.py (no system checks) under gunicorn: the worker must not boot."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.setups.misordered_settings"}
    command = [
        sys.executable, "-m", "gunicorn", "tests.setups.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        outcome = _outcome(process, f"http://127.0.0.1:{port}/api/ping/", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    output = log.read_text()
    assert outcome == "exited", f"gunicorn {outcome}:\n{output}"
    assert process.returncode != 0
    assert "ImproperlyConfigured" in output
    assert ORDER_ERROR in output


def _outcome(process: subprocess.Popen[bytes], url: str, timeout: float) -> str:
    """Poll ``url`` until the process exits: say whether it "exited", "served" or kept "running"."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            return "kept running"
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310
                return "served the misordered site"
        except OSError:
            time.sleep(0.1)  # waiting for a child process, not for app time
    return "exited"


def test_a_dpop_bound_token_is_refused_as_a_bearer_token(client: Client, pair: Any) -> None:
    # RFC 9449 §7.1: no downgrade. Before DPoP was wired in, a bound token passed as Bearer.
    response = client.get("/api/me/", **bearer(bound_access(pair)))
    assert (response.status_code, error_of(response)) == (401, "token_invalid")
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
