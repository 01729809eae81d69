"""What every service process needs: a free port, a wait until it is ready, a directory."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

# The repository root: gunicorn, ``manage.py`` and ``python -m`` children run from here.
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``ready`` until it answers true; a child process coming up is what we wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")
