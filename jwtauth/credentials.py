"""Find the access token a request presents: the ``Authorization`` header or the access cookie.

Tokens are never read from the query string (RFC 6750 §2.3 discourages it; URLs end up in logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import HttpRequest

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
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = rest.strip()
    # Exactly one credential: a second token, a comma-joined duplicate header or stray spaces
    # are refused rather than guessed at.
    if not _TOKEN.fullmatch(token):
        raise TokenError("The Authorization header must hold exactly one Bearer token.")
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
