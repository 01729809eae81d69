"""Authenticate requests that present an access token, and add security headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject

from . import credentials, responses
from .backends import user_for, verify_access
from .conf import conf
from .exceptions import JWTAuthError, ServiceUnavailable, TokenError
from .tokens import Token

Handler = Callable[[HttpRequest], Any]
logger = logging.getLogger("jwtauth")
LENIENT_ATTR = "jwtauth_lenient"


def lenient(view: Any) -> Any:
    """Mark a view that handles bad tokens itself (login, refresh, logout)."""
    setattr(view, LENIENT_ATTR, True)
    return view


class _UserLoader:
    """Load a verified token's user once, for ``request.user`` and ``request.auser()`` alike."""

    __slots__ = ("token", "user")

    def __init__(self, token: Token, cached: Any) -> None:
        self.token = token
        self.user = cached

    def __call__(self) -> Any:
        if self.user is None:
            try:
                self.user = user_for(self.token) or AnonymousUser()
            except TokenError:
                self.user = AnonymousUser()
        return self.user


def authenticate(request: HttpRequest) -> None:
    """Set ``request.auth`` and ``request.user`` from the request's access token, if any.

    A bad token is not answered here: it is kept in ``request.jwtauth_error`` and answered
    by :meth:`JWTAuthenticationMiddleware.process_view`, so that views marked :func:`lenient`
    (logout with a dead token, say) still run. The user is loaded only when first read, through
    ``request.user`` or, from async code, ``await request.auser()``.
    """
    request.auth = None  # type: ignore[attr-defined]
    request.jwtauth_error = None  # type: ignore[attr-defined]
    request.jwtauth_source = None  # type: ignore[attr-defined]
    try:
        credential = credentials.find(request)
        if credential is None:
            return
        if credential.source == credentials.HEADER:
            # A bearer header cannot be sent by a cross-site form, so CSRF does not apply;
            # cookie-borne tokens stay subject to Django's CSRF check.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        request.jwtauth_source = credential.source  # type: ignore[attr-defined]
        token, cached_user = verify_access(credential.raw)
    except TokenError as e:
        request.jwtauth_error = e  # type: ignore[attr-defined]
        return
    except DatabaseError as e:
        request.jwtauth_error = ServiceUnavailable()  # type: ignore[attr-defined]
        request.jwtauth_error.__cause__ = e  # type: ignore[attr-defined]
        return
    load = _UserLoader(token, cached_user)

    async def auser() -> Any:
        return await sync_to_async(load)()

    request.auth = token  # type: ignore[attr-defined]
    request.user = SimpleLazyObject(load)  # type: ignore[assignment]
    request.auser = auser
    # The loader itself, for adapters that hand the user on (DRF): the object they pass
    # need not be read through the lazy proxy, which costs an exception per attribute.
    request.jwtauth_load_user = load  # type: ignore[attr-defined]


def authenticate_once(request: HttpRequest) -> None:
    """Authenticate ``request`` unless the middleware already did (it may not be installed)."""
    if not hasattr(request, "jwtauth_error"):
        authenticate(request)


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
    """Authenticate ``Authorization: Bearer`` (or access-cookie) requests; refuse bad tokens."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        authenticate(request)
        response = self.get_response(request)
        return self._vary(response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        await sync_to_async(authenticate, thread_sensitive=True)(request)
        response = await self.get_response(request)
        return self._vary(response)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        """Answer a bad token with 401 (503 if the database failed) unless the view is lenient."""
        error: JWTAuthError | None = getattr(request, "jwtauth_error", None)
        if error is None or getattr(view_func, LENIENT_ATTR, False):
            return None
        return responses.error(error)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        """Answer a lost database connection in any view with 503 JSON, not a 500 page."""
        # A dropped or refused connection (a restart, a failover, pg_terminate_backend) is
        # transient: the client may retry, and the next request reconnects. Other database
        # errors (integrity, programming) stay Django's 500: they are bugs, not outages.
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable in a view: %s", exception.__class__.__name__)
        return responses.error(ServiceUnavailable())

    @staticmethod
    def _vary(response: HttpResponseBase) -> HttpResponseBase:
        # The answer depends on the credential, so shared caches must key on it.
        patch_vary_headers(
            response, ("Authorization", "Cookie") if conf.COOKIES else ("Authorization",)
        )
        return response


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
