"""Authenticate Django REST Framework requests with jwtauth access tokens."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .. import cookies, credentials
from ..backends import user_for, verify_access
from ..exceptions import JWTAuthError, PermissionDenied, ServiceUnavailable, TokenError


def _translate(error: JWTAuthError) -> exceptions.APIException:
    """Return the DRF exception that answers ``error`` with the same status and code."""
    if isinstance(error, TokenError):
        return exceptions.AuthenticationFailed(str(error.detail), code=error.code)
    translated = exceptions.APIException(str(error.detail), code=error.code)
    translated.status_code = error.status
    return translated


class JWTAuthentication(BaseAuthentication):
    """Return ``(user, token)`` for a valid access token; share the middleware's work if any."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Authenticate from the header (or the access cookie), reusing the middleware's result."""
        django_request = request._request
        token = getattr(django_request, "auth", None)
        if token is not None:
            load = getattr(django_request, "jwtauth_load_user", None)
            user = load() if load is not None else django_request.user
        else:
            error = getattr(django_request, "jwtauth_error", None)
            if error is not None:
                raise _translate(error)
            token, user = self._verify(django_request)
            if token is None:
                return None
        if not getattr(user, "is_active", False):
            raise exceptions.AuthenticationFailed(_("The user of this token is no longer active."))
        if getattr(django_request, "jwtauth_source", None) == credentials.COOKIE:
            self._enforce_csrf(request)
        return user, token

    @staticmethod
    def _verify(django_request: Any) -> tuple[Any, Any]:
        try:
            credential = credentials.find(django_request)
            if credential is None:
                return None, None
            django_request.jwtauth_source = credential.source
            token, user = verify_access(credential.raw)
            return token, user if user is not None else user_for(token)
        except TokenError as e:
            raise _translate(e) from e
        except DatabaseError as e:
            raise _translate(ServiceUnavailable()) from e

    @staticmethod
    def _enforce_csrf(request: Request) -> None:
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return
        try:
            cookies.enforce_csrf(request._request)
        except PermissionDenied as e:
            raise exceptions.PermissionDenied(str(e.detail)) from e
        except JWTAuthError as e:  # an oversized body, say
            raise _translate(e) from e

    def authenticate_header(self, request: Request) -> str:
        """Answer 401 (not 403) with ``WWW-Authenticate: Bearer`` for failed authentication."""
        # RFC 6750 §3.1: name the error only when a token was presented at all.
        if getattr(request._request, "jwtauth_source", None) is None:
            return "Bearer"
        return 'Bearer error="invalid_token"'
