"""Authenticate requests that present an access token, and add security headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from . import cookies, credentials, responses
from .checks import ORDER_ERROR, ORDER_HINT, misordered
from .conf import conf
from .dberrors import database_error, is_missing_schema
from .exceptions import JWTAuthError
from .requestauth import ATTR, RequestAuth, authenticate

Handler = Callable[[HttpRequest], Any]
logger = logging.getLogger("jwtauth")
LENIENT_ATTR = "jwtauth_lenient"


def lenient(view: Any) -> Any:
    """Mark a view that handles bad tokens itself (login, refresh, logout)."""
    setattr(view, LENIENT_ATTR, True)
    return view


class HybridMiddleware:
    """Serve a sync or an async handler stack alike (Django's hybrid-middleware protocol)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]  # subclasses define __call__


class JWTAuthenticationMiddleware(HybridMiddleware):
    """Authenticate token requests (``Bearer``, ``DPoP``, the access cookie); refuse bad ones.

    The work is :func:`jwtauth.requestauth.authenticate`'s, done before any view (and any
    later middleware) reads ``request.user``. Refusals wait for :meth:`process_view`, once the
    view is known: views marked :func:`lenient` handle bad tokens themselves.
    """

    def __init__(self, get_response: Handler) -> None:
        # System checks do not run under gunicorn or uvicorn: refuse to be built in an order
        # that would serve a session user to one view and the token's user to another.
        if misordered(settings.MIDDLEWARE):
            raise ImproperlyConfigured(f"{ORDER_ERROR} {ORDER_HINT}")
        super().__init__(get_response)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        state = authenticate(request)
        return self._finish(request, state, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        state = await sync_to_async(authenticate, thread_sensitive=True)(request)
        return self._finish(request, state, await self.get_response(request))

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        """Answer a bad token with 401 (503 if the database failed) unless the view is lenient.

        A page load (the client prefers HTML) with a dead access cookie is not answered with
        JSON: the page is served as if the cookie were absent, and the answer clears it.
        """
        state: RequestAuth = getattr(request, ATTR)
        error = state.error
        if error is None or getattr(view_func, LENIENT_ATTR, False):
            return None
        if state.source == credentials.COOKIE and _loads_a_page(request):
            return None
        return responses.refused(request, error)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        """Answer an outage, a missing table or a refused revocation in any view clearly.

        A page load gets a short HTML page, an API client jwtauth's JSON; anything else stays
        Django's to handle.
        """
        error = _answerable(exception)
        if error is None:
            return None
        if _loads_a_page(request):
            return responses.page(error)
        return responses.error(error)

    @staticmethod
    def _finish(
        request: HttpRequest, state: RequestAuth, response: HttpResponseBase
    ) -> HttpResponseBase:
        if state.dead_cookie:
            # Whatever answered (a 401, a page, a lenient view), a refused cookie is cleared:
            # kept, it would be refused on every request until it expires.
            cookies.clear_access(response)
        # Whatever answered a DPoP request (a DRF or Ninja view too), it gets the nonce to use.
        responses.offer_nonce(request, response)
        # The answer depends on the credential, so shared caches must key on it.
        patch_vary_headers(
            response, ("Authorization", "Cookie") if conf.COOKIES else ("Authorization",)
        )
        return response


def _answerable(exception: Exception) -> JWTAuthError | None:
    # A revocation that could not be put in force (raised at commit, after a password change
    # in the admin, say) is jwtauth's own answer. A dropped or refused connection (a restart,
    # a failover, pg_terminate_backend) is transient: the client may retry, and the next
    # request reconnects; a missing table is a deployment that skipped migrate. Other
    # database errors (integrity, programming) stay Django's 500: they are bugs.
    if isinstance(exception, JWTAuthError):
        return exception
    if isinstance(exception, OperationalError | InterfaceError) or (
        isinstance(exception, DatabaseError) and is_missing_schema(exception)
    ):
        return database_error(exception, "a view")
    return None


def _loads_a_page(request: HttpRequest) -> bool:
    # A browser navigating asks for HTML first; fetch() and API clients ask for JSON or */*.
    return request.get_preferred_type(("application/json", "text/html")) == "text/html"


class SecurityHeadersMiddleware(HybridMiddleware):
    """Add the headers Django's ``SecurityMiddleware`` leaves out (``X-XSS-Protection``).

    ``Referrer-Policy``, ``X-Content-Type-Options`` and HSTS come from ``SecurityMiddleware``
    (``SECURE_REFERRER_POLICY``, ``SECURE_CONTENT_TYPE_NOSNIFF``, ``SECURE_HSTS_*``) and
    ``X-Frame-Options`` from ``XFrameOptionsMiddleware``; this one fills the gaps.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self._headers(self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return self._headers(await self.get_response(request))

    @staticmethod
    def _headers(response: HttpResponseBase) -> HttpResponseBase:
        # "0" turns the legacy XSS auditor off: it has been removed from current browsers and,
        # where it survives, its filtering can itself be abused to leak data (OWASP guidance).
        value = conf.X_XSS_PROTECTION
        if value is not None:
            response.headers.setdefault("X-XSS-Protection", str(value))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # A fallback for sites without XFrameOptionsMiddleware: no page of ours is framed
        # (clickjacking), unless the view opted out with @xframe_options_exempt.
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
