"""Settings for a second server process that must share the test run's database and cache.

The live-server tests start ``gunicorn project.wsgi`` with these settings: the test settings,
pointed at the test database (not the base name pytest-django derives it from) and at the same
Redis key prefix as the test process, both passed through the environment.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import CACHES, DATABASES

DATABASES["default"]["NAME"] = os.environ["JWTAUTH_LIVE_DB_NAME"]
CACHES["default"]["KEY_PREFIX"] = os.environ["JWTAUTH_LIVE_KEY_PREFIX"]
JWTAUTH_DPOP_NONCE = os.environ.get("JWTAUTH_LIVE_DPOP_NONCE") == "1"
