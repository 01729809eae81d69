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

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .. import active, requestauth, responses
from ..backends import verify_bearer
from ..exceptions import JWTAuthError, NotAuthenticated
from ..tokens import Token


class AuthenticationFailed(AuthenticationError):
    """Ninja's authentication error, carrying the jwtauth error that caused it."""

    def __init__(self, error: JWTAuthError) -> None:
        self.error = error
        super().__init__(status_code=error.status, message=str(error.detail))


class JWTAuth(HttpBearer):
    """Authenticate a bearer header (or, in cookie mode, the access cookie) as jwtauth does.

    A ``DPoP`` header credential is verified with its proof (RFC 9449 §7.1), as everywhere.
    Returns the verified :class:`~jwtauth.tokens.Token` (Ninja stores it in ``request.auth``)
    and sets ``request.user``. A request without any token yields ``None``, so Ninja may try
    the next auth class; a bad, expired or revoked token is refused at once with a 401 rather
    than falling through. Unsafe methods authenticated by cookie must pass Django's CSRF check
    unless the operation is ``csrf_exempt``.
    """

    def __call__(self, request: HttpRequest) -> Token | None:
        state = requestauth.authenticate(request)
        if not state.presented:
            return None
        # Ninja marks operations declared csrf_exempt on the request for its auth classes.
        csrf = not getattr(request, "_ninja_csrf_exempt", False)
        try:
            token = requestauth.require(request, csrf=csrf)
        except JWTAuthError as e:
            raise AuthenticationFailed(e) from e
        # The user object itself, not the lazy proxy (a lookup per attribute read).
        request.user = state.user_or_anonymous()
        return token

    def authenticate(self, request: HttpRequest, token: str) -> Token:
        """Verify the raw access ``token``, set ``request.user``, and return the claims.

        Raises :class:`~jwtauth.exceptions.TokenError` for a token that is not a valid access
        token of an active user, or is bound to a DPoP key (it comes with no proof here).
        """
        verified, user = verify_bearer(token)
        request.user = user if user is not None else active.user_of(verified)
        return verified


def install(api: NinjaAPI) -> None:
    """Answer ``api``'s authentication failures as jwtauth's JSON errors (RFC 6750 §3).

    A request without credentials gets 401 ``not_authenticated`` with the challenge of every
    scheme taken (``Bearer, DPoP algs="…"``); a rejected token gets its own code
    (``token_invalid``, ``token_expired``, ``invalid_dpop_proof`` …) and its scheme's challenge.
    """

    def handle(request: HttpRequest, exc: AuthenticationError | type[Exception]) -> HttpResponse:
        if not isinstance(exc, AuthenticationError):  # Ninja's type allows a class; never one
            raise exc
        if isinstance(exc, AuthenticationFailed):
            return responses.refused(request, exc.error)
        if exc.status_code == NotAuthenticated.status:
            return responses.error(NotAuthenticated())
        return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)

    api.add_exception_handler(AuthenticationError, handle)


__all__ = ["AuthenticationFailed", "JWTAuth", "install"]
