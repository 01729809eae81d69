"""System checks: catch a misconfigured jwtauth at start-up, naming the setting and the fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .cachestate import UNSHARED_CACHES
from .conf import conf, type_errors
from .dpop import policy as dpop_policy
from .exceptions import KeyConfigurationError
from .keys import HMAC_MIN_BYTES, build_keyring

MAX_LEEWAY_SECONDS = 300
# Okta's grace period goes up to 60 s, Hydra's to 5 minutes; a retry needs far less.
MAX_REUSE_INTERVAL = 300
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"
ORDER_ERROR = f"{JWT_MIDDLEWARE} is listed before {AUTH_MIDDLEWARE} in MIDDLEWARE."
ORDER_HINT = (
    "Move it after AuthenticationMiddleware, or the session user overwrites the token's user."
)


@register("jwtauth")
def check_keys(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the algorithm and keys: present, of the right type, long enough, not reused."""
    try:
        build_keyring()  # not the kept one: the settings may have changed since it was built
    except KeyConfigurationError as e:
        return [Error(e.msg, hint=e.hint or None, id=e.check_id)]
    if conf.ALGORITHM not in HMAC_MIN_BYTES:
        return []
    try:
        django_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    except ImproperlyConfigured:
        # Django refuses to hand out an empty SECRET_KEY; without it there is nothing to
        # compare, and sessions and CSRF would fail at the first request anyway.
        return [
            Error(
                "Django's SECRET_KEY is empty, so JWTAUTH_SECRET_KEY cannot be checked against it.",
                hint="Set SECRET_KEY to a random secret of its own, different from "
                'JWTAUTH_SECRET_KEY: python -c "import secrets; print(secrets.token_urlsafe(50))"',
                id="jwtauth.E013",
            )
        ]
    secrets = [conf.SECRET_KEY, *conf.SECRET_KEY_FALLBACKS]
    if any(secret in django_keys for secret in secrets):
        return [
            Error(
                "JWTAUTH_SECRET_KEY (or a fallback) equals Django's SECRET_KEY.",
                hint="Use a separate random secret, so one leak cannot forge both "
                "sessions and tokens.",
                id="jwtauth.E004",
            )
        ]
    return []


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
    errors.extend(_lifetime_errors())
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


def _lifetime_errors() -> list[CheckMessage]:
    access, refresh = conf.ACCESS_TOKEN_LIFETIME, conf.REFRESH_TOKEN_LIFETIME
    access_seconds, refresh_seconds = _seconds(access), _seconds(refresh)
    if (
        access_seconds is None
        or refresh_seconds is None
        or min(access_seconds, refresh_seconds) < 1
    ):
        return [
            Error(
                f"JWTAUTH_{name}_TOKEN_LIFETIME={value!r} is not a positive duration.",
                hint=f"Use a timedelta of a second or more, e.g. {example}.",
                id="jwtauth.E009",
            )
            for name, value, seconds, example in (
                ("ACCESS", access, access_seconds, "timedelta(minutes=15)"),
                ("REFRESH", refresh, refresh_seconds, "timedelta(days=7)"),
            )
            if seconds is None or seconds < 1
        ]
    if access_seconds > refresh_seconds:
        return [
            Error(
                f"JWTAUTH_ACCESS_TOKEN_LIFETIME ({access!r}) is longer than "
                f"JWTAUTH_REFRESH_TOKEN_LIFETIME ({refresh!r}): an access token would outlive "
                "its session.",
                hint="Shorten the access lifetime or lengthen the refresh one, e.g. "
                "timedelta(minutes=15) and timedelta(days=7).",
                id="jwtauth.E009",
            )
        ]
    return []


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
    backend = str(caches[conf.CACHE].get("BACKEND", ""))
    if backend in UNSHARED_CACHES:
        if settings.DEBUG:
            return []
        return [
            Warning(
                f"The cache {conf.CACHE!r} is per-process, so jwtauth reads every revocation "
                "check from the database.",
                hint="Use a cache shared by every process, such as django-redis.",
                id="jwtauth.W001",
            )
        ]
    if not backend.startswith("django_redis."):
        return [
            Warning(
                f"The cache {conf.CACHE!r} is not a django-redis cache, so jwtauth cannot keep "
                "revocations consistent in it and reads every revocation check from the "
                "database.",
                hint="Point JWTAUTH_CACHE at a django_redis.cache.RedisCache "
                "(docs/design/revocation-consistency.md says why).",
                id="jwtauth.W003",
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
                hint="Serve over HTTPS and set JWTAUTH_COOKIE_SECURE = True.",
                id="jwtauth.W002",
            )
        ]
    return []


def _dpop_algorithm_errors(value: Any) -> list[CheckMessage]:
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(a, str) and a in dpop_policy.ALGORITHMS for a in value)
    ):
        return []
    return [
        Error(
            f"JWTAUTH_DPOP_ALGORITHMS={value!r} must be a non-empty list of "
            f"{', '.join(dpop_policy.ALGORITHMS)}.",
            hint="DPoP proofs are signed with the client's private key (RFC 9449 §4.3): 'none' "
            "and the HMAC algorithms are never accepted. The default is "
            f"{list(dpop_policy.DEFAULT_ALGORITHMS)!r}.",
            id="jwtauth.E014",
        )
    ]


