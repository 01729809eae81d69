"""Settings of the jwtauth demo site, read from the environment (and an optional .env file).

Every variable is documented in ``.env.example``. This is the only module that reads the
environment; the jwtauth app itself reads Django settings only (``JWTAUTH_*``).
"""

from __future__ import annotations

import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# One switch for everything HTTPS: redirect, Secure cookies, HSTS. Off is for local checks
# and for a TLS proxy not configured yet; the deploy check project.W001 reports it.
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)

DEV_KEYS_FILE = BASE_DIR / ".dev-keys.json"


def _dev_keys() -> dict[str, str]:
    """Return development keys, generated once and kept in a git-ignored file."""
    if DEV_KEYS_FILE.is_file():
        return dict(json.loads(DEV_KEYS_FILE.read_text()))
    keys = {"django": secrets.token_urlsafe(50), "jwt": secrets.token_urlsafe(64)}
    DEV_KEYS_FILE.touch(mode=0o600)
    DEV_KEYS_FILE.write_text(json.dumps(keys))
    return keys


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
JWT_SECRET_KEY = env.str("JWT_SECRET_KEY", default="")
if DEBUG and not (SECRET_KEY and JWT_SECRET_KEY):
    _generated = _dev_keys()
    SECRET_KEY = SECRET_KEY or _generated["django"]
    JWT_SECRET_KEY = JWT_SECRET_KEY or _generated["jwt"]
    print(
        "\n" + "!" * 78 + "\n"
        "!! WARNING: using GENERATED DEVELOPMENT KEYS from .dev-keys.json.\n"
        "!! Never deploy like this: set DJANGO_SECRET_KEY and JWT_SECRET_KEY.\n" + "!" * 78,
        file=sys.stderr,
    )

# The user `make run` creates to log in as (manage.py demo_superuser); unset, none is created.
DEMO_SUPERUSER = {
    "username": env.str("DJANGO_SUPERUSER_USERNAME", default=""),
    "password": env.str("DJANGO_SUPERUSER_PASSWORD", default=""),
    "email": env.str("DJANGO_SUPERUSER_EMAIL", default=""),
}

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First, so that its runserver (checks before serving) overrides staticfiles' one.
    "project",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "jwtauth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jwtauth.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Picks each request's language from Accept-Language (after sessions, before common, as
    # Django requires): jwtauth's errors and the admin answer in it; stable codes never change.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jwtauth.middleware.JWTAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "jwtauth.backends.JWTBackend",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take SQLite's write lock when a transaction begins: with several workers, a deferred
    # transaction that reads and then writes fails with "database is locked" instead of
    # waiting (two concurrent refreshes answered 503).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")

REDIS_URL = env.str("REDIS_URL", default="")
# Redis Sentinel (high availability): the sentinels, and the name of the master they watch.
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="")
# Short timeouts: with Redis down, a request must not hang on a connect; jwtauth then reads
# the database (see JWTAUTH_CACHE_RETRY_AFTER).
REDIS_OPTIONS: dict[str, object] = {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25}


def _sentinel(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


if REDIS_SENTINELS:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            # django-redis reads the master's name from the URL's host part.
            "LOCATION": f"redis://{REDIS_SENTINEL_MASTER}/{env.int('REDIS_DB', default=0)}",
            "KEY_PREFIX": env.str("REDIS_KEY_PREFIX", default="demo"),
            "OPTIONS": {
                **REDIS_OPTIONS,
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [_sentinel(address) for address in REDIS_SENTINELS],
                "SENTINEL_KWARGS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
            },
        }
    }
elif REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("REDIS_KEY_PREFIX", default="demo"),
            "OPTIONS": REDIS_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A read replica: Django reads through it, jwtauth reads revocation state from the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASE_ROUTERS = ["project.routers.ReplicaRouter"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# English and the languages jwtauth ships catalogues for: a request asking for another one is
# answered in English throughout, not half in its language (Django's) and half in English.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("fr", "Français"),
    ("ja", "日本語"),
    ("pt-br", "Português (Brasil)"),
    ("zh-hans", "简体中文"),
]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _pem(value: str) -> str:
    # Env files cannot hold newlines easily; accept "\n" escapes in PEM text.
    return value.replace("\\n", "\n")


