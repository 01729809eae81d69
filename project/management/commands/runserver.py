"""Run the development server, refusing to start on an error-level system check."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver


class Command(StaticRunserver):
    """Django's ``runserver`` (with static files), checked before the autoreloader starts.

    Django's own command runs the checks inside the reloaded thread, where an error becomes a
    traceback and a server waiting for file changes; here it is the check's message and exit 1.
    """

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the system checks, then serve."""
        if not options.get("skip_checks"):
            self.check(display_num_errors=False)
        super().handle(*args, **options)
