"""The request-authentication object: one verification per request, shared by every piece.

Also the line between token views and session views: the admin (and every namespace in
``JWTAUTH_SESSION_ONLY_NAMESPACES``) sees Django's session user only, and a token never waives
Django's CSRF check for a view it does not authenticate.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, RequestFactory
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtauth import requestauth, revocation, sessions
from jwtauth.conf import conf
from jwtauth.contrib.drf import JWTAuthentication
from jwtauth.credentials import BEARER, COOKIE, DPOP, HEADER
from jwtauth.decorators import jwt_required
from jwtauth.dpop import DPoPBindingError, InvalidDPoPProof
from jwtauth.dpop.client import DPoPKey
from jwtauth.exceptions import NotAuthenticated, TokenError, TokenRevoked
from jwtauth.requestauth import RequestAuth
from services import free_port
from tests.conftest import bound_access, dpop_headers, use_redis

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

EVIL = {"HTTP_ORIGIN": "https://evil.example"}
PAGE = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}


def whoami(request: HttpRequest) -> JsonResponse:
    """A plain view: neither a token view nor CSRF-exempt."""
    auth = request.auth  # type: ignore[attr-defined]
    return JsonResponse(
        {"username": request.user.get_username() or None, "jti": auth.jti if auth else None}
    )


@jwt_required
def required(request: HttpRequest) -> JsonResponse:
    """A token view: jwtauth authenticates it and applies its own CSRF rule."""
    return JsonResponse({"username": request.user.get_username()})


class DRFWhoami(APIView):
    authentication_classes = [JWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username() or None})  # type: ignore[union-attr]


verified: list[str] = []


@jwt_required
def twice(request: HttpRequest) -> JsonResponse:
    """Ask every piece for the request's authentication; they must share one verification."""
    drf_user, token = JWTAuthentication().authenticate(Request(request))  # type: ignore[misc]
    state = requestauth.authenticate(request)
    return JsonResponse(
        {
            "same": state is request.jwtauth  # type: ignore[attr-defined]
            and token is state.token is request.auth,  # type: ignore[attr-defined]
            "user": drf_user.get_username(),
        }
    )


session_only_patterns = ([path("whoami/", whoami)], "backoffice")
urlpatterns = [
    path("t/whoami/", whoami),
    path("t/required/", required),
    path("t/drf/", DRFWhoami.as_view()),
    path("t/twice/", twice),
    path("backoffice/", include(session_only_patterns)),
    path("", include("project.urls")),
]


@pytest.fixture
def superuser(django_user_model: Any, password: str) -> Any:
    return django_user_model.objects.create_superuser("root", "root@example.test", password)


@pytest.fixture
def root_pair(superuser: Any) -> Any:
    return sessions.start(superuser)


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def csrf_token(client: Client) -> str:
    return str(client.get("/auth/csrf/").json()["csrf_token"])


# --- the object ------------------------------------------------------------------------


def test_a_verified_token(rf: RequestFactory, pair: Any, user: Any) -> None:
    request = rf.get("/t/whoami/", **bearer(pair.access))
    state = requestauth.authenticate(request)
    assert isinstance(state, RequestAuth)
    assert request.jwtauth is state  # type: ignore[attr-defined]
    assert (state.source, state.presented, state.error) == (HEADER, True, None)
    assert state.token is not None
    assert state.token.jti == pair.access_token.jti
    assert request.auth is state.token  # type: ignore[attr-defined]
    assert state.user() == user
    assert state.require() is state.token
    assert requestauth.authenticate(request) is state  # worked out once


def test_no_credential(rf: RequestFactory) -> None:
    state = requestauth.authenticate(rf.get("/t/whoami/"))
    assert (state.presented, state.token, state.error, state.source) == (False, None, None, None)
    assert isinstance(state.refusal(), NotAuthenticated)
    with pytest.raises(NotAuthenticated):
        state.require()


