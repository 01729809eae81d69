"""The test settings with jwtauth's middleware listed before Django's AuthenticationMiddleware."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE

JWT = "jwtauth.middleware.JWTAuthenticationMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"

MIDDLEWARE = [m for m in MIDDLEWARE if m != JWT]
MIDDLEWARE.insert(MIDDLEWARE.index(AUTH), JWT)
