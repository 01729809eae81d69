"""Schemathesis hooks for 50-schemathesis.sh: a fresh access token for every generated case.

A run calls logout and logout-all with the token it was given, which revokes it; a token per
case keeps every later case authenticated. Tokens are minted through jwtauth's own session
service against the server's database and cache (the same environment), so no login request
competes with the login throttle that fuzzing the login endpoint trips on purpose. A run starts
more sessions than JWTAUTH_MAX_SESSIONS_PER_USER allows: each new one evicts the least recently
used, never the case's own (the newest), and keeps the sessions list within the cap the
document describes.
"""

from __future__ import annotations

import os
from typing import Any

import django
import schemathesis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from jwtauth import sessions  # noqa: E402


@schemathesis.auth(refresh_interval=None, retry_on=[])
class FreshAccessToken:
    """Start a new session for the demo user and hand its access token to the case."""

    def get(self, case: Any, context: Any) -> str:
        """Return a new access token."""
        user = get_user_model().objects.get(username=os.environ["SCHEMATHESIS_USERNAME"])
        return sessions.start(user, user_agent="schemathesis", ip_address="127.0.0.1").access

    def set(self, case: Any, data: str, context: Any) -> None:
        """Send the token as a Bearer header."""
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
