"""Django Ninja adapter: the demo endpoints under /api/ninja/, with and without the middleware."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from ninja import NinjaAPI
from ninja.errors import AuthenticationError

from jwtauth import revocation, sessions
from jwtauth.contrib.ninja import JWTAuth, install
from jwtauth.dpop import current_nonce
from jwtauth.dpop.client import DPoPKey
from jwtauth.exceptions import TokenError, TokenRevoked
from jwtauth.tokens import REFRESH, decode
from tests.conftest import NO_CREDENTIAL, bound_access, dpop_headers

pytestmark = pytest.mark.django_db

ME = "/api/ninja/me/"
ECHO = "/api/ninja/echo/"
JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"


@pytest.fixture
def without_middleware(settings: Any) -> None:
    """Run the adapter on its own, as in a project without jwtauth's middleware."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != JWT_MIDDLEWARE]


@pytest.fixture
def csrf_client() -> Client:
    """Return a client that enforces CSRF like a browser's cross-site request would face."""
    return Client(enforce_csrf_checks=True)


def _csrf_token(client: Client) -> str:
    token: str = client.get("/auth/csrf/").json()["csrf_token"]
    return token


def test_bearer_header_authenticates(client: Client, user: Any, auth_header: Any) -> None:
    response = client.get(ME, **auth_header)
    assert response.status_code == 200
    assert response.json() == {"id": user.pk, "username": "alice"}


def test_no_token_is_401_not_authenticated(client: Client) -> None:
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


def test_forged_token_is_401(client: Client, pair: Any) -> None:
    forged = pair.access[:-4] + ("AAAA" if not pair.access.endswith("AAAA") else "BBBB")
    response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["error"] == "token_invalid"
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_token_refused_after_logout(client: Client, auth_header: Any) -> None:
    assert client.post("/auth/logout/", **auth_header).status_code == 204
    response = client.get(ME, **auth_header)
    assert response.status_code == 401
    assert response.json()["error"] == "token_revoked"


def test_reuses_the_middleware_result(
    client: Client, auth_header: Any, verifications: list[str]
) -> None:
    assert client.get(ME, **auth_header).status_code == 200
    assert len(verifications) == 1  # the middleware's; the auth class trusted it


def test_refresh_token_is_not_an_access_token(client: Client, pair: Any) -> None:
    response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.refresh}")
    assert response.status_code == 401
    assert response.json()["error"] == "token_invalid"