JWTAUTH_ALGORITHM = env.str("JWT_ALGORITHM", default="HS256")
JWTAUTH_SECRET_KEY = JWT_SECRET_KEY
JWTAUTH_SECRET_KEY_FALLBACKS = env.list("JWT_SECRET_KEY_FALLBACKS", default=[])
JWTAUTH_PRIVATE_KEY = _pem(env.str("JWT_PRIVATE_KEY", default=""))
JWTAUTH_PUBLIC_KEY = _pem(env.str("JWT_PUBLIC_KEY", default=""))
JWTAUTH_PUBLIC_KEY_FALLBACKS = [_pem(k) for k in env.list("JWT_PUBLIC_KEY_FALLBACKS", default=[])]
JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(hours=env.float("JWT_EXPIRY_HOURS", default=1.0))
JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=env.float("JWT_REFRESH_EXPIRY_DAYS", default=7.0))
JWTAUTH_ISSUER = env.str("JWT_ISSUER", default="jwtauth-demo")
JWTAUTH_AUDIENCE = env.str("JWT_AUDIENCE", default="jwtauth-demo")
JWTAUTH_LEEWAY = env.int("JWT_LEEWAY_SECONDS", default=0)
JWTAUTH_COOKIES = env.bool("JWT_COOKIES", default=True)
JWTAUTH_USER_CACHE = env.bool("JWT_USER_CACHE", default=False)
JWTAUTH_CACHE_RETRY_AFTER = env.float("JWT_CACHE_RETRY_AFTER", default=5.0)
# Replicas that must acknowledge a revocation's cache write (unset: 1 under Sentinel, else 0).
JWTAUTH_CACHE_MIN_REPLICAS = env.int("JWT_CACHE_MIN_REPLICAS", default=None)
JWTAUTH_REFRESH_REUSE_INTERVAL = env.int("JWT_REFRESH_REUSE_INTERVAL", default=30)

# DPoP (RFC 9449, docs/dpop.md): tokens bound to a key the client holds.
JWTAUTH_DPOP_ENABLED = env.bool("JWT_DPOP_ENABLED", default=True)
JWTAUTH_DPOP_REQUIRED = env.bool("JWT_DPOP_REQUIRED", default=False)
JWTAUTH_DPOP_ALGORITHMS = env.list("JWT_DPOP_ALGORITHMS", default=["ES256", "Ed25519", "EdDSA"])
JWTAUTH_DPOP_IAT_SKEW = env.int("JWT_DPOP_IAT_SKEW", default=60)
JWTAUTH_DPOP_NONCE = env.bool("JWT_DPOP_NONCE", default=False)
JWTAUTH_DPOP_NONCE_LIFETIME = env.int("JWT_DPOP_NONCE_LIFETIME", default=300)

# In the environment, 0 turns a session limit off (the setting's None).
JWTAUTH_MAX_SESSIONS_PER_USER = env.int("JWT_MAX_SESSIONS_PER_USER", default=200) or None
_idle_days = env.float("JWT_SESSION_IDLE_DAYS", default=7.0)
JWTAUTH_SESSION_IDLE_TIMEOUT = timedelta(days=_idle_days) if _idle_days else None
_max_days = env.float("JWT_SESSION_MAX_DAYS", default=30.0)
JWTAUTH_SESSION_ABSOLUTE_LIFETIME = timedelta(days=_max_days) if _max_days else None

# HTTPS: one switch (DJANGO_HTTPS) turns all of these on together.
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
JWTAUTH_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind a proxy that sets (and overwrites) X-Forwarded-Host / -Port: the URL a client used,
# which DPoP proofs sign (their htu), is rebuilt from them.
USE_X_FORWARDED_HOST = env.bool("DJANGO_USE_X_FORWARDED_HOST", default=False)
USE_X_FORWARDED_PORT = env.bool("DJANGO_USE_X_FORWARDED_PORT", default=False)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"jwtauth": {"handlers": ["console"], "level": env.str("JWT_LOG_LEVEL", "INFO")}},
}
