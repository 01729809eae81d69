"""Require a valid access token on plain Django views: 401 JSON, never a login redirect."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext_lazy as _

from . import responses
from .exceptions import JWTAuthError, NotAuthenticated, TokenRevoked
from .middleware import authenticate_once

V = TypeVar("V", bound=Callable[..., Any])


def authentication_error(request: HttpRequest) -> JWTAuthError | None:
    """Return why ``request`` is not token-authenticated to an active user, or ``None``."""
    authenticate_once(request)
    error: JWTAuthError | None = getattr(request, "jwtauth_error", None)
    if error is not None:
        return error
    if getattr(request, "auth", None) is None:
        return NotAuthenticated()
    if not request.user.is_authenticated:
        return TokenRevoked(_("The user of this token is no longer active."))
    return None


def allowed_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """Return ``methods`` with HEAD added beside GET (RFC 9110 §9.1)."""
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods


def allow_methods(*methods: str) -> Callable[[V], V]:
    """Answer 405 JSON with ``Allow`` to any method but ``methods`` (HEAD comes with GET)."""
    allowed = allowed_methods(methods)

    def decorate(view: V) -> V:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if request.method not in allowed:
                    return responses.method_not_allowed(allowed)
                return await view(request, *args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method not in allowed:
                return responses.method_not_allowed(allowed)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def jwt_required(view: V) -> V:
    """Answer 401 JSON unless the request carries a valid access token of an active user."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            error = await sync_to_async(authentication_error)(request)
            if error is not None:
                return responses.error(error)
            return await view(request, *args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        error = authentication_error(request)
        if error is not None:
            return responses.error(error)
        return view(request, *args, **kwargs)  # type: ignore[no-any-return]

    return wrapper  # type: ignore[return-value]


class JWTRequiredMixin:
    """Class-based-view mixin: answer 401 JSON unless a valid access token was presented."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Check the token before dispatching to the handler (sync or async)."""
        if getattr(self, "view_is_async", False):
            return self._adispatch(request, *args, **kwargs)
        error = authentication_error(request)
        if error is not None:
            return responses.error(error)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _adispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # The user lookup is synchronous ORM work, which must not run on the event loop.
        error = await sync_to_async(authentication_error)(request)
        if error is not None:
            return responses.error(error)
        return await super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
