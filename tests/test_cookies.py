"""Cookie mode: cookie attributes, clearing on logout, and Django's CSRF check for cookies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import include, path

from jwtauth import sessions
from jwtauth.conf import conf
from jwtauth.decorators import jwt_required
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

EVIL = {"HTTP_ORIGIN": "https://evil.example"}


@jwt_required
def plain_post(request: HttpRequest) -> JsonResponse:
    """A plain Django view: CSRF-protected by CsrfViewMiddleware, token required."""
    return JsonResponse({"username": request.user.get_username()})


urlpatterns = [path("t/plain/", plain_post), path("", include("project.urls"))]


def cookie_login(client: Client, **extra: Any) -> Any:
    data = {"username": "alice", "password": PASSWORD, "cookie": True}
    return client.post("/auth/login/", data, content_type="application/json", **extra)


def csrf_token(client: Client) -> str:
    return str(client.get("/auth/csrf/").json()["csrf_token"])


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}
    return str(body["error"])


def assert_cleared(response: Any, refresh_path: str = "/auth/refresh/") -> None:
    access, refresh = response.cookies[conf.ACCESS_COOKIE], response.cookies[conf.REFRESH_COOKIE]
    for morsel in (access, refresh):
        assert morsel.value == ""
        assert morsel["max-age"] == 0
    assert access["path"] == "/"
    assert refresh["path"] == refresh_path


# --- attributes ------------------------------------------------------------------------


def test_login_sets_httponly_strict_cookies_that_live_as_long_as_their_tokens(
    client: Client, user: Any
) -> None:
    response = cookie_login(client)
    assert response.status_code == 200
    assert response.json() == {"token_type": "Bearer", "expires_in": 3600}  # no tokens for JS
    assert response["Cache-Control"] == "no-store"
    access, refresh = response.cookies[conf.ACCESS_COOKIE], response.cookies[conf.REFRESH_COOKIE]
    assert (access["httponly"], access["samesite"], access["max-age"]) == (True, "Strict", 3600)
    assert (refresh["httponly"], refresh["samesite"]) == (True, "Strict")
    assert refresh["max-age"] == 7 * 24 * 3600
    assert access["path"] == "/"
    assert refresh["path"] == "/auth/refresh/"  # sent to the refresh endpoint only
    assert not access["secure"]  # the test settings turn JWTAUTH_COOKIE_SECURE off
    assert client.get("/api/me/").json()["username"] == "alice"


def test_max_age_follows_the_configured_lifetimes(client: Client, user: Any, settings: Any) -> None:
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(minutes=5)
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(hours=2)
    response = cookie_login(client)
    assert response.cookies[conf.ACCESS_COOKIE]["max-age"] == 300
    assert response.cookies[conf.REFRESH_COOKIE]["max-age"] == 7200


def test_secure_is_set_when_configured(client: Client, user: Any, settings: Any) -> None:
    settings.JWTAUTH_COOKIE_SECURE = True
    response = cookie_login(client)
    assert response.cookies[conf.ACCESS_COOKIE]["secure"] is True
    assert response.cookies[conf.REFRESH_COOKIE]["secure"] is True


def test_host_prefixed_cookies_are_secure_host_only_and_rooted(
    client: Client, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_ACCESS_COOKIE = "__Host-access"
    settings.JWTAUTH_REFRESH_COOKIE = "__Host-refresh"
    settings.JWTAUTH_COOKIE_DOMAIN = "example.test"
    response = cookie_login(client)
    for name in ("__Host-access", "__Host-refresh"):
        morsel = response.cookies[name]
        # RFC 6265bis §4.1.3.2: Secure, Path=/ and no Domain, whatever else is configured.
        assert (morsel["secure"], morsel["path"], morsel["domain"]) == (True, "/", "")
    assert client.get("/api/me/").json()["username"] == "alice"
    assert client.post("/auth/refresh/").status_code == 200
    assert_cleared(client.post("/auth/logout/"), refresh_path="/")


def test_secure_prefixed_cookies_are_secure_and_keep_path_and_domain(
    client: Client, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_REFRESH_COOKIE = "__Secure-refresh"
    settings.JWTAUTH_COOKIE_DOMAIN = "example.test"
    morsel = cookie_login(client).cookies["__Secure-refresh"]
    assert (morsel["secure"], morsel["path"], morsel["domain"]) == (
        True,
        "/auth/refresh/",
        "example.test",
    )


def test_the_refresh_cookie_path_can_be_configured(
    client: Client, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_REFRESH_COOKIE_PATH = "/auth/"
    assert cookie_login(client).cookies[conf.REFRESH_COOKIE]["path"] == "/auth/"


def test_cookie_requests_are_ignored_when_cookie_mode_is_off(
    client: Client, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_COOKIES = False
    response = cookie_login(client)
    assert set(response.json()) == {"access", "refresh", "token_type", "expires_in"}
    assert not response.cookies


# --- clearing --------------------------------------------------------------------------


def test_logout_clears_both_cookies(client: Client, user: Any) -> None:
    cookie_login(client)
    response = client.post("/auth/logout/")
    assert response.status_code == 204
    assert_cleared(response)
    assert client.get("/api/me/").status_code == 401


def test_logout_clears_the_cookies_of_an_expired_access_token(
    client: Client, user: Any, clock: Any
) -> None:
    cookie_login(client)
    refresh = client.cookies[conf.REFRESH_COOKIE].value
    clock.shift(conf.access_lifetime + 1)
    response = client.post("/auth/logout/")
    assert response.status_code == 204
    assert_cleared(response)
    # The test client sends the refresh cookie on every path, so the family ended too.
    assert (
        client.post("/auth/refresh/", {"refresh": refresh}, "application/json").status_code == 401
    )


def test_logout_clears_the_cookies_of_revoked_tokens(client: Client, user: Any) -> None:
    cookie_login(client)
    access = client.cookies[conf.ACCESS_COOKIE].value
    client.post("/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {access}")
    client.cookies[conf.ACCESS_COOKIE] = access  # a browser that kept the dead cookie
    response = client.post("/auth/logout/")
    assert response.status_code == 204
    assert_cleared(response)


def test_logout_all_clears_the_cookies(client: Client, user: Any) -> None:
    cookie_login(client)
    response = client.post("/auth/logout-all/")
    assert response.status_code == 204
    assert_cleared(response)


def test_a_401_clears_the_cookies_it_was_sent(client: Client, user: Any) -> None:
    client.cookies[conf.ACCESS_COOKIE] = "a.b.c"
    response = client.post("/auth/logout-all/")
    assert response.status_code == 401
    assert_cleared(response)


# --- CSRF ------------------------------------------------------------------------------


@pytest.fixture
def browser(user: Any) -> Client:
    """Return a client that enforces CSRF like a browser-facing deployment, logged in by cookie."""
    client = Client(enforce_csrf_checks=True)
    response = cookie_login(client, HTTP_X_CSRFTOKEN=csrf_token(client))
    assert response.status_code == 200
    return client


def test_a_cookie_login_needs_the_csrf_token(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    refused = cookie_login(client)
    assert refused.status_code == 403
    assert error_of(refused) == "permission_denied"
    assert not refused.cookies.get(conf.ACCESS_COOKIE)
    assert cookie_login(client, HTTP_X_CSRFTOKEN=csrf_token(client)).status_code == 200


def test_a_cross_site_form_post_without_the_token_is_refused(browser: Client) -> None:
    access = browser.cookies[conf.ACCESS_COOKIE].value
    for target in ("/auth/logout/", "/auth/logout-all/", "/auth/refresh/"):
        response = browser.post(target, {"next": "/"}, **EVIL)  # form-encoded, like a <form>
        assert response.status_code == 403, target
        assert error_of(response) == "permission_denied"
        # A refused request logs nobody out: no cookie is cleared, no token revoked.
        assert conf.ACCESS_COOKIE not in response.cookies
    me = browser.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.status_code == 200


def test_a_form_post_with_the_csrf_cookie_but_no_token_is_refused(browser: Client) -> None:
    csrf_token(browser)  # the CSRF cookie alone proves nothing: a browser sends it anyway
    response = browser.post("/auth/logout/", {})
    assert response.status_code == 403
    assert error_of(response) == "permission_denied"


def test_a_same_origin_request_with_the_token_passes(browser: Client) -> None:
    token = csrf_token(browser)
    refreshed = browser.post("/auth/refresh/", HTTP_X_CSRFTOKEN=token)
    assert refreshed.status_code == 200
    response = browser.post("/auth/logout/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 204
    assert_cleared(response)


def test_the_csrf_token_in_a_form_field_passes_too(browser: Client) -> None:
    token = csrf_token(browser)
    assert browser.post("/auth/logout/", {"csrfmiddlewaretoken": token}).status_code == 204


def test_bearer_header_requests_are_exempt(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    pair = sessions.start(user)
    header = {"HTTP_AUTHORIZATION": f"Bearer {pair.access}"}
    assert client.post("/t/plain/", **header, **EVIL).json() == {"username": "alice"}
    assert client.post("/auth/logout-all/", **header, **EVIL).status_code == 204
    body = {"username": "alice", "password": PASSWORD}
    assert client.post("/auth/login/", body, "application/json", **EVIL).status_code == 200


def test_a_junk_bearer_header_does_not_waive_csrf_for_the_refresh_cookie(
    browser: Client,
) -> None:
    # The header exempts the request from Django's CSRF middleware, but logout and refresh
    # would act on the refresh cookie, which a cross-site request can carry beside it.
    junk = {"HTTP_AUTHORIZATION": "Bearer not.a.token"}
    for target in ("/auth/logout/", "/auth/refresh/"):
        response = browser.post(target, {}, **junk, **EVIL)
        assert response.status_code == 403, target
        assert error_of(response) == "permission_denied"
    passed = browser.post("/auth/refresh/", **junk, HTTP_X_CSRFTOKEN=csrf_token(browser))
    assert passed.status_code == 200


def test_a_plain_view_refuses_a_cookie_authenticated_post_without_the_token(
    browser: Client,
) -> None:
    assert browser.post("/t/plain/", **EVIL).status_code == 403
    passed = browser.post("/t/plain/", HTTP_X_CSRFTOKEN=csrf_token(browser))
    assert passed.json() == {"username": "alice"}


def test_a_cookieless_cross_site_post_does_not_clear_the_browsers_cookies(user: Any) -> None:
    # SameSite=Strict keeps the token cookies off a cross-site request; its answer must not
    # delete them either (a logout CSRF).
    client = Client(enforce_csrf_checks=True)
    response = client.post("/auth/logout/", {}, **EVIL)
    assert response.status_code == 401
    assert not response.cookies


@pytest.mark.parametrize("spent", [False, True], ids=["live-token", "spent-token"])
def test_a_cookieless_logout_with_a_refresh_token_in_the_body_clears_no_cookie(
    other_user: Any, spent: bool
) -> None:
    # A page on another site posts the attacker's own refresh token (a form field): the
    # request is valid and carries no cookie, so no CSRF check runs; its answer must not
    # delete the victim's cookies.
    mallory = sessions.start(other_user)
    if spent:
        sessions.end(mallory.refresh_token)  # logout is idempotent: still 204
    client = Client(enforce_csrf_checks=True)
    response = client.post("/auth/logout/", {"refresh": mallory.refresh}, **EVIL)
    assert response.status_code == 204
    assert not response.cookies


def test_a_logout_that_would_clear_the_refresh_cookie_needs_the_csrf_token(
    browser: Client, settings: Any, other_user: Any
) -> None:
    # With the refresh cookie scoped wider than the refresh endpoint, a cross-site form can
    # carry it to logout beside a refresh token of its own; clearing it needs the CSRF token.
    settings.JWTAUTH_REFRESH_COOKIE_PATH = "/auth/"
    del browser.cookies[conf.ACCESS_COOKIE]
    mallory = sessions.start(other_user)
    refused = browser.post("/auth/logout/", {"refresh": mallory.refresh}, **EVIL)
    assert refused.status_code == 403
    assert not refused.cookies
    token = csrf_token(browser)
    passed = browser.post("/auth/logout/", {"refresh": mallory.refresh}, HTTP_X_CSRFTOKEN=token)
    assert passed.status_code == 204
    assert_cleared(passed, refresh_path="/auth/")


def test_logout_all_with_a_bearer_header_clears_only_cookies_it_was_sent(user: Any) -> None:
    pair = sessions.start(user)
    response = Client().post("/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    assert response.status_code == 204
    assert not response.cookies


def test_a_failed_login_beside_a_live_access_cookie_keeps_it(client: Client, user: Any) -> None:
    # The 401 is the password's, not the cookie's: only a refused cookie is cleared.
    cookie_login(client)
    response = client.post(
        "/auth/login/", {"username": "alice", "password": "wrong"}, "application/json"
    )
    assert response.status_code == 401
    assert not response.cookies
    assert client.get("/api/me/").json()["username"] == "alice"


def test_a_live_cookie_of_a_deactivated_user_is_cleared_by_its_401(
    client: Client, user: Any, django_user_model: Any
) -> None:
    cookie_login(client)
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no cutoff moved
    response = client.get("/api/me/")
    assert (response.status_code, error_of(response)) == (401, "token_revoked")
    assert response.cookies[conf.ACCESS_COOKIE]["max-age"] == 0
