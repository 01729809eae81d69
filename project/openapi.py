"""Serve the OpenAPI 3.1 document of the auth endpoints, kept in the repo at docs/openapi.json."""

from __future__ import annotations

import functools
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


@functools.cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


@require_safe
def openapi(request: HttpRequest) -> HttpResponse:
    """Answer the OpenAPI document, as stored in the repository."""
    return HttpResponse(_document(), content_type="application/json")
