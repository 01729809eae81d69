"""Authenticate a request once, the same way in every set-up, and keep the outcome on it.

:func:`authenticate` finds the request's credential (the ``Authorization: Bearer`` header or,
in cookie mode, the access cookie), verifies it and stores a :class:`RequestAuth` on the request
as ``request.jwtauth``. The middleware calls it first when it is installed; the decorators, the
endpoints and the DRF and Ninja adapters call it too, and trust what is already there rather
than verifying again (the way DRF's ``SessionAuthentication`` trusts ``AuthenticationMiddleware``).
Without the middleware the first of them to ask does the work, with the same rules, so a request
is answered alike whatever the set-up.

It also sets the public attributes Django code reads: ``request.auth`` (the verified
:class:`~jwtauth.tokens.Token` or ``None``) and, for a verified token, ``request.user`` (loaded
when first read) and ``await request.auser()``.

Views in a namespace listed in ``JWTAUTH_SESSION_ONLY_NAMESPACES`` (the admin, by default) never
see a token: the credential is not even read there, so Django's session user and CSRF check
stay in charge.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.http import HttpRequest
from django.urls import Resolver404, ResolverMatch, URLResolver, get_resolver
from django.utils.functional import SimpleLazyObject

from . import active, cookies, credentials
from .backends import user_for, verify_access
from .conf import conf, derived
from .credentials import Credential
from .dberrors import database_error
from .exceptions import JWTAuthError, NotAuthenticated, TokenError, TokenRevoked
from .tokens import Token

ATTR = "jwtauth"
# RFC 9110 §9.2.1: the safe methods; a cookie credential needs Django's CSRF check on the rest.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_UNLOADED = object()


class RequestAuth:
    """What jwtauth found on one request: its credential, and the verified token or the error.

    ``credential`` is ``None`` when the request presented none (or a view in a session-only
    namespace ignored it); then ``token`` and ``error`` are ``None`` too, unless the
    ``Authorization`` header itself was malformed (``error`` set). Otherwise exactly one of
    ``token`` and ``error`` is set.
    """

    __slots__ = ("_user", "credential", "error", "token")

    def __init__(
        self,
        credential: Credential | None = None,
        token: Token | None = None,
        error: JWTAuthError | None = None,
        user: Any = None,
    ) -> None:
        self.credential = credential
        self.token = token
        self.error = error
        self._user: Any = _UNLOADED if user is None else user

    @property
    def source(self) -> str | None:
        """Return where the credential came from (``"header"`` or ``"cookie"``), if any."""
        return self.credential.source if self.credential is not None else None

    @property
    def presented(self) -> bool:
        """Tell whether the request presented a credential at all, usable or not."""
        return self.credential is not None or self.error is not None

    @property
    def dead_cookie(self) -> bool:
        """Tell whether the credential was the access cookie and jwtauth refused its token.

        Refused: the token itself, or (once :meth:`user` has been asked) its inactive user.
        """
        if self.source != credentials.COOKIE:
            return False
        if self.error is not None:
            return isinstance(self.error, TokenError)
        return self._user is None

    def user(self) -> Any | None:
        """Return the token's user if it may be authenticated (loaded once), else ``None``."""
        if self._user is _UNLOADED:
            self._user = user_for(self.token) if self.token is not None else None
        return self._user

    def user_or_anonymous(self) -> Any:
        """Return :meth:`user`, or an ``AnonymousUser``: what ``request.user`` reads."""
        user = self.user()
        return AnonymousUser() if user is None else user

    async def auser(self) -> Any:
        """Return :meth:`user_or_anonymous` from async code (the user load is ORM work)."""
        return await sync_to_async(self.user_or_anonymous)()

    def refusal(self) -> JWTAuthError | None:
        """Return why the request has no verified token of an active user, or ``None``."""
        if self.error is not None:
            return self.error
        if self.token is None:
            return NotAuthenticated()
        if self.user() is None:
            return TokenRevoked(active.INACTIVE)
        return None

    def require(self) -> Token:
        """Return the verified token of an active user, or raise :meth:`refusal`."""
        error = self.refusal()
        if error is not None:
            raise error
        return cast(Token, self.token)


