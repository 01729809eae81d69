"""jwt_required and JWTRequiredMixin: 401 JSON, never a redirect to a login page."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.test import AsyncClient, Client
from django.urls import path
from django.views import View

from jwtauth.conf import conf
from jwtauth.decorators import JWTRequiredMixin, allow_methods, jwt_required
from tests.conftest import NO_CREDENTIAL

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@jwt_required
def sync_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username()})


@jwt_required
async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username()})


@allow_methods("POST", "PUT")
def writes_only(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"method": request.method})


@allow_methods("GET")
async def async_reads_only(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"method": request.method})


class SyncMixinView(JWTRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"username": request.user.get_username()})

    post = get


class AsyncMixinView(JWTRequiredMixin, View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        user = await request.auser()
        return JsonResponse({"username": user.get_username()})

    post = get


def csrf(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": get_token(request)})


urlpatterns = [
    path("csrf/", csrf),
    path("sync/", sync_view),
    path("async/", async_view),
    path("mixin/", SyncMixinView.as_view()),
    path("async-mixin/", AsyncMixinView.as_view()),
    path("writes/", writes_only),
    path("async-reads/", async_reads_only),
]
SYNC = ["/sync/", "/mixin/"]
ASYNC = ["/async/", "/async-mixin/"]


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}
    return str(body["error"])


def get(url: str, token: str | None = None) -> Any:
    """GET ``url`` through the handler its view needs (sync or async)."""
    if url in ASYNC:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return async_to_sync(AsyncClient().get)(url, headers=headers)
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get(url, **extra)


@pytest.mark.parametrize("url", SYNC + ASYNC)
def test_a_valid_token_passes(pair: Any, url: str) -> None:
    response = get(url, pair.access)
    assert response.status_code == 200
    assert response.json() == {"username": "alice"}


@pytest.mark.parametrize("url", SYNC + ASYNC)
def test_no_token_is_401_json_not_a_redirect(url: str) -> None:
    response = get(url)
    assert response.status_code == 401
    assert "Location" not in response
    assert error_of(response) == "not_authenticated"
    assert response["WWW-Authenticate"] == NO_CREDENTIAL


@pytest.mark.parametrize("url", SYNC)
def test_a_session_login_is_not_a_token(client: Client, user: Any, url: str) -> None:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 401
    assert error_of(response) == "not_authenticated"


@pytest.mark.parametrize("url", SYNC + ASYNC)
def test_an_inactive_user_is_refused_even_with_a_live_token(
    pair: Any, user: Any, django_user_model: Any, url: str
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no cutoff moved
    response = get(url, pair.access)
    assert response.status_code == 401
    assert error_of(response) == "token_revoked"


@pytest.mark.parametrize("url", SYNC)
def test_the_decorator_works_without_the_middleware(
    pair: Any, settings: Any, client: Client, url: str
) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "jwtauth.middleware.JWTAuth" not in m]
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {pair.access}").json() == {
        "username": "alice"
    }
    refused = client.get(url, HTTP_AUTHORIZATION="Bearer a.b.c")
    assert refused.status_code == 401
    assert error_of(refused) == "token_invalid"
    assert client.get(url).status_code == 401


def test_wraps_keeps_the_view_identity() -> None:
    assert sync_view.__name__ == "sync_view"
    assert async_view.__name__ == "async_view"


def test_allow_methods_answers_405_json_with_allow(client: Client) -> None:
    assert client.put("/writes/").json() == {"method": "PUT"}
    response = client.get("/writes/")
    assert response.status_code == 405
    assert response["Allow"] == "POST, PUT"
    assert error_of(response) == "method_not_allowed"


def test_allow_methods_on_an_async_view_adds_head_beside_get() -> None:
    client = AsyncClient()
    assert async_to_sync(client.get)("/async-reads/").json() == {"method": "GET"}
    assert async_to_sync(client.head)("/async-reads/").status_code == 200
    response = async_to_sync(client.post)("/async-reads/")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert error_of(response) == "method_not_allowed"


@pytest.mark.parametrize("method", ["POST", "DELETE", "QUERY"])
def test_a_read_only_view_answers_405_not_a_csrf_403(method: str) -> None:
    # No unsafe request reaches a view that allows safe methods only, so CSRF is moot there.
    async def send_async() -> Any:
        # AsyncClient.generic is a plain method returning a coroutine: await it here.
        return await AsyncClient(enforce_csrf_checks=True).generic(method, "/async-reads/")

    for response in (
        Client(enforce_csrf_checks=True).generic(method, "/async-reads/"),
        async_to_sync(send_async)(),
    ):
        assert response.status_code == 405
        assert error_of(response) == "method_not_allowed"


def test_a_view_allowing_unsafe_methods_keeps_djangos_csrf_check() -> None:
    response = Client(enforce_csrf_checks=True).post("/writes/")
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()


def send(client: Any, method: str, url: str, **headers: str) -> Any:
    """Send through a Client or an AsyncClient alike; ``headers`` by their HTTP names."""
    if isinstance(client, AsyncClient):
        return async_to_sync(getattr(client, method))(url, headers=headers)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return getattr(client, method)(url, **meta)


@pytest.mark.parametrize("url", SYNC + ASYNC)
def test_a_cookie_credential_needs_the_csrf_token_on_unsafe_methods(pair: Any, url: str) -> None:
    # Token views are exempt from CsrfViewMiddleware and check CSRF themselves, for cookies.
    client = (Client if url in SYNC else AsyncClient)(enforce_csrf_checks=True)
    client.cookies[conf.ACCESS_COOKIE] = pair.access
    assert send(client, "get", url).json() == {"username": "alice"}
    refused = send(client, "post", url)
    assert refused.status_code == 403
    assert error_of(refused) == "permission_denied"
    token = send(client, "get", "/csrf/").json()["token"]
    assert send(client, "post", url, **{"X-CSRFToken": token}).json() == {"username": "alice"}


@pytest.mark.parametrize("url", SYNC + ASYNC)
def test_a_bearer_header_needs_no_csrf_token(pair: Any, url: str) -> None:
    client = (Client if url in SYNC else AsyncClient)(enforce_csrf_checks=True)
    response = send(client, "post", url, Authorization=f"Bearer {pair.access}")
    assert response.json() == {"username": "alice"}
