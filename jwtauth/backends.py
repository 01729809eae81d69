"""Authenticate users from access tokens, following Django's authentication-backend contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from . import active, dpop, revocation
from .cachestate import Claim
from .conf import conf
from .exceptions import TokenError
from .tokens import ACCESS, Token, decode


def verify_access(
    raw: str | bytes, claim: Callable[[Token], Claim] | None = None
) -> tuple[Token, Any | None]:
    """Verify an access token and check revocation; return it and, if cached, its user.

    ``claim``, given the decoded token, returns an entry to record once in the revocation
    lookup's round trip (a DPoP proof). Raises :class:`~jwtauth.exceptions.TokenError` (or a
    subclass) for any unusable token.
    """
    token = decode(raw, ACCESS)
    once = None if claim is None else claim(token)
    if not conf.USER_CACHE:
        revocation.check(token, claim=once)
        return token, None
    return token, active.require(revocation.check(token, with_user=True, claim=once))


def verify_bearer(raw: str | bytes) -> tuple[Token, Any | None]:
    """Verify an access token used with no DPoP proof, as :func:`verify_access` does.

    A DPoP-bound token is refused (RFC 9449 §7.1: no downgrade to a bearer token), and every
    token under ``JWTAUTH_DPOP_REQUIRED``.
    """
    token, user = verify_access(raw)
    dpop.check_binding(token.claims, None)
    return token, user


def user_for(token: Token) -> Any | None:
    """Return the active user a verified token names, or ``None``."""
    try:
        return active.user_of(token)
    except TokenError:
        return None


class JWTBackend(BaseBackend):
    """Authenticate ``authenticate(request, token=...)`` calls with a jwtauth access token."""

    def authenticate(
        self, request: HttpRequest | None, token: str | bytes | None = None, **kwargs: Any
    ) -> Any | None:
        """Return the user of a valid, unrevoked access token of an active user, else ``None``."""
        if token is None:
            return None
        try:
            verified, user = verify_bearer(token)
        except TokenError:
            return None
        return user if user is not None else user_for(verified)

    def get_user(self, user_id: Any) -> Any | None:
        """Return the active user with primary key ``user_id``, or ``None``."""
        try:
            user = revocation.load_user(str(user_id))
        except TokenError:
            return None
        return user if self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: Any) -> bool:
        """Reject inactive users, as Django's ``ModelBackend`` does."""
        return active.is_active(user)
