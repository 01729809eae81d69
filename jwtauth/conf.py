"""Read jwtauth's settings from ``django.conf.settings`` when they are used.

Values are read on first use and kept until Django's ``setting_changed`` signal says one
changed, so ``override_settings`` and pytest-django's ``settings`` fixture reach them (the
peers that freeze settings at import make tests reload modules), while the per-request path
pays a dictionary lookup rather than a settings lookup. Work derived from settings (parsed
keys, say) is memoised with :func:`cached_until_settings_change` and forgotten on the same
signal. Every setting has a type (the annotations of :class:`JWTAuthSettings`), checked at
start-up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Callable as CallableABC
from collections.abc import Sequence as SequenceABC
from datetime import timedelta
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "JWTAUTH_"

DEFAULTS: dict[str, Any] = {
    "ALGORITHM": "HS256",
    # bandit B105 reads these two as passwords because of the key names: an empty default
    # and a length.
    "SECRET_KEY": "",  # nosec B105
    "SECRET_KEY_FALLBACKS": [],
    "PRIVATE_KEY": "",
    "PUBLIC_KEY": "",
    "PUBLIC_KEY_FALLBACKS": [],
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ISSUER": "jwtauth",
    "AUDIENCE": "jwtauth",
    "LEEWAY": 0,
    "EXTRA_CLAIMS": None,
    "MAX_TOKEN_LENGTH": 4096,  # nosec B105
    "CACHE": "default",
    "CACHE_RETRY_AFTER": 5.0,
    # Replicas that must acknowledge a revocation's cache write (WAIT); None: 1 under
    # Sentinel, 0 for a single server.
    "CACHE_MIN_REPLICAS": None,
    "CACHE_REPLICA_TIMEOUT": 0.1,
    "NEGATIVE_CACHE_TIMEOUT": 300,
    "USER_CACHE": False,
    "USER_CACHE_TIMEOUT": 60,
    "COOKIES": False,
    "ACCESS_COOKIE": "auth_token",
    "REFRESH_COOKIE": "refresh_token",
    "COOKIE_SECURE": True,
    "COOKIE_SAMESITE": "Strict",
    "COOKIE_DOMAIN": None,
    "REFRESH_COOKIE_PATH": None,
    # URL namespaces whose views see Django's session user only, never a token.
    "SESSION_ONLY_NAMESPACES": ["admin"],
    "LOGIN_FAILURE_LIMIT": 5,
    "LOGIN_IP_FAILURE_LIMIT": 50,
    "LOGIN_FAILURE_WINDOW": 300,
    "LOGIN_IPV6_PREFIX": 64,
    # Seconds after a rotation during which the spent token is a client's retry, answered with
    # the same successor (docs/settings.md explains the choice of 30).
    "REFRESH_REUSE_INTERVAL": 30,
    "MAX_SESSIONS_PER_USER": 200,
    "SESSION_IDLE_TIMEOUT": timedelta(days=7),
    "SESSION_ABSOLUTE_LIFETIME": timedelta(days=30),
    "JWKS_MAX_AGE": 3600,
    "X_XSS_PROTECTION": "0",
    "MAX_BODY_SIZE": 16384,
    # DPoP (RFC 9449): see docs/dpop.md.
    "DPOP_ENABLED": True,
    "DPOP_ALGORITHMS": ["ES256", "Ed25519", "EdDSA"],
    "DPOP_IAT_SKEW": 60,
    "DPOP_NONCE": False,
    "DPOP_NONCE_LIFETIME": 300,
    "DPOP_REQUIRED": False,
}

F = TypeVar("F", bound=Callable[..., Any])
_derived: list[_Memo] = []


Seconds = timedelta | int | float


class JWTAuthSettings:
    """Expose every ``JWTAUTH_*`` setting as an attribute, with its default and its type.

    The annotations below are the settings' types: mypy holds call sites to them, and check
    ``jwtauth.E022`` holds the project's values to them at start-up (:func:`type_errors`), so
    code reading a setting can trust its type without coercing it.
    """

    ALGORITHM: str
    SECRET_KEY: str
    SECRET_KEY_FALLBACKS: Sequence[str]
    PRIVATE_KEY: str
    PUBLIC_KEY: str
    PUBLIC_KEY_FALLBACKS: Sequence[str]
    ACCESS_TOKEN_LIFETIME: Seconds
    REFRESH_TOKEN_LIFETIME: Seconds
    ISSUER: str
    AUDIENCE: str
    LEEWAY: int | float
    EXTRA_CLAIMS: str | Callable[[Any], Mapping[str, Any]] | None
    MAX_TOKEN_LENGTH: int
    CACHE: str
    CACHE_RETRY_AFTER: float
    CACHE_MIN_REPLICAS: int | None
    CACHE_REPLICA_TIMEOUT: float
    NEGATIVE_CACHE_TIMEOUT: int
    USER_CACHE: bool
    USER_CACHE_TIMEOUT: int
    COOKIES: bool
    ACCESS_COOKIE: str
    REFRESH_COOKIE: str
    COOKIE_SECURE: bool
    COOKIE_SAMESITE: Literal["Strict", "Lax", "None"] | None
    COOKIE_DOMAIN: str | None
    REFRESH_COOKIE_PATH: str | None
    SESSION_ONLY_NAMESPACES: Sequence[str]
    LOGIN_FAILURE_LIMIT: int
    LOGIN_IP_FAILURE_LIMIT: int
    LOGIN_FAILURE_WINDOW: int
    LOGIN_IPV6_PREFIX: int
    REFRESH_REUSE_INTERVAL: int
    MAX_SESSIONS_PER_USER: int | None
    SESSION_IDLE_TIMEOUT: Seconds | None
    SESSION_ABSOLUTE_LIFETIME: Seconds | None
    JWKS_MAX_AGE: int
    X_XSS_PROTECTION: str | None
    MAX_BODY_SIZE: int
    DPOP_ENABLED: bool
    DPOP_ALGORITHMS: Sequence[str]
    DPOP_IAT_SKEW: int
    DPOP_NONCE: bool
    DPOP_NONCE_LIFETIME: int
    DPOP_REQUIRED: bool

    def __getattr__(self, name: str) -> Any:
        # Called only on a miss: the value is then kept as an instance attribute, which
        # Python finds before ever calling __getattr__ again, until forget() drops it.
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown jwtauth setting: {name}")
        value = getattr(settings, PREFIX + name, DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def forget(self) -> None:
        """Drop the values read so far; the next use reads the settings again."""
        self.__dict__.clear()

    @property
    def access_lifetime(self) -> int:
        """Return the access-token lifetime in whole seconds."""
        return _seconds(self.ACCESS_TOKEN_LIFETIME)

    @property
    def refresh_lifetime(self) -> int:
        """Return the refresh-token (and session) lifetime in whole seconds."""
        return _seconds(self.REFRESH_TOKEN_LIFETIME)


def _seconds(value: timedelta | float) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return int(value)


def type_errors() -> dict[str, str]:
    """Return, per setting whose value is not of its annotated type, what type it must be."""
    hints = get_type_hints(JWTAuthSettings)
    return {
        name: _describe(hints[name])
        for name in DEFAULTS
        if not _matches(getattr(conf, name), hints[name])
    }


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return any(_matches(value, option) for option in get_args(hint))
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):  # a bool is no number of seconds; an int is a float here
        return isinstance(value, int | float if hint is float else int) and not isinstance(
            value, bool
        )
    if origin is SequenceABC:
        (item,) = get_args(hint)
        return isinstance(value, list | tuple) and all(_matches(v, item) for v in value)
    if origin is CallableABC:
        return callable(value)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return " or ".join(_describe(option) for option in get_args(hint))
    if hint is type(None):
        return "None"
    if origin is Literal:
        return " or ".join(repr(choice) for choice in get_args(hint))
    if origin is SequenceABC:
        return f"a list of {_describe(get_args(hint)[0])}"
    if origin is CallableABC:
        return "a callable"
    return getattr(hint, "__name__", str(hint))


class _Memo:
    """Keep one function's results per arguments; build each once, even with threads racing."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.values: dict[tuple[Any, ...], Any] = {}
        self.lock = threading.Lock()
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any) -> Any:
        try:
            return self.values[args]  # the usual path: one dictionary lookup, no lock
        except KeyError:
            pass
        with self.lock:  # two threads starting at once must not build two (two pools, say)
            if args not in self.values:
                self.values[args] = self.func(*args)
            return self.values[args]

    def cache_clear(self) -> None:
        """Forget every result."""
        with self.lock:
            self.values = {}


def cached_until_settings_change(func: F) -> F:
    """Memoise ``func`` until any ``JWTAUTH_*`` (or ``SECRET_KEY``/``CACHES``) setting changes.

    For work derived from settings (parsed keys, the verifier, the cache store): done once,
    redone after ``override_settings`` or the ``settings`` fixture changes what it read.
    """
    memo = _Memo(func)
    _derived.append(memo)
    return memo  # type: ignore[return-value]


def forget_derived() -> None:
    """Drop every memoised value built from settings, and the settings read so far."""
    conf.forget()
    for memo in _derived:
        memo.cache_clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX) or setting in {"SECRET_KEY", "CACHES", "AUTH_USER_MODEL"}:
        forget_derived()


conf = JWTAuthSettings()
