"""The DRF-only set-up (docs/drf.md): jwtauth's authentication class, no jwtauth middleware."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtauth.contrib.drf import JWTAuthentication


class Me(APIView):
    """Answer who the access token belongs to."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        """Answer the user's id and name."""
        user: Any = request.user
        return Response({"id": user.pk, "username": user.get_username()})


class Echo(APIView):
    """Echo the body's message with the user's name."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        """Answer the message and the user's name."""
        user: Any = request.user
        message = request.data.get("message", "")  # type: ignore[union-attr]
        return Response({"username": user.get_username(), "message": message})


urlpatterns = [
    path("auth/", include("jwtauth.urls")),
    path("api/me/", Me.as_view()),
    path("api/echo/", Echo.as_view()),
]
