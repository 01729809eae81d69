"""Authenticate Django REST Framework requests with jwtauth access tokens.

The class trusts what already ran, as DRF's ``SessionAuthentication`` trusts Django's
``AuthenticationMiddleware``: :func:`jwtauth.requestauth.authenticate` verifies the credential
once per request, in the middleware when it is installed, here otherwise. Refusals are raised
as DRF exceptions whose ``detail`` is jwtauth's ``{"error", "detail"}`` body, so DRF's own
exception handler answers them exactly as the middleware would, challenge included (the
``DPoP`` one for a DPoP credential, RFC 9449 §7.1). A ``use_dpop_nonce`` refusal also needs its
``DPoP-Nonce`` header, which DRF's handler cannot add: the middleware adds it, and without the
middleware :func:`exception_handler` does (set it as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from .. import requestauth, responses
from ..exceptions import JWTAuthError


class _JWTAuthDetail(exceptions.APIException):
    """A DRF exception carrying a jwtauth error: its status, code and body."""

    def __init__(self, error: JWTAuthError) -> None:
        super().__init__(responses.body(error), code=error.code)
        self.status_code = error.status
        self.error = error
        # DRF's exception handler turns ``wait`` into Retry-After, as for its own Throttled.
        self.wait: int | None = getattr(error, "retry_after", None)

    def get_full_details(self) -> Any:
        """Return jwtauth's body, for exception handlers that render the full details."""
        return responses.body(self.error)


class JWTAuthenticationFailed(_JWTAuthDetail, exceptions.AuthenticationFailed):
    """A refused token (401): DRF adds the ``WWW-Authenticate`` challenge to the answer."""


class JWTAuthAPIException(_JWTAuthDetail):
    """Any other jwtauth refusal: a failed CSRF check (403), a database outage (503)."""


def translate(error: JWTAuthError) -> exceptions.APIException:
    """Return the DRF exception that answers ``error`` with jwtauth's status, code and body."""
    if error.status == JWTAuthenticationFailed.status_code:
        return JWTAuthenticationFailed(error)
    return JWTAuthAPIException(error)


class JWTAuthentication(BaseAuthentication):
    """Return ``(user, token)`` for a valid access token; share the middleware's work if any."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Authenticate from the header (or the access cookie); ``None`` when none was sent."""
        django_request = request._request
        state = requestauth.authenticate(django_request)
        if not state.presented:
            return None  # let the next authentication class try
        try:
            token = requestauth.require(django_request)
        except JWTAuthError as e:
            raise translate(e) from e
        # The user object itself, not request.user's lazy proxy (a lookup per attribute read).
        return state.user(), token

    def authenticate_header(self, request: Request) -> str:
        """Answer 401 (not 403) with the challenge the middleware would send.

        RFC 6750 §3 for a Bearer credential, RFC 9449 §7.1 for a DPoP one, both schemes when
        none was presented.
        """
        state = requestauth.authenticate(request._request)
        return responses.challenge(state.refusal(), state.scheme) or "Bearer"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer as DRF's handler does, adding the ``DPoP-Nonce`` a nonce challenge needs.

    Only needed without jwtauth's middleware, which adds it to any answer otherwise.
    """
    # Imported here, not at the top: rest_framework.views imports DEFAULT_AUTHENTICATION_CLASSES
    # while it loads, so a module named there must not import it back (a circular import).
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, _JWTAuthDetail):
        responses.offer_nonce(context["request"]._request, response)
    return response
