"""Demo endpoints through Django Ninja and jwtauth's Ninja auth class (mounted at api/ninja/)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI, Schema

from jwtauth.contrib.ninja import JWTAuth, install

api = NinjaAPI(
    title="jwtauth demo (Django Ninja)",
    version="1",
    urls_namespace="ninja",
    auth=JWTAuth(),
)
install(api)


class Me(Schema):
    """Who the access token belongs to."""

    id: int
    username: str


class EchoIn(Schema):
    """A message to echo back."""

    message: str


class EchoOut(Schema):
    """The message, signed by the user who sent it."""

    username: str
    message: str


@api.get("/me/", response=Me)
def me(request: HttpRequest) -> dict[str, Any]:
    """Answer who the access token belongs to."""
    return {"id": request.user.pk, "username": request.user.get_username()}


@api.post("/echo/", response=EchoOut)
def echo(request: HttpRequest, data: EchoIn) -> dict[str, Any]:
    """Echo a message; with the cookie credential this unsafe method needs the CSRF token."""
    return {"username": request.user.get_username(), "message": data.message[:1000]}
