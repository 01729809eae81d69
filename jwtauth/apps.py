"""Configure the jwtauth app: register system checks and signal receivers."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JWTAuthConfig(AppConfig):
    """Register jwtauth's checks and connect its receivers when Django is ready."""

    name = "jwtauth"
    verbose_name = _("JWT authentication")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import the modules whose import registers checks and signal receivers."""
        from . import checks, receivers  # noqa: F401
