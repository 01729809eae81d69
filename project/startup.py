"""Refuse to serve with a broken configuration: run the system checks before the first request."""

from __future__ import annotations

import sys

from django.core import checks


def refuse_on_errors() -> None:
    """Run the system checks; on an error-level message print it and exit (no traceback)."""
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR and not m.is_silenced()]
    if errors:
        lines = "\n".join(f"  {m}" for m in errors)
        sys.stderr.write(f"Refusing to start: configuration errors\n{lines}\n")
        raise SystemExit(1)
