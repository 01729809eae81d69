"""Find the access token a request presents: the ``Authorization`` header or the access cookie.

The header holds a ``Bearer`` token (RFC 6750) or a ``DPoP`` one (RFC 9449 §7.1, whose proof is
in the ``DPoP`` header and is checked by :mod:`jwtauth.requestauth`).

Tokens are never read from the query string (RFC 6750 §2.3 discourages it; URLs end up in logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .conf import conf
from .exceptions import TokenError

HEADER = "header"
COOKIE = "cookie"
# The token schemes (RFC 6750 §2.1, RFC 9449 §7.1); scheme names are case-insensitive
# (RFC 9110 §11.1).
BEARER = "Bearer"
DPOP = "DPoP"
_SCHEMES = {"bearer": BEARER, "dpop": DPOP}
# RFC 6750 §2.1 b64token, restricted to the JWS compact alphabet plus '.'.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
# Whole sentences per scheme, so that each can be translated as one.
_ONE_HEADER = {
    BEARER: _("Send exactly one Authorization header with one Bearer token."),
    DPOP: _("Send exactly one Authorization header with one DPoP token."),
}
_ONE_TOKEN = {
    BEARER: _("The Authorization header must hold exactly one Bearer token."),
    DPOP: _("The Authorization header must hold exactly one DPoP token."),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """A raw token, where it came from (``header`` or ``cookie``) and its scheme.

    ``scheme`` is ``Bearer`` or ``DPoP`` (RFC 9449 §7.1: the token must come with a proof); the
    access cookie is always ``Bearer``.
    """

    raw: str
    source: str
    scheme: str = BEARER


class MalformedCredential(TokenError):
    """The ``Authorization`` header names a token scheme but does not hold exactly one token."""

    def __init__(self, scheme: str, detail: str | Promise) -> None:
        self.scheme = scheme
        super().__init__(detail)


def parse_header(value: str) -> tuple[str, str] | None:
    """Return the scheme and token of a ``Bearer`` or ``DPoP`` header value, else ``None``.

    Raises :class:`MalformedCredential` for a value that names one of them but does not hold
    exactly one token.
    """
    # Servers join repeated headers with commas (RFC 9110 §5.3). A request that carries a
    # token next to another credential is ambiguous and is refused, not guessed at.
    parts = value.split(",")
    named = [
        _SCHEMES[name]
        for name in (part.strip().partition(" ")[0].lower() for part in parts)
        if name in _SCHEMES
    ]
    if not named:
        return None
    scheme = named[0]
    if len(parts) > 1:
        raise MalformedCredential(scheme, _ONE_HEADER[scheme])
    token = value.strip().partition(" ")[2].strip()
    # Exactly one credential (RFC 6750 §2.1): a second token or an empty one is refused.
    if not _TOKEN.fullmatch(token):
        raise MalformedCredential(scheme, _ONE_TOKEN[scheme])
    return scheme, token


def find(request: HttpRequest) -> Credential | None:
    """Return the request's access-token credential, or ``None`` when it presents none."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        parsed = parse_header(header)
        if parsed is not None:
            return Credential(parsed[1], HEADER, parsed[0])
    if conf.COOKIES:
        cookie = request.COOKIES.get(conf.ACCESS_COOKIE)
        if cookie:
            return Credential(cookie, COOKIE)
    return None
