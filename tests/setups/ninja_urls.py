"""The Ninja-only set-up (docs/ninja.md): ``JWTAuth`` and ``install``, no jwtauth middleware."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import include, path
from ninja import NinjaAPI, Schema

from jwtauth.contrib.ninja import JWTAuth, install

api = NinjaAPI(urls_namespace="setups-ninja", auth=JWTAuth())
install(api)


class Message(Schema):
    """A message to echo back."""

    message: str


@api.get("/me/")
def me(request: HttpRequest) -> dict[str, Any]:
    """Answer who the access token belongs to."""
    return {"id": request.user.pk, "username": request.user.get_username()}


@api.post("/echo/")
def echo(request: HttpRequest, data: Message) -> dict[str, Any]:
    """Echo the message with the user's name."""
    return {"username": request.user.get_username(), "message": data.message}


urlpatterns = [
    path("auth/", include("jwtauth.urls")),
    path("api/", api.urls),
]
