"""Authenticate a request once, the same way in every set-up, and keep the outcome on it.

:func:`authenticate` finds the request's credential (the ``Authorization: Bearer`` or
``Authorization: DPoP`` header or, in cookie mode, the access cookie), verifies it (with the
``DPoP`` proof for the DPoP scheme, RFC 9449 §7.1) and stores a :class:`RequestAuth` on the
request as ``request.jwtauth``. The middleware calls it first when it is installed; the
decorators, the endpoints and the DRF and Ninja adapters call it too, and trust what is already
there rather than verifying again (the way DRF's ``SessionAuthentication`` trusts
``AuthenticationMiddleware``). Without the middleware the first of them to ask does the work,
with the same rules, so a request is answered alike whatever the set-up.

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

from . import active, cookies, credentials, dpop
from .backends import user_for, verify_access
from .cachestate import Claim
from .conf import cached_until_settings_change, conf
from .credentials import Credential, MalformedCredential
from .dberrors import database_error
from .dpop import DPoPError, Proof, replay
from .exceptions import JWTAuthError, NotAuthenticated, TokenError, TokenRevoked
from .tokens import Token

ATTR = "jwtauth"
PROOF_HEADER = "HTTP_DPOP"
# RFC 9110 §9.2.1: the safe methods; a cookie credential needs Django's CSRF check on the rest.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_UNLOADED = object()


class RequestAuth:
    """What jwtauth found on one request: its credential, and the verified token or the error.

    ``credential`` is ``None`` when the request presented none (or a view in a session-only
    namespace ignored it); then ``token`` and ``error`` are ``None`` too, unless the
    ``Authorization`` header itself was malformed (``error`` set). Otherwise exactly one of
    ``token`` and ``error`` is set. ``proof`` is the request's verified DPoP proof, once one
    has been verified (see :func:`proof`), even if the token was then refused.
    """

    __slots__ = ("_user", "credential", "error", "proof", "scheme", "token")

    def __init__(
        self,
        credential: Credential | None = None,
        token: Token | None = None,
        error: JWTAuthError | None = None,
        user: Any = None,
        scheme: str | None = None,
    ) -> None:
        self.credential = credential
        self.token = token
        self.error = error
        self.proof: Proof | None = None
        # The scheme the Authorization header named, even when it was malformed: refusals are
        # answered with that scheme's challenge (RFC 9449 §7.1).
        self.scheme = credential.scheme if credential is not None else scheme
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


@cached_until_settings_change
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


def proof(request: HttpRequest) -> Proof | None:
    """Return the request's verified DPoP proof, verifying it at most once; ``None`` if absent.

    For the token endpoints and for a refresh token at logout, where no access token is bound
    to the proof (its ``ath``, if any, is ignored). A proof the request's credential already
    needed was verified then, with its ``ath``: that verification is the one used, since a
    second would find the proof's ``jti`` taken (RFC 9449 §11.1). Raises the ``DPoPError``
    that refused it.
    """
    header = request.META.get(PROOF_HEADER)
    if header is None:
        return None
    state = authenticate(request)
    if state.proof is None:
        if state.scheme == credentials.DPOP and isinstance(state.error, DPoPError):
            raise state.error  # this very proof, refused while authenticating the request
        method, url = _request_target(request)
        state.proof = dpop.verify_proof(header, method=method, url=url)
    return state.proof


def _authenticate(request: HttpRequest) -> RequestAuth:
    try:
        credential = credentials.find(request)
    except MalformedCredential as e:
        return RequestAuth() if session_only(request) else RequestAuth(error=e, scheme=e.scheme)
    # The URL is resolved only when there is a credential to keep from session-only views.
    if credential is None or session_only(request):
        return RequestAuth()
    state = RequestAuth(credential)
    try:
        state.token, user = _verify(request, state)
    except JWTAuthError as e:  # the token, the proof, or the replay cache being down (503)
        state.error = e
    except DatabaseError as e:
        state.error = database_error(e, "authentication")
        state.error.__cause__ = e
    else:
        state._user = _UNLOADED if user is None else user
    return state


def _verify(request: HttpRequest, state: RequestAuth) -> tuple[Token, Any | None]:
    """Verify ``state``'s credential for ``request``; return the token and, if cached, its user.

    The one place a credential is checked. Under the DPoP scheme the proof is checked here,
    where the request's method and URL are at hand, and kept on ``state`` (it was recorded
    against replay: it cannot be verified again). The key binding is checked last, under
    either scheme: a bound token is never accepted as a bearer token (RFC 9449 §7.1).
    """
    credential = cast(Credential, state.credential)
    if credential.scheme != credentials.DPOP:
        token, user = verify_access(credential.raw)
        dpop.check_binding(token.claims, None)  # a bound token is never a bearer token
        return token, user
    checked: list[tuple[Proof, Claim]] = []

    def check_and_claim(token: Token) -> Claim:
        # After the token's signature, before its revocation lookup: the proof is checked
        # here, and recorded against replay in the lookup's own round trip (RFC 9449 §11.1).
        method, url = _request_target(request)
        header = request.META.get(PROOF_HEADER)
        proof = dpop.check_proof(header, method=method, url=url, access_token=credential.raw)
        checked.append((proof, replay.claim(proof)))
        return checked[0][1]

    token, user = verify_access(credential.raw, check_and_claim)
    proof, record = checked[0]
    replay.settle(record, proof)
    state.proof = proof  # verified and spent: the request's proof, even if the binding fails
    dpop.check_binding(token.claims, proof)
    return token, user


def _request_target(request: HttpRequest) -> tuple[str, str]:
    # RFC 9449 §4.3: htu is the URL the client used, without query and fragment; behind a
    # proxy Django rebuilds it from USE_X_FORWARDED_HOST and SECURE_PROXY_SSL_HEADER.
    return str(request.method), request.build_absolute_uri()


def _bind(request: HttpRequest, state: RequestAuth) -> None:
    request.auth = state.token  # type: ignore[attr-defined]
    if state.token is not None:
        # A refused or absent token leaves Django's session user alone; only a verified one
        # replaces it, and its user is read from the database only when a view reads it.
        request.user = SimpleLazyObject(state.user_or_anonymous)  # type: ignore[assignment]
        request.auser = state.auser
