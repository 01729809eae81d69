"""A TCP link to a Redis that can be cut and healed, as a network partition would."""

from __future__ import annotations

import signal
import subprocess
import sys

import redis

from .process import ROOT, free_port, wait_until
from .redis_server import pings


class Proxy:
    """Forward a free port to a Redis, so one app server's link to it can be cut and healed."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the Redis URL through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start forwarding (``services.forward``) and wait until a PING goes through."""
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "services.forward"),
                *(str(self.port), "127.0.0.1", str(self.target_port)),
            ],
            cwd=ROOT,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        wait_until(lambda: pings(client), "the proxy to forward")

    def cut(self) -> None:
        """Freeze every connection through the proxy: no error, no answer (a partition)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def heal(self) -> None:
        """Let traffic through again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop forwarding."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()
            self.process = None
