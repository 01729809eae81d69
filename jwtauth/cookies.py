"""Set and clear the token cookies of cookie mode (``JWTAUTH_COOKIES``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.translation import gettext as _

from . import bodies
from .conf import conf
from .exceptions import Forbidden
from .tokens import TokenPair


def refresh_path() -> str:
    """Return the refresh cookie's ``Path``: the refresh endpoint only, unless configured."""
    return str(conf.REFRESH_COOKIE_PATH or reverse("jwtauth:refresh"))


@dataclass(frozen=True, slots=True)
class _Attributes:
    path: str
    domain: str | None
    secure: bool


def _attributes(name: str, path: str) -> _Attributes:
    # RFC 6265bis §4.1.3: "__Host-" cookies must be Secure, have Path=/ and no Domain;
    # "__Secure-" cookies must be Secure.
    host = name.startswith("__Host-")
    return _Attributes(
        path="/" if host else path,
        domain=None if host else conf.COOKIE_DOMAIN,
        secure=conf.COOKIE_SECURE or host or name.startswith("__Secure-"),
    )


def _set(response: HttpResponseBase, name: str, value: str, max_age: int, path: str) -> None:
    attrs = _attributes(name, path)
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=attrs.path,
        domain=attrs.domain,
        secure=attrs.secure,
        httponly=True,
        samesite=conf.COOKIE_SAMESITE,
    )


def set_tokens(response: HttpResponseBase, pair: TokenPair) -> None:
    """Put the pair into HttpOnly cookies that live as long as their tokens."""
    _set(response, conf.ACCESS_COOKIE, pair.access, conf.access_lifetime, "/")
    _set(response, conf.REFRESH_COOKIE, pair.refresh, conf.refresh_lifetime, refresh_path())


def clear_tokens(response: HttpResponseBase) -> None:
    """Expire both token cookies, with the attributes they were set with."""
    for name, path in ((conf.ACCESS_COOKIE, "/"), (conf.REFRESH_COOKIE, refresh_path())):
        _delete(response, name, path)


def clear_access(response: HttpResponseBase) -> None:
    """Expire the access cookie, unless the response already sets or clears it itself."""
    # A refresh answers a new access cookie: a dead one presented beside it must not win.
    if conf.ACCESS_COOKIE not in response.cookies:
        _delete(response, conf.ACCESS_COOKIE, "/")


def _delete(response: HttpResponseBase, name: str, path: str) -> None:
    attrs = _attributes(name, path)
    response.delete_cookie(
        name, path=attrs.path, domain=attrs.domain, samesite=conf.COOKIE_SAMESITE
    )


def presented(request: HttpRequest) -> bool:
    """Tell whether the request carries either token cookie."""
    return bool(request.COOKIES.get(conf.ACCESS_COOKIE) or request.COOKIES.get(conf.REFRESH_COOKIE))


def check_csrf(request: HttpRequest) -> None:
    """Run Django's CSRF check on ``request``; raise :class:`~jwtauth.exceptions.Forbidden` if not.

    The same check ``CsrfViewMiddleware`` runs on a view that is not exempt, for the views
    that are (token views, which need it for cookie credentials only).
    """
    check = CsrfViewMiddleware(_unused)
    check.process_request(request)
    if check.process_view(request, None, (), {}) is not None:  # type: ignore[arg-type]
        raise Forbidden(_("CSRF verification failed."))


def enforce_csrf(request: HttpRequest) -> None:
    """Run Django's CSRF check on a request to an auth endpoint, which reads its body itself.

    The body is read (and bounded) first: the check may parse a form from it, which would
    otherwise consume the stream the endpoint still has to read.
    """
    bodies.body(request)
    check_csrf(request)


def _unused(request: HttpRequest) -> HttpResponse:
    return HttpResponse()
