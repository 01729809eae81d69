"""Refuse to serve with a broken configuration: run the system checks when the app loads.

``runserver`` runs the system checks before serving; gunicorn, uvicorn and uWSGI do not, so a
missing signing key would show only at the first request, as a 500. Call
:func:`refuse_on_errors` in your ``wsgi.py`` or ``asgi.py`` right after building the
application, and the server refuses to start, printing the checks' messages instead.
"""

from __future__ import annotations

import sys

from django.core import checks

# gunicorn's arbiter reads a worker's exit status 4 as "App failed to load" and stops the whole
# server; any other status makes it boot a new worker, which fails the same way, forever.
EXIT_STATUS = 4


def refuse_on_errors() -> None:
    """Run Django's system checks; on any error, print the messages and exit (no traceback).

    Every registered check runs (jwtauth's ones and the rest), as ``runserver`` would run
    them; warnings and silenced messages do not stop the start.
    """
    errors = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
    if errors:
        lines = "\n".join(f"  {m}" for m in errors)
        sys.stderr.write(f"Refusing to start: configuration errors\n{lines}\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_STATUS)
