"""Settings of the comparison site: jwtauth and simplejwt installed side by side.

The runner (``benchmarks/run.py``) fills the environment: ``BENCH_DATABASE_URL`` (PostgreSQL
database ``jwtauth_bench``, created by the runner), ``BENCH_REDIS_URL`` and ``BENCH_KEY_PREFIX``
(a real Redis, keys under their own prefix). ``BENCH_STACK`` picks the middleware stack for a
server process (``jwtauth`` or ``plain``) and ``BENCH_USER_CACHE=1`` turns jwtauth's user cache
on; in-process, the runner builds both stacks itself (see ``STACKS``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from urllib.parse import unquote, urlsplit

SECRET_KEY = "bench-django-secret-key-" + "d" * 40
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.comparison.urls"
WSGI_APPLICATION = "benchmarks.comparison.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "jwtauth",
]

# Django's usual stack. The jwtauth stack adds jwtauth's middleware; the plain stack is the
# same without it, for the bare baseline and for simplejwt (which authenticates inside DRF and
# would otherwise pay for a middleware looking at a token it does not own).
_DJANGO = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
_AUTH = _DJANGO.index("django.contrib.auth.middleware.AuthenticationMiddleware")
STACKS = {
    "plain": list(_DJANGO),
    "jwtauth": [
        *_DJANGO[: _AUTH + 1],
        "jwtauth.middleware.JWTAuthenticationMiddleware",
        *_DJANGO[_AUTH + 1 :],
    ],
}
MIDDLEWARE = STACKS[os.environ.get("BENCH_STACK", "jwtauth")]

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
TEMPLATES: list[dict[str, object]] = []


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "jwtauth_bench",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # Persistent connections, as a production site would keep them.
        "CONN_MAX_AGE": 600,
    }


DATABASES = {
    "default": _database(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jwtauth_bench")
    )
}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": os.environ.get("BENCH_KEY_PREFIX", "jwtauth-bench"),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
    }
}

# Both libraries sign HS256 with a secret of the same length, each its own.
JWTAUTH_ALGORITHM = "HS256"
JWTAUTH_SECRET_KEY = "bench-jwtauth-secret-" + "j" * 43
JWTAUTH_ISSUER = "https://bench.test"
JWTAUTH_AUDIENCE = "bench"
JWTAUTH_COOKIES = False
JWTAUTH_USER_CACHE = os.environ.get("BENCH_USER_CACHE") == "1"

# simplejwt with its defaults, except rotation with blacklisting for the refresh comparison
# (the behaviour jwtauth always has) and jwtauth's access lifetime (one hour, so one token
# lasts the whole run; simplejwt's default is five minutes). None of these touches the
# per-request path.
SIMPLE_JWT = {
    "SIGNING_KEY": "bench-simplejwt-secret-" + "s" * 41,
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

REST_FRAMEWORK = {
    # JSON only, for every DRF contender alike: no browsable-API negotiation in the numbers.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"jwtauth": {"handlers": ["null"], "level": "WARNING", "propagate": False}},
}
