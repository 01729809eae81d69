"""Authenticate Django Ninja operations with jwtauth access tokens.

Use it like any Ninja auth class, and let :func:`install` answer failures the jwtauth way
(``{"error", "detail"}`` with ``WWW-Authenticate``)::

    from ninja import NinjaAPI
    from jwtauth.contrib.ninja import JWTAuth, install

    api = NinjaAPI(auth=JWTAuth())
    install(api)

The class shares the work of :class:`~jwtauth.middleware.JWTAuthenticationMiddleware` when it
ran; without the middleware it verifies the token itself through the same core. Django Ninja
is an optional dependency (``pip install jwtauth[ninja]``).
"""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .. import cookies, credentials, responses
from ..backends import user_for, verify_access
from ..decorators import authentication_error
from ..exceptions import JWTAuthError, NotAuthenticated, ServiceUnavailable, TokenRevoked
from ..tokens import Token

MIDDLEWARE_MARK = "jwtauth_error"
# RFC 9110 §9.2.1: only these methods are safe; every other one needs CSRF for cookies.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class AuthenticationFailed(AuthenticationError):
    """Ninja's authentication error, carrying the jwtauth error that caused it."""

    def __init__(self, error: JWTAuthError) -> None:
        self.error = error
        super().__init__(status_code=error.status, message=str(error.detail))


class JWTAuth(HttpBearer):
    """Authenticate a bearer header (or, in cookie mode, the access cookie) as jwtauth does.

    Returns the verified :class:`~jwtauth.tokens.Token` (Ninja stores it in ``request.auth``)
    and sets ``request.user``. A request without any token yields ``None``, so Ninja may try
    the next auth class; a bad, expired or revoked token is refused at once with a 401 rather
    than falling through. Unsafe methods authenticated by cookie must pass Django's CSRF check
    unless the operation is ``csrf_exempt``.
    """

    def __call__(self, request: HttpRequest) -> Token | None:
        try:
            token = self._token(request)
            if token is None:
                return None
            if (
                getattr(request, "jwtauth_source", None) == credentials.COOKIE
                and request.method not in SAFE_METHODS
                and not getattr(request, "_ninja_csrf_exempt", False)
            ):
                cookies.enforce_csrf(request)
        except JWTAuthError as e:
            raise AuthenticationFailed(e) from e
        except DatabaseError as e:
            raise AuthenticationFailed(ServiceUnavailable()) from e
        return token

    def _token(self, request: HttpRequest) -> Token | None:
        if hasattr(request, MIDDLEWARE_MARK):
            # The middleware already verified the credential: reuse its answer.
            if getattr(request, MIDDLEWARE_MARK) is None and getattr(request, "auth", None) is None:
                return None
            error = authentication_error(request)
            if error is not None:
                raise error
            token: Token = request.auth  # type: ignore[attr-defined]
            return token
        credential = credentials.find(request)
        if credential is None:
            return None
        request.jwtauth_source = credential.source  # type: ignore[attr-defined]
        return self.authenticate(request, credential.raw)

    def authenticate(self, request: HttpRequest, token: str) -> Token:
        """Verify the raw access ``token``, set ``request.user``, and return the claims."""
        verified, user = verify_access(token)
        if user is None:
            user = user_for(verified)
        if user is None:
            raise TokenRevoked(_("The user of this token is no longer active."))
        request.user = user
        return verified


def install(api: NinjaAPI) -> None:
    """Answer ``api``'s authentication failures as jwtauth's JSON errors (RFC 6750 §3).

    A request without credentials gets 401 ``not_authenticated`` with ``WWW-Authenticate:
    Bearer``; a rejected token gets its own code (``token_invalid``, ``token_expired`` …).
    """

    def handle(request: HttpRequest, exc: AuthenticationError | type[Exception]) -> HttpResponse:
        if not isinstance(exc, AuthenticationError):  # Ninja's type allows a class; never one
            raise exc
        if isinstance(exc, AuthenticationFailed):
            return responses.error(exc.error)
        if exc.status_code == NotAuthenticated.status:
            return responses.error(NotAuthenticated())
        return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)

    api.add_exception_handler(AuthenticationError, handle)


__all__ = ["AuthenticationFailed", "JWTAuth", "install"]
