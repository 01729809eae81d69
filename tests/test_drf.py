"""The Django REST Framework authentication class, with and without the middleware."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtauth import revocation, sessions
from jwtauth.conf import conf
from jwtauth.contrib.drf import JWTAuthentication
from jwtauth.dpop import current_nonce
from jwtauth.dpop.client import DPoPKey
from tests.conftest import NO_CREDENTIAL, dpop_headers

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

ME = "/api/drf/me/"
MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"


class Echo(APIView):
    """A DRF view that accepts writes, for the CSRF checks of cookie credentials."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        return Response({"username": request.user.get_username(), "data": request.data})


urlpatterns = [path("t/drf/echo/", Echo.as_view()), path("", include("project.urls"))]


@pytest.fixture(params=["with middleware", "without middleware"])
def mode(request: Any, settings: Any) -> str:
    """Run a test with jwtauth's middleware installed, then without it."""
    if request.param == "without middleware":
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]
    return str(request.param)


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def test_a_valid_token_authenticates(client: Client, pair: Any, user: Any, mode: str) -> None:
    response = client.get(ME, **bearer(pair.access))
    assert response.status_code == 200
    assert response.json() == {"id": user.pk, "username": "alice"}


def test_no_token_is_401_with_a_bare_bearer_challenge(client: Client, mode: str) -> None:
    response = client.get(ME)
    assert response.status_code == 401  # not DRF's 403: the class names a challenge
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda p: "a.b.c", "The token is not well-formed base64url."),
        (lambda p: p.refresh, "The token is not an access token."),
    ],
)
def test_a_bad_token_is_401_with_jwtauths_body_and_challenge(
    client: Client, pair: Any, mode: str, make: Any, detail: str
) -> None:
    response = client.get(ME, **bearer(make(pair)))
    assert response.status_code == 401
    # The same answer whether the middleware (before DRF) or DRF's exception handler gave it.
    assert response.json() == {"error": "token_invalid", "detail": detail}
    assert response["WWW-Authenticate"] == (
        f'Bearer error="invalid_token", error_description="{detail}"'
    )


def test_an_expired_token_keeps_its_code_so_clients_know_to_refresh(
    client: Client, user: Any, clock: Any, mode: str
) -> None:
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    response = client.get(ME, **bearer(pair.access))
    assert response.status_code == 401
    assert response.json() == {"error": "token_expired", "detail": "The token has expired."}
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The token has expired."'
    )


def test_a_revoked_token_is_refused(client: Client, pair: Any, mode: str) -> None:
    revocation.revoke_session(pair.access_token.sid)
    response = client.get(ME, **bearer(pair.access))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_an_inactive_user_is_refused(
    client: Client, pair: Any, user: Any, django_user_model: Any, mode: str
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no cutoff moved
    response = client.get(ME, **bearer(pair.access))
    assert response.status_code == 401
    assert response.json() == {
        "error": "token_revoked",
        "detail": "The user of this token is no longer active.",
    }
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", '
        'error_description="The user of this token is no longer active."'
    )


def test_the_access_cookie_authenticates_reads(client: Client, pair: Any, mode: str) -> None:
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    assert client.get(ME).json()["username"] == "alice"


def test_cookie_authenticated_writes_need_the_csrf_token(pair: Any, mode: str) -> None:
    client = Client(enforce_csrf_checks=True)
    token = client.get("/auth/csrf/").json()["csrf_token"]
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    refused = client.post("/t/drf/echo/", {"a": "1"}, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    assert refused.json() == {"error": "permission_denied", "detail": "CSRF verification failed."}
    passed = client.post("/t/drf/echo/", {"a": "1"}, HTTP_X_CSRFTOKEN=token)
    assert passed.status_code == 200
    assert passed.json() == {"username": "alice", "data": {"a": "1"}}


def test_bearer_writes_are_exempt_from_csrf(pair: Any, mode: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/t/drf/echo/",
        {"a": "1"},
        "application/json",
        HTTP_ORIGIN="https://evil.example",
        **bearer(pair.access),
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"a": "1"}


def test_the_class_returns_the_verified_token_as_request_auth(rf: Any, pair: Any) -> None:
    request = Request(rf.get("/", **bearer(pair.access)))
    user, token = JWTAuthentication().authenticate(request)  # type: ignore[misc]
    assert user.get_username() == "alice"
    assert token.jti == pair.access_token.jti
    assert JWTAuthentication().authenticate(Request(rf.get("/"))) is None


def test_a_dpop_credential_authenticates(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, user: Any, mode: str
) -> None:
    response = client.get(ME, **dpop_headers(dpop_key, "GET", ME, bound_pair.access))
    assert (response.status_code, response.json()) == (200, {"id": user.pk, "username": "alice"})


def test_a_bound_token_as_bearer_is_refused_with_the_dpop_challenge(
    client: Client, bound_pair: Any, mode: str
) -> None:
    response = client.get(ME, **bearer(bound_pair.access))
    assert response.status_code == 401
    detail = "The token is bound to a key; send it with DPoP and a proof."
    assert response.json() == {"error": "token_invalid", "detail": detail}
    assert response["WWW-Authenticate"] == (
        f'DPoP error="invalid_token", error_description="{detail}", algs="ES256 Ed25519 EdDSA"'
    )


def test_a_proof_for_another_url_is_refused_alike_with_and_without_the_middleware(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, mode: str
) -> None:
    response = client.get(ME, **dpop_headers(dpop_key, "GET", "/api/me/", bound_pair.access))
    assert response.status_code == 401
    detail = "The DPoP proof is for another URL."
    assert response.json() == {"error": "invalid_dpop_proof", "detail": detail}
    assert response["WWW-Authenticate"] == (
        f'DPoP error="invalid_dpop_proof", error_description="{detail}", algs="ES256 Ed25519 EdDSA"'
    )


def test_a_nonce_challenge_carries_the_nonce(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, mode: str, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    if mode == "without middleware":
        # DRF's own handler cannot add the header; jwtauth's handler does.
        settings.REST_FRAMEWORK = {"EXCEPTION_HANDLER": "jwtauth.contrib.drf.exception_handler"}
    response = client.get(ME, **dpop_headers(dpop_key, "GET", ME, bound_pair.access))
    assert (response.status_code, response.json()["error"]) == (401, "use_dpop_nonce")
    assert response["DPoP-Nonce"] == current_nonce()
    assert response["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = response["DPoP-Nonce"]
    retried = client.get(ME, **dpop_headers(dpop_key, "GET", ME, bound_pair.access, nonce))
    assert retried.status_code == 200


def test_the_class_can_be_a_default_named_in_settings() -> None:
    # docs/drf.md's first snippet: DRF imports the classes named there while rest_framework.views
    # loads, so importing the adapter must not import that module back. A fresh interpreter,
    # because this one imported everything long ago.
    program = (
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.auth', 'django.contrib.contenttypes',"
        " 'jwtauth'], REST_FRAMEWORK={'DEFAULT_AUTHENTICATION_CLASSES':"
        " ['jwtauth.contrib.drf.JWTAuthentication']})\n"
        "django.setup()\n"
        "from rest_framework.views import APIView\n"
        "print(APIView.authentication_classes[0].__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "jwtauth.contrib.drf"
