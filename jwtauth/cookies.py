"""Set and clear the token cookies of cookie mode (``JWTAUTH_COOKIES``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse

from .conf import conf
from .tokens import TokenPair


def refresh_path() -> str:
    """Return the refresh cookie's ``Path``: the refresh endpoint only, unless configured."""
    return str(conf.REFRESH_COOKIE_PATH or reverse("jwtauth:refresh"))


def _attributes(name: str, path: str) -> dict[str, object]:
    # RFC 6265bis §4.1.3: "__Host-" cookies must be Secure, have Path=/ and no Domain;
    # "__Secure-" cookies must be Secure.
    host = name.startswith("__Host-")
    secure = bool(conf.COOKIE_SECURE) or host or name.startswith("__Secure-")
    return {
        "path": "/" if host else path,
        "domain": None if host else conf.COOKIE_DOMAIN,
        "secure": secure,
        "samesite": conf.COOKIE_SAMESITE,
    }


def set_tokens(response: HttpResponse, pair: TokenPair) -> None:
    """Put the pair into HttpOnly cookies that live as long as their tokens."""
    response.set_cookie(
        conf.ACCESS_COOKIE,
        pair.access,
        max_age=conf.access_lifetime,
        httponly=True,
        **_attributes(conf.ACCESS_COOKIE, "/"),  # type: ignore[arg-type]
    )
    response.set_cookie(
        conf.REFRESH_COOKIE,
        pair.refresh,
        max_age=conf.refresh_lifetime,
        httponly=True,
        **_attributes(conf.REFRESH_COOKIE, refresh_path()),  # type: ignore[arg-type]
    )


def clear_tokens(response: HttpResponse) -> None:
    """Expire both token cookies, with the attributes they were set with."""
    for name, path in ((conf.ACCESS_COOKIE, "/"), (conf.REFRESH_COOKIE, refresh_path())):
        attrs = _attributes(name, path)
        response.delete_cookie(
            name,
            path=str(attrs["path"]),
            domain=attrs["domain"],
            samesite=conf.COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
