"""The middleware set-up (README): plain Django views protected with ``jwt_required``."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from jwtauth.decorators import allow_methods, jwt_required


@allow_methods("GET")
@jwt_required
def me(request: HttpRequest) -> JsonResponse:
    """Answer who the access token belongs to."""
    return JsonResponse({"id": request.user.pk, "username": request.user.get_username()})


@allow_methods("POST")
@jwt_required
def echo(request: HttpRequest) -> JsonResponse:
    """Echo the JSON body's message with the user's name."""
    message = json.loads(request.body or b"{}").get("message", "")
    return JsonResponse({"username": request.user.get_username(), "message": message})


urlpatterns = [
    path("auth/", include("jwtauth.urls")),
    path("api/me/", me),
    path("api/echo/", echo),
]