def _within(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


@register("jwtauth")
def check_dpop(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the DPoP settings: the algorithm allowlist, the iat skew, the nonces, the switches."""
    errors = _dpop_algorithm_errors(conf.DPOP_ALGORITHMS)
    if not _within(conf.DPOP_IAT_SKEW, 1, dpop_policy.MAX_IAT_SKEW):
        errors.append(
            Error(
                f"JWTAUTH_DPOP_IAT_SKEW={conf.DPOP_IAT_SKEW!r} must be a number of seconds from 1 "
                f"to {dpop_policy.MAX_IAT_SKEW}.",
                hint="It bounds how long a proof stays usable (RFC 9449 §11.1); fix the clocks "
                "rather than widening it.",
                id="jwtauth.E015",
            )
        )
    low, high = dpop_policy.NONCE_LIFETIME_RANGE
    if not _within(conf.DPOP_NONCE_LIFETIME, low, high):
        errors.append(
            Error(
                f"JWTAUTH_DPOP_NONCE_LIFETIME={conf.DPOP_NONCE_LIFETIME!r} must be a number of "
                f"seconds from {low} to {high}.",
                hint="A server nonce is accepted for one to two lifetimes; 300 is the default.",
                id="jwtauth.E016",
            )
        )
    for name in ("DPOP_ENABLED", "DPOP_NONCE", "DPOP_REQUIRED"):
        if not isinstance(getattr(conf, name), bool):
            errors.append(
                Error(
                    f"JWTAUTH_{name} must be True or False.",
                    hint=f"Set JWTAUTH_{name} = True or False.",
                    id="jwtauth.E017",
                )
            )
    return errors + _dpop_switch_messages()


def _dpop_switch_messages() -> list[CheckMessage]:
    if conf.DPOP_REQUIRED is not True:
        return []
    if conf.DPOP_ENABLED is not True:
        return [
            Error(
                "JWTAUTH_DPOP_REQUIRED is on while JWTAUTH_DPOP_ENABLED is off: no token could "
                "be bound, so none would be accepted.",
                hint="Turn JWTAUTH_DPOP_ENABLED on, or JWTAUTH_DPOP_REQUIRED off.",
                id="jwtauth.E021",
            )
        ]
    if conf.COOKIES:
        return [
            Warning(
                "JWTAUTH_DPOP_REQUIRED is on while JWTAUTH_COOKIES is on: cookie logins are "
                "refused, since tokens in cookies are never DPoP-bound.",
                hint="Turn JWTAUTH_COOKIES off, or let browsers use bearer cookies "
                "(JWTAUTH_DPOP_REQUIRED = False); docs/dpop.md explains the choice.",
                id="jwtauth.W005",
            )
        ]
    return []


def _positive_or_none(value: Any) -> bool:
    seconds = None if value is None else _seconds(value)
    return value is None or (seconds is not None and seconds >= 1)


@register("jwtauth")
def check_sessions(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the refresh reuse interval and the session policy."""
    messages: list[CheckMessage] = []
    interval = conf.REFRESH_REUSE_INTERVAL
    if not isinstance(interval, int) or isinstance(interval, bool):
        interval = -1
    if not 0 <= interval <= MAX_REUSE_INTERVAL:
        messages.append(
            Error(
                f"JWTAUTH_REFRESH_REUSE_INTERVAL={conf.REFRESH_REUSE_INTERVAL!r} must be a whole "
                f"number of seconds from 0 to {MAX_REUSE_INTERVAL}.",
                hint="It only needs to cover a client's retry; every second of it also lets a "
                "stolen previous refresh token in. 0 treats every reuse as theft.",
                id="jwtauth.E018",
            )
        )
    cap = conf.MAX_SESSIONS_PER_USER
    if cap is not None and (type(cap) is not int or cap < 1):
        messages.append(
            Error(
                f"JWTAUTH_MAX_SESSIONS_PER_USER={cap!r} must be a positive integer or None.",
                hint="None lifts the cap; a login past it revokes the least recently used session.",
                id="jwtauth.E019",
            )
        )
    for name in ("SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_LIFETIME"):
        if not _positive_or_none(getattr(conf, name)):
            messages.append(
                Error(
                    f"JWTAUTH_{name} must be a positive duration or None.",
                    hint="Use a timedelta, e.g. timedelta(days=7); None turns the limit off.",
                    id="jwtauth.E020",
                )
            )
    if hasattr(settings, "JWTAUTH_REFRESH_REUSE_GRACE"):
        messages.append(
            Warning(
                "JWTAUTH_REFRESH_REUSE_GRACE is no longer read.",
                hint="JWTAUTH_REFRESH_REUSE_INTERVAL replaces it: within it a retry with the "
                "previous refresh token succeeds. Remove the old setting.",
                id="jwtauth.W004",
            )
        )
    return messages


# Settings whose own checks above already say what is wrong with them, type included.
CHECKED_ELSEWHERE = frozenset(
    {
        "ALGORITHM",
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "PRIVATE_KEY",
        "PUBLIC_KEY",
        "PUBLIC_KEY_FALLBACKS",
        "LEEWAY",
        "ACCESS_TOKEN_LIFETIME",
        "REFRESH_TOKEN_LIFETIME",
        "ISSUER",
        "AUDIENCE",
        "REFRESH_REUSE_INTERVAL",
        "MAX_SESSIONS_PER_USER",
        "SESSION_IDLE_TIMEOUT",
        "SESSION_ABSOLUTE_LIFETIME",
        "DPOP_ALGORITHMS",
        "DPOP_IAT_SKEW",
        "DPOP_NONCE",
        "DPOP_NONCE_LIFETIME",
        "DPOP_REQUIRED",
    }
)


@register("jwtauth")
def check_setting_types(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Check that every other ``JWTAUTH_*`` setting has the type jwtauth reads it as."""
    return [
        Error(
            f"JWTAUTH_{name}={getattr(conf, name)!r} must be {expected}.",
            hint=f"See JWTAUTH_{name} in jwtauth's settings reference (docs/settings.md).",
            id="jwtauth.E022",
        )
        for name, expected in type_errors().items()
        if name not in CHECKED_ELSEWHERE
    ]