def test_cookie_get_works(client: Client, user: Any, pair: Any) -> None:
    client.cookies["auth_token"] = pair.access
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_cookie_post_without_csrf_is_refused(csrf_client: Client, pair: Any) -> None:
    csrf_client.cookies["auth_token"] = pair.access
    response = csrf_client.post(ECHO, {"message": "hi"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_cookie_post_with_csrf_is_accepted(csrf_client: Client, pair: Any) -> None:
    token = _csrf_token(csrf_client)
    csrf_client.cookies["auth_token"] = pair.access
    response = csrf_client.post(
        ECHO, {"message": "hi"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "message": "hi"}


def test_bearer_post_needs_no_csrf(csrf_client: Client, auth_header: Any) -> None:
    response = csrf_client.post(
        ECHO, {"message": "hi"}, content_type="application/json", **auth_header
    )
    assert response.status_code == 200


def test_malformed_body_is_400_not_500(client: Client, auth_header: Any) -> None:
    response = client.post(ECHO, "[1, 2", content_type="application/json", **auth_header)
    assert response.status_code == 400


def test_wrong_field_type_is_422(client: Client, auth_header: Any) -> None:
    response = client.post(ECHO, {"message": 5}, content_type="application/json", **auth_header)
    assert response.status_code == 422


@pytest.mark.usefixtures("without_middleware")
class TestWithoutMiddleware:
    """The adapter verifies tokens itself when the middleware is not installed."""

    def test_bearer_header_authenticates(self, client: Client, user: Any, pair: Any) -> None:
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.access}")
        assert response.status_code == 200
        assert response.json() == {"id": user.pk, "username": "alice"}

    def test_forged_token_answers_jwtauth_error(self, client: Client, pair: Any) -> None:
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.access}x")
        assert response.status_code == 401
        assert response.json()["error"] == "token_invalid"
        assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    def test_two_credentials_are_refused(self, client: Client, pair: Any) -> None:
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.access} {pair.access}")
        assert response.status_code == 401
        assert response.json()["error"] == "token_invalid"

    def test_revoked_session_is_refused(self, client: Client, pair: Any) -> None:
        revocation.revoke_session(pair.access_token.sid, reason="test")
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.access}")
        assert response.status_code == 401
        assert response.json()["error"] == "token_revoked"

    def test_inactive_user_is_refused(self, client: Client, user: Any, pair: Any) -> None:
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair.access}")
        assert response.status_code == 401
        assert response.json()["error"] == "token_revoked"

    def test_cookie_post_without_csrf_is_refused(self, csrf_client: Client, pair: Any) -> None:
        csrf_client.cookies["auth_token"] = pair.access
        response = csrf_client.post(ECHO, {"message": "hi"}, content_type="application/json")
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"

    def test_cookie_post_with_csrf_is_accepted(self, csrf_client: Client, pair: Any) -> None:
        token = _csrf_token(csrf_client)
        csrf_client.cookies["auth_token"] = pair.access
        response = csrf_client.post(
            ECHO, {"message": "hi"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 200

    def test_rotated_refresh_descendant_still_works(self, client: Client, pair: Any) -> None:
        new = sessions.rotate(decode(pair.refresh, REFRESH))
        response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {new.access}")
        assert response.status_code == 200


def test_authenticate_sets_user_and_returns_claims(user: Any, pair: Any) -> None:
    request = RequestFactory().get(ME)
    request.user = AnonymousUser()
    token = JWTAuth().authenticate(request, pair.access)
    assert token.sub == str(user.pk)
    assert token.jti == pair.access_token.jti
    assert request.user == user


def test_authenticate_refuses_a_deleted_user(user: Any, pair: Any) -> None:
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TokenRevoked):
        JWTAuth().authenticate(RequestFactory().get(ME), pair.access)


def test_install_keeps_other_authentication_errors() -> None:
    api = NinjaAPI(urls_namespace="ninja-install-test")
    install(api)
    response = api.on_exception(RequestFactory().get("/"), AuthenticationError(403, "Forbidden"))
    assert response.status_code == 403
    assert response.content == b'{"detail": "Forbidden"}'


def test_openapi_security_scheme_is_bearer() -> None:
    assert JWTAuth().openapi_security_schema == {"type": "http", "scheme": "bearer"}


def test_authenticate_refuses_a_dpop_bound_token_it_gets_without_a_proof(pair: Any) -> None:
    # Ninja's HttpBearer API hands over the bare token: a bound one must not pass as Bearer.
    with pytest.raises(TokenError):
        JWTAuth().authenticate(RequestFactory().get(ME), bound_access(pair))


@pytest.mark.parametrize("middleware", [True, False], ids=["with middleware", "without"])
def test_a_dpop_credential_authenticates_and_a_bad_proof_gets_the_dpop_challenge(
    client: Client,
    user: Any,
    bound_pair: Any,
    dpop_key: DPoPKey,
    settings: Any,
    middleware: bool,
) -> None:
    if not middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != JWT_MIDDLEWARE]
    ok = client.get(ME, **dpop_headers(dpop_key, "GET", ME, bound_pair.access))
    assert (ok.status_code, ok.json()) == (200, {"id": user.pk, "username": "alice"})
    posted = client.post(
        ECHO,
        {"message": "hi"},
        content_type="application/json",
        **dpop_headers(dpop_key, "POST", ECHO, bound_pair.access),
    )
    assert posted.status_code == 200  # a DPoP header needs no CSRF token, as Bearer does
    stale = client.get(ME, **dpop_headers(dpop_key, "POST", ME, bound_pair.access))
    assert stale.status_code == 401
    assert stale.json() == {
        "error": "invalid_dpop_proof",
        "detail": "The DPoP proof is for another HTTP method.",
    }
    assert stale["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    settings.JWTAUTH_DPOP_NONCE = True
    challenged = client.get(ME, **dpop_headers(dpop_key, "GET", ME, bound_pair.access))
    assert (challenged.status_code, challenged.json()["error"]) == (401, "use_dpop_nonce")
    assert challenged["DPoP-Nonce"] == current_nonce()
