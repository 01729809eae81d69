"""Require a valid access token on plain Django views: 401 JSON, never a login redirect.

Views so marked are token views: they are exempt from ``CsrfViewMiddleware`` and apply
jwtauth's rule instead, as DRF's views do. A token from the access cookie must pass Django's
CSRF check on an unsafe method; a Bearer header needs none (a cross-site page cannot set one).
Every other view keeps Django's CSRF check whatever credential the request carries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from . import requestauth, responses
from .exceptions import JWTAuthError

V = TypeVar("V", bound=Callable[..., Any])


def refusal(request: HttpRequest) -> HttpResponseBase | None:
    """Return the 401 (or 403, 503) that refuses ``request`` a token view, or ``None``.

    ``None`` means the request carries a valid access token of an active user and, for a
    cookie credential on an unsafe method, passed the CSRF check.
    """
    try:
        requestauth.require(request)
    except JWTAuthError as e:
        return responses.refused(request, e)
    return None


def allowed_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """Return ``methods`` with HEAD added beside GET (RFC 9110 §9.1)."""
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods


# RFC 9110 §9.2.1: the methods Django's CSRF middleware lets through unchecked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def allow_methods(*methods: str) -> Callable[[V], V]:
    """Answer 405 JSON with ``Allow`` to any method but ``methods`` (HEAD comes with GET).

    A view allowing safe methods only is exempt from ``CsrfViewMiddleware``: no unsafe request
    ever reaches it, and a POST (or any unknown method) is told 405, not a CSRF 403.
    """
    allowed = allowed_methods(methods)
    exempt = SAFE_METHODS.issuperset(allowed)

    def decorate(view: V) -> V:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if request.method not in allowed:
                    return responses.method_not_allowed(allowed)
                return await view(request, *args, **kwargs)

            return csrf_exempt(async_wrapper) if exempt else async_wrapper  # type: ignore[return-value]

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method not in allowed:
                return responses.method_not_allowed(allowed)
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapper) if exempt else wrapper  # type: ignore[return-value]

    return decorate


def jwt_required(view: V) -> V:
    """Answer 401 JSON unless the request carries a valid access token of an active user."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            # The user load and the CSRF check are synchronous work, kept off the event loop.
            refused = await sync_to_async(refusal)(request)
            if refused is not None:
                return refused
            return await view(request, *args, **kwargs)

        return csrf_exempt(async_wrapper)  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = refusal(request)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)  # type: ignore[no-any-return]

    return csrf_exempt(wrapper)  # type: ignore[return-value]


class JWTRequiredMixin:
    """Class-based-view mixin: answer 401 JSON unless a valid access token was presented."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Return the view, exempt from ``CsrfViewMiddleware``: :meth:`dispatch` checks instead."""
        return csrf_exempt(super().as_view(**initkwargs))  # type: ignore[misc]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Check the token before dispatching to the handler (sync or async)."""
        if getattr(self, "view_is_async", False):
            return self._adispatch(request, *args, **kwargs)
        refused = refusal(request)
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _adispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        refused = await sync_to_async(refusal)(request)
        if refused is not None:
            return refused
        return await super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