def test_a_refused_cookie(rf: RequestFactory, pair: Any) -> None:
    revocation.revoke(pair.access_token)
    request = rf.get("/t/whoami/")
    request.COOKIES[conf.ACCESS_COOKIE] = pair.access
    state = requestauth.authenticate(request)
    assert (state.source, state.token, state.dead_cookie) == (COOKIE, None, True)
    assert isinstance(state.error, TokenRevoked)
    assert request.auth is None  # type: ignore[attr-defined]
    assert not hasattr(request, "user")  # the session's user (none here) is left alone


def test_a_malformed_header_is_an_error_without_a_credential(rf: RequestFactory) -> None:
    state = requestauth.authenticate(rf.get("/t/whoami/", HTTP_AUTHORIZATION="Bearer a b"))
    assert (state.credential, state.presented) == (None, True)
    assert isinstance(state.error, TokenError)


def test_an_inactive_user_is_refused_by_the_one_rule(
    rf: RequestFactory, pair: Any, user: Any, django_user_model: Any
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    state = requestauth.authenticate(rf.get("/t/whoami/", **bearer(pair.access)))
    assert state.error is None  # the token itself is fine...
    refusal = state.refusal()  # ...its user is not
    assert isinstance(refusal, TokenRevoked)
    assert str(refusal.detail) == "The user of this token is no longer active."
    assert state.user_or_anonymous().is_anonymous


def test_every_piece_shares_one_verification(
    client: Client, pair: Any, verifications: list[str], settings: Any
) -> None:
    for middleware in (True, False):
        if not middleware:
            settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "JWTAuthentication" not in m]
        verifications.clear()
        response = client.get("/t/twice/", **bearer(pair.access))
        assert response.json() == {"same": True, "user": "alice"}
        assert len(verifications) == 1, middleware


# --- DPoP (RFC 9449): the proof is checked where the credential is -----------------------


