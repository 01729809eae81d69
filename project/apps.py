"""Configure the demo site as an app, so its deploy check and templates are found."""

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """Register the demo site's deploy check."""

    name = "project"
    verbose_name = "jwtauth demo site"

    def ready(self) -> None:
        """Import the module whose import registers the deploy check."""
        from . import checks  # noqa: F401
