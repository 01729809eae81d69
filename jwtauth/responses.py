"""Build jwtauth's answers: ``{"error": <code>, "detail": <text>}`` plus the right headers.

A browser loading a page gets a short HTML page instead (:func:`page`), never the JSON.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.html import escape

from . import cookies
from .exceptions import JWTAuthError, MethodNotAllowed, NotAuthenticated, Throttled, TokenError
from .requestauth import ATTR


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is a quoted-string of printable ASCII without '"' or '\'.
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


def description(exc: JWTAuthError) -> str:
    """Return ``exc``'s text for a challenge: English, for the client's developer.

    RFC 6750 §3 wants ASCII there; the JSON ``detail`` carries the client's language. A detail
    already formatted in another language falls back to the error's English default text.
    """
    with translation.override(None):
        text = str(exc.detail)
        if not text.isascii():
            text = str(exc.default_detail)
    return _quoted(text)


def body(exc: JWTAuthError) -> dict[str, str]:
    """Return the JSON body that answers ``exc``: its stable code and its text."""
    return {"error": exc.code, "detail": str(exc.detail)}


def challenge(exc: JWTAuthError | None) -> str | None:
    """Return the ``WWW-Authenticate`` value that goes with ``exc`` (RFC 6750 §3), if any.

    ``None`` stands for "no credential was presented", which is answered like
    :class:`~jwtauth.exceptions.NotAuthenticated`.
    """
    if isinstance(exc, TokenError):
        return f'Bearer error="invalid_token", error_description="{description(exc)}"'
    if exc is None or isinstance(exc, NotAuthenticated):
        # RFC 6750 §3.1: no error code when the request carried no credential at all.
        return "Bearer"
    return None


def error(exc: JWTAuthError) -> JsonResponse:
    """Answer ``exc`` as JSON with its status and stable code."""
    response = JsonResponse(body(exc), status=exc.status)
    value = challenge(exc)
    if value is not None:
        response["WWW-Authenticate"] = value
    if isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    if exc.status in (401, 429):
        response["Cache-Control"] = "no-store"
    return response


def refused(request: HttpRequest, exc: JWTAuthError) -> JsonResponse:
    """Answer ``exc`` for ``request``; a 401 owed to the access cookie also clears that cookie."""
    response = error(exc)
    state = getattr(request, ATTR, None)
    if exc.status == 401 and state is not None and state.dead_cookie:
        # The cookie is dead: left in place, it would be refused on every request until it
        # expires (a browser cannot drop an HttpOnly cookie by script).
        cookies.clear_access(response)
    return response


def page(exc: JWTAuthError) -> HttpResponse:
    """Answer ``exc`` to a browser loading a page: a short HTML page, never jwtauth's JSON."""
    title = escape(str(exc.detail))
    response = HttpResponse(
        f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{escape(exc.code)}</p>",
        status=exc.status,
        content_type="text/html; charset=utf-8",
    )
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