def authenticate(request: HttpRequest) -> RequestAuth:
    """Return the request's :class:`RequestAuth`, working it out on the first call only."""
    state: RequestAuth | None = getattr(request, ATTR, None)
    if state is None:
        state = _authenticate(request)
        setattr(request, ATTR, state)
        _bind(request, state)
    return state


def require(request: HttpRequest, *, csrf: bool = True) -> Token:
    """Return the request's verified token of an active user; raise a ``JWTAuthError`` if none.

    With ``csrf``, a token that came in the access cookie must also pass Django's CSRF check on
    an unsafe method (see :func:`check_csrf`).
    """
    state = authenticate(request)
    token = state.require()
    if csrf:
        check_csrf(request, state)
    return token


def check_csrf(request: HttpRequest, state: RequestAuth) -> None:
    """Run Django's CSRF check when the credential is the access cookie and the method unsafe.

    A browser attaches cookies to cross-site requests by itself, so a cookie proves nothing
    about the page that sent the request; the CSRF token does. A Bearer header needs no check:
    a cross-site page cannot set one (a CORS preflight stands in the way).
    """
    if state.source == credentials.COOKIE and request.method not in SAFE_METHODS:
        cookies.check_csrf(request)


def session_only(request: HttpRequest) -> bool:
    """Tell whether the request's view is in a ``JWTAUTH_SESSION_ONLY_NAMESPACES`` namespace."""
    names = _session_only_names()
    if not names:
        return False
    if request.resolver_match is not None:  # inside the view: resolved already
        return _in_namespaces(request.resolver_match, names)
    # Before the handler resolves the URL (the middleware runs first), resolve it as the
    # handler will: with the urlconf an earlier middleware may have set on the request.
    resolver = get_resolver(getattr(request, "urlconf", None))
    return _session_only_path(resolver, request.path_info, names)


@derived
def _session_only_names() -> frozenset[str]:
    return frozenset(conf.SESSION_ONLY_NAMESPACES or ())


# Resolving costs more than the rest of the middleware's own work; the answer depends only on
# the resolver (a new one when the URLconf changes) and the path, so it is kept, boundedly.
@functools.lru_cache(maxsize=512)
def _session_only_path(resolver: URLResolver, path: str, names: frozenset[str]) -> bool:
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return False
    return _in_namespaces(match, names)


def _in_namespaces(match: ResolverMatch, names: frozenset[str]) -> bool:
    return not (names.isdisjoint(match.app_names) and names.isdisjoint(match.namespaces))


def _authenticate(request: HttpRequest) -> RequestAuth:
    try:
        credential = credentials.find(request)
    except TokenError as e:
        return RequestAuth() if session_only(request) else RequestAuth(error=e)
    # The URL is resolved only when there is a credential to keep from session-only views.
    if credential is None or session_only(request):
        return RequestAuth()
    try:
        token, user = _verify(request, credential)
    except TokenError as e:
        return RequestAuth(credential, error=e)
    except DatabaseError as e:
        error = database_error(e, "authentication")
        error.__cause__ = e
        return RequestAuth(credential, error=error)
    return RequestAuth(credential, token, user=user)


def _verify(request: HttpRequest, credential: Credential) -> tuple[Token, Any | None]:
    """Verify ``credential`` for ``request``; return the token and, if cached, its user.

    The one place a credential is checked. A proof-of-possession scheme (DPoP, RFC 9449) would
    check its proof here, where the request's method and URL are at hand.
    """
    return verify_access(credential.raw)


def _bind(request: HttpRequest, state: RequestAuth) -> None:
    request.auth = state.token  # type: ignore[attr-defined]
    if state.token is not None:
        # A refused or absent token leaves Django's session user alone; only a verified one
        # replaces it, and its user is read from the database only when a view reads it.
        request.user = SimpleLazyObject(state.user_or_anonymous)  # type: ignore[assignment]
        request.auser = state.auser
