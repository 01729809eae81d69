"""Schemathesis hooks for 50-schemathesis.sh: a fresh access token for every generated case.

A run calls logout and logout-all with the token it was given, which revokes it; a token per
case keeps every later case authenticated. Tokens are minted through jwtauth's own session
service against the server's database and cache (the same environment), so no login request
competes with the login throttle that fuzzing the login endpoint trips on purpose. A run starts
more sessions than JWTAUTH_MAX_SESSIONS_PER_USER allows: each new one evicts the least recently
used, never the case's own (the newest), and keeps the sessions list within the cap the
document describes.

A generated `DPoP` header is replaced by a genuine proof for the case's method and URL: any
other value is refused (400 at login and refresh) whatever the rest of the request, so a
schema-valid case would never reach the endpoint's other rules. The hooks hold the one key those
logins are bound to, so a case that presents a bound refresh token (one a login answered, passed
on by a link) gets a proof from it too, as the client that logged in would send; one that
presents an unbound refresh token sends no proof, as a client without a key would not.
"""

from __future__ import annotations

import os
from typing import Any

import django
import jwt
import schemathesis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from jwtauth import sessions  # noqa: E402
from jwtauth.dpop.client import DPoPKey  # noqa: E402

KEY = DPoPKey.generate()


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


def _binding(refresh: Any) -> bool | None:
    """Say whether a refresh token names a key (None: not a token the server could read)."""
    if not isinstance(refresh, str) or refresh.count(".") != 2:
        return None
    try:
        return "cnf" in jwt.decode(refresh, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    """Send a genuine proof (no `ath`) where a DPoP client would: see the module's docstring."""
    headers = dict(case.headers or {})
    body = case.body if isinstance(case.body, dict) else {}
    binding = _binding(body.get("refresh"))
    if binding is False:
        # A client holding an unbound refresh token (from a login without a proof) sends none;
        # the server refuses a proof beside it (400), so a generated one would only hide the
        # endpoint's other rules.
        headers.pop("DPoP", None)
        case.headers = headers
    elif "DPoP" in headers or binding:
        url = os.environ["SCHEMATHESIS_BASE_URL"] + case.formatted_path
        case.headers = {**headers, "DPoP": KEY.proof(case.method.upper(), url)}
