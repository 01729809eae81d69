"""Demo endpoints: a public ping, the current user, and a DRF example."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtauth.contrib.drf import JWTAuthentication
from jwtauth.decorators import allow_methods, jwt_required


@allow_methods("GET")
def ping(request: HttpRequest) -> JsonResponse:
    """Answer that the site is up; no authentication."""
    return JsonResponse({"ok": True})


@allow_methods("GET")
@jwt_required
def me(request: HttpRequest) -> JsonResponse:
    """Answer who the access token belongs to."""
    return JsonResponse({"id": request.user.pk, "username": request.user.get_username()})


class DRFMeView(APIView):
    """The same answer through Django REST Framework and jwtauth's DRF authentication."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        """Answer who the access token belongs to."""
        user: Any = request.user
        return Response({"id": user.pk, "username": user.get_username()})
