"""System checks: catch a misconfigured jwtauth at start-up, naming the setting and the fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import conf
from .exceptions import KeyConfigurationError
from .keys import HMAC_MIN_BYTES, keyring

MAX_LEEWAY_SECONDS = 300
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"
ORDER_ERROR = f"{JWT_MIDDLEWARE} is listed before {AUTH_MIDDLEWARE} in MIDDLEWARE."
ORDER_HINT = (
    "Move it after AuthenticationMiddleware, or the session user overwrites the token's user."
)
UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register("jwtauth")
def check_keys(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the algorithm and keys: present, of the right type, long enough, not reused."""
    try:
        keyring.__wrapped__()  # type: ignore[attr-defined]
    except KeyConfigurationError as e:
        return [Error(e.msg, hint=e.hint or None, id=e.check_id)]
    errors: list[CheckMessage] = []
    if conf.ALGORITHM in HMAC_MIN_BYTES:
        secrets = [conf.SECRET_KEY, *conf.SECRET_KEY_FALLBACKS]
        django_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        if any(secret in django_keys for secret in secrets):
            errors.append(
                Error(
                    "JWTAUTH_SECRET_KEY (or a fallback) equals Django's SECRET_KEY.",
                    hint="Use a separate random secret, so one leak cannot forge both "
                    "sessions and tokens.",
                    id="jwtauth.E004",
                )
            )
    return errors


def _seconds(value: Any) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@register("jwtauth")
def check_claims(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check lifetimes, leeway, issuer and audience."""
    errors: list[CheckMessage] = []
    leeway = _seconds(conf.LEEWAY)
    if leeway is None or not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        errors.append(
            Error(
                f"JWTAUTH_LEEWAY={conf.LEEWAY!r} must be a number of seconds from 0 to "
                f"{MAX_LEEWAY_SECONDS}.",
                hint="A larger leeway keeps expired tokens alive; fix the clocks instead.",
                id="jwtauth.E008",
            )
        )
    access, refresh = _seconds(conf.ACCESS_TOKEN_LIFETIME), _seconds(conf.REFRESH_TOKEN_LIFETIME)
    if access is None or refresh is None or access < 1 or refresh < 1 or access > refresh:
        errors.append(
            Error(
                "JWTAUTH_ACCESS_TOKEN_LIFETIME and JWTAUTH_REFRESH_TOKEN_LIFETIME must be "
                "positive durations, the access one no longer than the refresh one.",
                hint="Use timedelta values, e.g. timedelta(minutes=15) and timedelta(days=7).",
                id="jwtauth.E009",
            )
        )
    for name in ("ISSUER", "AUDIENCE"):
        value = getattr(conf, name)
        if not isinstance(value, str) or not value:
            errors.append(
                Error(
                    f"JWTAUTH_{name} must be a non-empty string (RFC 8725 §3.8, §3.9).",
                    hint=f"Set JWTAUTH_{name} to a name for this deployment.",
                    id="jwtauth.E010",
                )
            )
    return errors


def misordered(middleware: Iterable[str]) -> bool:
    """Tell whether ``middleware`` runs an ``AuthenticationMiddleware`` after jwtauth's.

    Subclasses count as what they extend; entries that cannot be imported are left to Django.
    """
    classes = [_middleware_class(path) for path in middleware]
    jwt_class, auth_class = _middleware_class(JWT_MIDDLEWARE), _middleware_class(AUTH_MIDDLEWARE)
    jwt = [i for i, cls in enumerate(classes) if cls and issubclass(cls, jwt_class)]
    auth = [i for i, cls in enumerate(classes) if cls and issubclass(cls, auth_class)]
    return bool(jwt and auth) and min(jwt) < max(auth)


def _middleware_class(path: str) -> Any:
    # Imported when asked, not with this module: the middleware imports the revocation
    # machinery, which imports this module.
    try:
        cls = import_string(path)
    except ImportError:
        return None
    return cls if isinstance(cls, type) else None


@register("jwtauth")
def check_middleware(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that the JWT middleware runs after Django's ``AuthenticationMiddleware``."""
    # The middleware itself refuses to be built in this order (ImproperlyConfigured), since
    # servers do not run checks; the check names the problem before any server starts.
    if misordered(settings.MIDDLEWARE):
        return [Error(ORDER_ERROR, hint=ORDER_HINT, id="jwtauth.E011")]
    return []


@register("jwtauth")
def check_cache(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when revocations cannot be shared between processes through the cache."""
    caches = settings.CACHES
    if conf.CACHE not in caches:
        return [
            Error(
                f"JWTAUTH_CACHE={conf.CACHE!r} is not a key of CACHES.",
                hint="Name a configured cache alias.",
                id="jwtauth.E012",
            )
        ]
    if not settings.DEBUG and caches[conf.CACHE].get("BACKEND") in UNSHARED_CACHES:
        return [
            Warning(
                f"The cache {conf.CACHE!r} is per-process, so jwtauth reads every revocation "
                "check from the database.",
                hint="Use a shared cache such as django-redis (REDIS_URL in the demo site).",
                id="jwtauth.W001",
            )
        ]
    return []


@register("jwtauth")
def check_cookies(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when token cookies would travel without ``Secure`` outside development."""
    if conf.COOKIES and not conf.COOKIE_SECURE and not settings.DEBUG:
        return [
            Warning(
                "JWTAUTH_COOKIE_SECURE is off while DEBUG is off: token cookies can travel "
                "over plain HTTP.",
                hint="Serve over HTTPS and set JWTAUTH_COOKIE_SECURE = True "
                "(DJANGO_HTTPS=True in the demo site).",
                id="jwtauth.W002",
            )
        ]
    return []
