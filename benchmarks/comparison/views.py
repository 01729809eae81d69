"""The contenders: the same tiny answer behind each authentication scheme."""

from __future__ import annotations

from typing import Any

import jwt
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from jwtauth import responses, users
from jwtauth.contrib.drf import JWTAuthentication
from jwtauth.decorators import jwt_required
from jwtauth.exceptions import NotAuthenticated

BENCH_USERNAME = "bench"


def bare(request: HttpRequest) -> JsonResponse:
    """Answer without any authentication: the baseline of the plain-Django contenders."""
    return JsonResponse({"ok": True})


def floor_key() -> str:
    """Return the Redis key the floor reads (the runner sets it; a miss would cost the same)."""
    return f"{settings.CACHES['default']['KEY_PREFIX']}:1:jwtauth:t:floor-probe"


class _Floor:
    redis: Any = None


def floor(request: HttpRequest) -> JsonResponse:
    """Do the floor's work inside a request: PyJWT's bare decode and one Redis GET.

    Measured like the other views (same stack, same client), it shows what decoding plus one
    round trip costs amid a request's other work, where caches are colder than in a loop.
    """
    if _Floor.redis is None:
        _Floor.redis = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[2]
    jwt.decode(
        token,
        settings.JWTAUTH_SECRET_KEY,
        algorithms=["HS256"],
        audience=settings.JWTAUTH_AUDIENCE,
        issuer=settings.JWTAUTH_ISSUER,
    )
    _Floor.redis.get(floor_key())
    return JsonResponse({"ok": True})


def jwtauth_auth_only(request: HttpRequest) -> JsonResponse:
    """Answer only token-authenticated requests, without touching ``request.user``.

    The middleware has verified the token and checked revocation (bad tokens got their 401
    in ``process_view``); ``request.auth`` is set exactly when that succeeded.
    """
    if getattr(request, "auth", None) is None:
        return responses.error(NotAuthenticated())
    return JsonResponse({"ok": True})


@jwt_required
def jwtauth_user(request: HttpRequest) -> JsonResponse:
    """Answer with the token's user, as a view that reads ``request.user`` does."""
    return JsonResponse({"id": request.user.pk, "username": request.user.get_username()})


class _FixedUser:
    user: Any = None


def fixed_user() -> Any:
    """Return the benchmark user, loaded once per process."""
    if _FixedUser.user is None:
        _FixedUser.user = get_user_model()._default_manager.get(username=BENCH_USERNAME)
    return _FixedUser.user


class FixedUserAuthentication(BaseAuthentication):
    """Authenticate every request as the benchmark user: DRF's own cost, no token at all."""

    def authenticate(self, request: Request) -> tuple[Any, None]:
        """Return the fixed user."""
        return fixed_user(), None


class UserQueryAuthentication(BaseAuthentication):
    """Load the benchmark user from the database, as cheaply as jwtauth does, and nothing else.

    No token, no signature, no revocation: the ceiling for any scheme that reads the user
    from PostgreSQL on every request (jwtauth without its user cache, simplejwt).
    """

    def authenticate(self, request: Request) -> tuple[Any, None]:
        """Return the benchmark user, read with jwtauth's precompiled primary-key SELECT."""
        return users.by_pk(fixed_user().pk), None


class _UserView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        """Answer with the authenticated user."""
        user: Any = request.user
        return Response({"id": user.pk, "username": user.get_username()})


class BaselineView(_UserView):
    """DRF with an authentication class that returns a fixed user (the DRF baseline)."""

    authentication_classes = [FixedUserAuthentication]


class UserQueryView(_UserView):
    """DRF whose only authentication work is one user SELECT (the database-load ceiling)."""

    authentication_classes = [UserQueryAuthentication]


class JWTAuthView(_UserView):
    """DRF with jwtauth's authentication class."""

    authentication_classes = [JWTAuthentication]


class SimpleJWTView(_UserView):
    """DRF with djangorestframework-simplejwt's ``JWTAuthentication`` (default settings)."""

    authentication_classes = [SimpleJWTAuthentication]
