"""Serve the demo page at ``/``: a small browser client of jwtauth's cookie mode."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from jwtauth.keys import keyring
from jwtauth.middleware import lenient

# The page runs only its own static script and talks only to its own origin; with no inline
# script or style, injected markup cannot run code (CSP Level 3, "script-src 'self'").
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


# Lenient: the page is public, so a revoked or expired access cookie must not turn it into a
# 401; the page's script asks the API and shows that answer instead.
@lenient
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """Render the demo page with its Content-Security-Policy."""
    # The JWKS lists public keys only: with an HMAC secret it is an honest 404, not a link.
    context = {"publishes_keys": not keyring().is_symmetric}
    response = render(request, "project/index.html", context)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