def test_a_dpop_credential_is_verified_with_its_proof(
    rf: RequestFactory, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    request = rf.get("/t/whoami/", **dpop_headers(dpop_key, "GET", "/t/whoami/", bound_pair.access))
    state = requestauth.authenticate(request)
    assert (state.scheme, state.error) == (DPOP, None)
    assert state.token is not None
    assert state.token.jti == bound_pair.access_token.jti
    assert state.proof is not None
    assert state.proof.jkt == dpop_key.thumbprint


def test_the_proof_is_verified_once_however_often_it_is_asked_for(
    rf: RequestFactory, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    # A second verification would find the proof's jti taken (RFC 9449 §11.1) and refuse it.
    request = rf.post(
        "/auth/logout/", **dpop_headers(dpop_key, "POST", "/auth/logout/", bound_pair.access)
    )
    state = requestauth.authenticate(request)
    assert requestauth.proof(request) is state.proof is not None
    assert requestauth.authenticate(request).error is None


def test_without_an_access_token_the_proof_is_verified_on_demand(
    rf: RequestFactory, dpop_key: DPoPKey
) -> None:
    request = rf.post("/auth/refresh/", **dpop_headers(dpop_key, "POST", "/auth/refresh/"))
    assert requestauth.authenticate(request).proof is None
    proof = requestauth.proof(request)
    assert proof is not None
    assert proof.jkt == dpop_key.thumbprint
    assert requestauth.proof(request) is proof
    assert requestauth.proof(rf.post("/auth/refresh/")) is None


def test_a_proof_refused_while_authenticating_is_not_verified_again(
    rf: RequestFactory, bound_pair: Any, dpop_key: DPoPKey
) -> None:
    headers = dpop_headers(dpop_key, "GET", "/elsewhere/", bound_pair.access)
    request = rf.post("/auth/logout/", **headers)
    state = requestauth.authenticate(request)
    assert isinstance(state.error, InvalidDPoPProof)
    with pytest.raises(InvalidDPoPProof) as refused:
        requestauth.proof(request)
    assert refused.value is state.error


def test_a_bound_token_presented_as_bearer_is_refused(rf: RequestFactory, pair: Any) -> None:
    # RFC 9449 §7.1: no downgrade. Before the wiring, the bound token passed as a bearer one.
    state = requestauth.authenticate(rf.get("/t/whoami/", **bearer(bound_access(pair))))
    assert state.scheme == BEARER
    assert isinstance(state.error, DPoPBindingError)
    assert state.token is None


def test_a_proof_from_another_key_is_kept_once_verified(
    rf: RequestFactory, bound_pair: Any
) -> None:
    other = DPoPKey.generate()
    request = rf.get("/t/whoami/", **dpop_headers(other, "GET", "/t/whoami/", bound_pair.access))
    state = requestauth.authenticate(request)
    assert isinstance(state.error, DPoPBindingError)
    # The proof itself passed, and its jti is spent: it stays the request's proof.
    assert state.proof is not None
    assert state.proof.jkt == other.thumbprint


def test_a_malformed_dpop_header_keeps_its_scheme(rf: RequestFactory) -> None:
    state = requestauth.authenticate(rf.get("/t/whoami/", HTTP_AUTHORIZATION="DPoP a b"))
    assert (state.credential, state.scheme) == (None, DPOP)
    assert isinstance(state.error, TokenError)


@pytest.mark.redis
def test_a_replay_cache_outage_refuses_the_proof_with_a_503(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, settings: Any
) -> None:
    # Nothing listens there: the proof cannot be recorded, so it is refused, never accepted
    # unchecked (the revocation lookup falls back to the database meanwhile).
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    response = client.get(
        "/api/me/", **dpop_headers(dpop_key, "GET", "/api/me/", bound_pair.access)
    )
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert "WWW-Authenticate" not in response


# --- the admin and other session-only views ---------------------------------------------


def test_a_superusers_bearer_token_does_not_open_the_admin(client: Client, root_pair: Any) -> None:
    response = client.get("/admin/", **bearer(root_pair.access))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_access_cookie_alone_does_not_open_the_admin(client: Client, root_pair: Any) -> None:
    client.cookies[conf.ACCESS_COOKIE] = root_pair.access
    assert client.get("/admin/").status_code == 302
    assert client.get("/t/whoami/").json()["username"] == "root"  # elsewhere it is a credential


def test_the_admins_log_out_logs_out_in_cookie_mode(
    client: Client, superuser: Any, root_pair: Any
) -> None:
    client.force_login(superuser)
    client.cookies[conf.ACCESS_COOKIE] = root_pair.access
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/logout/").status_code == 200
    assert client.get("/admin/").status_code == 302


def test_the_admin_sees_the_session_user_beside_another_users_token(
    client: Client, superuser: Any, pair: Any
) -> None:
    client.force_login(superuser)
    response = client.get("/admin/", **bearer(pair.access))
    assert response.status_code == 200
    assert response.context["user"] == superuser


def test_an_admin_post_with_a_bearer_header_still_needs_the_csrf_token(
    superuser: Any, root_pair: Any
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    forged = client.post("/admin/logout/", **bearer(root_pair.access), **EVIL)
    assert forged.status_code == 403
    assert client.get("/admin/").status_code == 200  # still logged in
    passed = client.post("/admin/logout/", {"csrfmiddlewaretoken": csrf_token(client)})
    assert passed.status_code == 200


def test_a_dead_access_cookie_does_not_turn_admin_pages_into_json(
    client: Client, superuser: Any, root_pair: Any
) -> None:
    client.force_login(superuser)
    revocation.revoke_session(root_pair.access_token.sid)
    client.cookies[conf.ACCESS_COOKIE] = root_pair.access
    response = client.get("/admin/", **PAGE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_session_only_namespaces_are_a_setting(
    client: Client, settings: Any, pair: Any, superuser: Any, root_pair: Any
) -> None:
    assert client.get("/backoffice/whoami/", **bearer(pair.access)).json()["username"] == "alice"
    settings.JWTAUTH_SESSION_ONLY_NAMESPACES = ["admin", "backoffice"]
    ignored = client.get("/backoffice/whoami/", **bearer(pair.access)).json()
    assert ignored == {"username": None, "jti": None}
    # Malformed credentials are not even read there.
    assert client.get("/backoffice/whoami/", HTTP_AUTHORIZATION="Bearer a b").status_code == 200
    settings.JWTAUTH_SESSION_ONLY_NAMESPACES = []
    assert client.get("/admin/", **bearer(root_pair.access)).status_code == 200


def test_session_only_follows_the_urlconf_the_handler_will_use(
    rf: RequestFactory, settings: Any
) -> None:
    settings.JWTAUTH_SESSION_ONLY_NAMESPACES = ["backoffice"]
    assert requestauth.session_only(rf.get("/backoffice/whoami/"))
    assert not requestauth.session_only(rf.get("/t/whoami/"))
    assert not requestauth.session_only(rf.get("/no/such/page/"))
    elsewhere = rf.get("/backoffice/whoami/")
    elsewhere.urlconf = "project.urls"  # set by an earlier middleware (django-hosts, say)
    assert not requestauth.session_only(elsewhere)


# --- CSRF: a token waives it only where jwtauth authenticates ---------------------------


def test_a_bearer_header_does_not_waive_csrf_for_a_plain_view(user: Any, pair: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)  # a session a forged request would ride on
    assert client.post("/t/whoami/", **bearer(pair.access), **EVIL).status_code == 403
    assert client.post("/t/whoami/", **bearer("not.a.token"), **EVIL).status_code == 403


def test_a_token_view_needs_no_csrf_token_with_a_bearer_header(pair: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/t/required/", **bearer(pair.access), **EVIL).status_code == 200
    # A refused token gets its 401, not a CSRF 403: clients know to refresh.
    refused = client.post("/t/required/", **bearer("a.b.c"), **EVIL)
    assert (refused.status_code, refused.json()["error"]) == (401, "token_invalid")


def test_a_token_view_needs_the_csrf_token_with_the_cookie(pair: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    refused = client.post("/t/required/", **EVIL)
    assert refused.status_code == 403
    assert refused.json() == {"error": "permission_denied", "detail": "CSRF verification failed."}
    token = csrf_token(client)
    assert client.post("/t/required/", HTTP_X_CSRFTOKEN=token).json() == {"username": "alice"}


@pytest.mark.redis
def test_a_dpop_request_costs_one_redis_round_trip(
    client: Client, bound_pair: Any, dpop_key: DPoPKey, settings: Any, private_redis: Any
) -> None:
    # The proof's replay record rides in the revocation lookup's packet: MGET and SET NX are
    # read back from one send, with no command of its own (RFC 9449 §11.1 at no extra trip).
    use_redis(settings, private_redis)
    access = bound_pair.access
    assert (
        client.get("/api/me/", **dpop_headers(dpop_key, "GET", "/api/me/", access)).status_code
        == 200
    )
    before = private_redis.client().info("commandstats")
    assert (
        client.get("/api/me/", **dpop_headers(dpop_key, "GET", "/api/me/", access)).status_code
        == 200
    )
    after = private_redis.client().info("commandstats")
    sent = {
        name.removeprefix("cmdstat_"): row["calls"] - before.get(name, {}).get("calls", 0)
        for name, row in after.items()
    }
    ours = {"info", "hello", "client|setinfo"}  # the inspecting connections' own commands
    sent = {name: calls for name, calls in sent.items() if calls and name not in ours}
    assert sent == {"mget": 1, "set": 1}
    headers = dpop_headers(dpop_key, "GET", "/api/me/", access)
    assert client.get("/api/me/", **headers).status_code == 200
    replayed = client.get("/api/me/", **headers)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_dpop_proof")
