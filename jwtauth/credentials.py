"""Find the access token a request presents: the ``Authorization`` header or the access cookie.

Tokens are never read from the query string (RFC 6750 §2.3 discourages it; URLs end up in logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .conf import conf
from .exceptions import TokenError

HEADER = "header"
COOKIE = "cookie"
# RFC 6750 §2.1 b64token, restricted to the JWS compact alphabet plus '.'.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Credential:
    """A raw token and where it came from (``header`` or ``cookie``)."""

    raw: str
    source: str


def from_header(value: str) -> str | None:
    """Return the token of a ``Bearer`` header value, ``None`` for another scheme."""
    # Servers join repeated headers with commas (RFC 9110 §5.3). A request that carries a
    # Bearer credential next to another one is ambiguous and is refused, not guessed at.
    parts = value.split(",")
    schemes = [part.strip().partition(" ")[0].lower() for part in parts]
    if "bearer" not in schemes:
        return None
    if len(parts) > 1:
        raise TokenError(_("Send exactly one Authorization header with one Bearer token."))
    token = value.strip().partition(" ")[2].strip()
    # Exactly one credential (RFC 6750 §2.1): a second token or an empty one is refused.
    if not _TOKEN.fullmatch(token):
        raise TokenError(_("The Authorization header must hold exactly one Bearer token."))
    return token


def find(request: HttpRequest) -> Credential | None:
    """Return the request's access-token credential, or ``None`` when it presents none."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        token = from_header(header)
        if token is not None:
            return Credential(token, HEADER)
    if conf.COOKIES:
        cookie = request.COOKIES.get(conf.ACCESS_COOKIE)
        if cookie:
            return Credential(cookie, COOKIE)
    return None
