"""gunicorn serving a WSGI application of this repository on a free loopback port."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

from .process import ROOT, free_port, wait_until


class Gunicorn:
    """One gunicorn instance (sync workers) of ``app``, the demo site unless told otherwise.

    ``ready_path`` is a URL path the application answers with 200 and without credentials:
    the instance counts as started once every worker could have answered it.
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        log: Path,
        args: tuple[str, ...] = (),
        *,
        app: str = "project.wsgi",
        ready_path: str = "/api/ping/",
    ) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log = log
        self.args = args
        self.app = app
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return (host, port)."""
        return ("127.0.0.1", self.port)

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(*self.address, timeout=2)
        try:
            conn.request("GET", self.ready_path)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def start(self) -> None:
        """Start gunicorn and wait until the application answers."""
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", self.app),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)),
                *("--worker-class", "sync", "--error-logfile", str(self.log)),
                *self.args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(self._answers, f"gunicorn on port {self.port}", timeout=60)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"gunicorn did not start; see {self.log}") from None
        # Every worker boots on its own; ask until each has answered once, so that no
        # measured request waits behind a worker's start.
        for _ in range(self.workers * 4):
            self._answers()

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM), killing it if it lingers."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill_workers(self) -> int:
        """SIGKILL every worker (the master forks new ones); return how many were killed."""
        assert self.process is not None
        master = self.process.pid
        killed = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # exited meanwhile
            if int(fields[1]) == master:  # the parent pid
                os.kill(int(stat.parent.name), signal.SIGKILL)
                killed += 1
        wait_until(self._answers, f"gunicorn on port {self.port} to fork new workers")
        return killed

    def tracebacks(self) -> str:
        """Return the tracebacks gunicorn logged (none is the expected answer)."""
        if not self.log.is_file():
            return ""
        text = self.log.read_text(errors="replace")
        return text if "Traceback" in text else ""
