"""Build jwtauth's JSON answers: ``{"error": <code>, "detail": <text>}`` plus the right headers."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from .exceptions import JWTAuthError, MethodNotAllowed, NotAuthenticated, Throttled, TokenError


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is a quoted-string of printable ASCII without '"' or '\'.
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


def error(exc: JWTAuthError) -> JsonResponse:
    """Answer ``exc`` as JSON with its status and stable code."""
    response = JsonResponse({"error": exc.code, "detail": str(exc.detail)}, status=exc.status)
    if isinstance(exc, TokenError):
        response["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{_quoted(str(exc.detail))}"'
        )
    elif isinstance(exc, NotAuthenticated):
        # RFC 6750 §3.1: no error code when the request carried no credential at all.
        response["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    if exc.status in (401, 429):
        response["Cache-Control"] = "no-store"
    return response


def method_not_allowed(allowed: tuple[str, ...]) -> JsonResponse:
    """Answer 405 with the ``Allow`` header RFC 9110 §15.5.6 requires."""
    response = error(MethodNotAllowed())
    response["Allow"] = ", ".join(allowed)
    return response


def tokens(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    """Answer a token-bearing payload that no cache may keep (RFC 6749 §5.1)."""
    response = JsonResponse(payload, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
