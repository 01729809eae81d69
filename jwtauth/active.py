"""Decide which users a token may authenticate: one rule, one message, for every entry point.

The middleware, the decorators, the endpoints, the backend and the DRF and Ninja adapters all
ask here, so a user deactivated behind jwtauth's back (``QuerySet.update()``, no signal, no
cutoff moved) is refused the same way wherever the token is presented.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from . import revocation
from .exceptions import TokenRevoked
from .tokens import Token

INACTIVE = _("The user of this token is no longer active.")


def is_active(user: Any) -> bool:
    """Tell whether ``user`` may be authenticated: it exists and is not marked inactive."""
    if user is None:
        return False
    # Django's ModelBackend rule: a user model without ``is_active`` counts as active.
    active = getattr(user, "is_active", None)
    return bool(active) or active is None


def require(user: Any) -> Any:
    """Return ``user`` if it may be authenticated; raise :class:`TokenRevoked` otherwise."""
    if not is_active(user):
        raise TokenRevoked(INACTIVE)
    return user


def user_of(token: Token) -> Any:
    """Load the user a verified token names and return it if active, else raise ``TokenRevoked``.

    Raises :class:`~jwtauth.exceptions.TokenError` for a ``sub`` that is not a primary key.
    """
    return require(revocation.load_user(token.sub))
