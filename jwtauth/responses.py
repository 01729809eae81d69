"""Build jwtauth's answers: ``{"error": <code>, "detail": <text>}`` plus the right headers.

A browser loading a page gets a short HTML page instead (:func:`page`), never the JSON.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.html import escape

from . import cookies, credentials, dpop
from .dpop import DPoPBindingError, DPoPError, UseDPoPNonce
from .dpop.policy import policy
from .exceptions import (
    JWTAuthError,
    MethodNotAllowed,
    NotAuthenticated,
    ServiceUnavailable,
    Throttled,
    TokenError,
)
from .requestauth import ATTR, PROOF_HEADER

NONCE_HEADER = "DPoP-Nonce"


def body(exc: JWTAuthError) -> dict[str, str]:
    """Return the JSON body that answers ``exc``: its stable code and its text."""
    return {"error": exc.code, "detail": str(exc.detail)}


def challenge(exc: JWTAuthError | None, scheme: str | None = None) -> str | None:
    """Return the ``WWW-Authenticate`` value that goes with ``exc``, if any.

    ``scheme`` is the scheme of the credential presented (``Bearer`` or ``DPoP``). A refused
    DPoP credential, a bad proof and a key-binding error get the ``DPoP`` challenge (RFC 9449
    §7.1), other token errors the ``Bearer`` one (RFC 6750 §3). ``None`` stands for "no
    credential was presented", answered like :class:`~jwtauth.exceptions.NotAuthenticated`:
    with every scheme the server takes.
    """
    if isinstance(exc, DPoPError | DPoPBindingError) or (
        scheme == credentials.DPOP and isinstance(exc, TokenError)
    ):
        return dpop.challenge(exc)["WWW-Authenticate"]
    if isinstance(exc, TokenError):
        return f'Bearer error="invalid_token", error_description="{exc.challenge_text()}"'
    if exc is None or isinstance(exc, NotAuthenticated):
        return _no_credential()
    return None


def _no_credential() -> str:
    # RFC 6750 §3.1, RFC 9449 §7.1: no error code when the request carried no credential; one
    # challenge per scheme accepted (RFC 9110 §11.6.1 allows a list in one header).
    p = policy()
    if p.required:
        return f'DPoP algs="{p.algs}"'
    if p.enabled:
        return f'Bearer, DPoP algs="{p.algs}"'
    return "Bearer"


def error(
    exc: JWTAuthError, *, scheme: str | None = None, token_endpoint: bool = False
) -> JsonResponse:
    """Answer ``exc`` as JSON with its status and stable code.

    ``scheme``: the scheme of the credential presented (see :func:`challenge`).
    ``token_endpoint``: answer a DPoP proof problem as the login and refresh endpoints do,
    400 without a challenge (RFC 9449 §5).
    """
    if token_endpoint and isinstance(exc, DPoPError):
        status, value = exc.token_endpoint_status, None
    else:
        status, value = exc.status, challenge(exc, scheme)
    response = JsonResponse(body(exc), status=status)
    if value is not None:
        response["WWW-Authenticate"] = value
    if isinstance(exc, UseDPoPNonce):
        response[NONCE_HEADER] = exc.nonce
    if isinstance(exc, (Throttled, ServiceUnavailable)):
        response["Retry-After"] = str(exc.retry_after)
    if exc.status in (401, 429):
        response["Cache-Control"] = "no-store"
    return response


def refused(
    request: HttpRequest, exc: JWTAuthError, *, token_endpoint: bool = False
) -> JsonResponse:
    """Answer ``exc`` for ``request``; a 401 owed to the access cookie also clears that cookie."""
    state = getattr(request, ATTR, None)
    scheme = state.scheme if state is not None else None
    response = error(exc, scheme=scheme, token_endpoint=token_endpoint)
    if exc.status == 401 and state is not None and state.dead_cookie:
        # The cookie is dead: left in place, it would be refused on every request until it
        # expires (a browser cannot drop an HttpOnly cookie by script).
        cookies.clear_access(response)
    return response


def offer_nonce(request: HttpRequest, response: HttpResponseBase) -> None:
    """Give a request that carried a DPoP proof the nonce to use next, when nonces are required.

    RFC 9449 §8.2 and §9: any answer may carry a fresh ``DPoP-Nonce``, so a client learns the
    new nonce before the one it holds expires. A ``use_dpop_nonce`` refusal carries its own.
    """
    if NONCE_HEADER in response or PROOF_HEADER not in request.META:
        return
    state = getattr(request, ATTR, None)
    refusal = state.error if state is not None else None
    if isinstance(refusal, UseDPoPNonce):
        response[NONCE_HEADER] = refusal.nonce
    elif policy().nonce:
        response[NONCE_HEADER] = dpop.current_nonce()


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
