"""Deploy checks of the demo site."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_https(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when DJANGO_HTTPS is off outside DEBUG: no redirect, Secure cookies or HSTS."""
    if settings.DEBUG or settings.HTTPS:
        return []
    return [
        Warning(
            "DJANGO_HTTPS is off: no HTTPS redirect, no Secure cookies and no HSTS.",
            hint="Serve over HTTPS and set DJANGO_HTTPS=True (the default when DJANGO_DEBUG "
            "is off); keep it off only for local checks on loopback.",
            id="project.W001",
        )
    ]
