"""Run the demo site in processes of its own: as a new user would, from a copy of the tree.

Used by the tests that follow the documentation's own words (``tests/test_readme.py``,
``tests/test_project.py``) and by those that start servers or commands (``manage.py``,
gunicorn). A server runs in a process group of its own, so ``make``, its shell, ``runserver``
and the child ``runserver`` reloads into are all stopped together.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a developer's shell has; no DATABASE_URL, REDIS_URL, DJANGO_* or JWT_* (CI sets some).
USER_SHELL = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR")
START_TIMEOUT = 60.0


def user_env(**extra: str) -> dict[str, str]:
    """Return the environment of a new user's shell, plus ``extra``."""
    return {**{k: os.environ[k] for k in USER_SHELL if k in os.environ}, **extra}


def demo_env(database: Path, **extra: str) -> dict[str, str]:
    """Return the environment of the demo site with production-like keys on a SQLite file."""
    demo = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": "d" * 50,
        "JWT_SECRET_KEY": "j" * 64,
        "DATABASE_URL": f"sqlite:///{database}",
    }
    return user_env(**{**demo, **extra})


def manage(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the ``manage.py`` of ``cwd`` (the tree's) with ``args`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def copy_tree(destination: Path) -> Path:
    """Copy the files a fresh clone would hold, as they are in the work tree now, and return it.

    That is every tracked file and every new file git does not ignore: no ``.venv``, ``.env``,
    ``db.sqlite3`` or ``.dev-keys.json`` of the developer running the tests.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is still in the index
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def with_venv(command: str, port: int) -> str:
    """Append to a ``make run`` command line the port, and the virtual environment running us.

    ``-o`` tells make to take the venv's stamp as up to date: the copy's requirements.txt is
    newer than any stamp, and reinstalling into (or beside) a shared venv is not this test's job.
    """
    venv = Path(sys.prefix)
    return f"{command} -o {venv / '.installed'} VENV={venv} PORT={port}"


def run_to_exit(command: str, *, cwd: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """Run the shell ``command`` in a group of its own; return its status and its output.

    The status is ``None`` when it was still running after ``START_TIMEOUT`` (a server that
    should have refused to start): the whole group is then killed, so nothing outlives the test.
    """
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        output, _ = process.communicate()
        return None, output
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the command left behind
    return process.returncode, output


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback http URL
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextmanager
def serving(command: str, *, cwd: Path, env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """Run the shell ``command`` until ``http://127.0.0.1:<port>/`` answers; yield that URL."""
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"{base}/auth/csrf/"):
            if process.poll() is not None:
                raise AssertionError(f"{command!r} exited {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{command!r} did not answer:\n{log.read_text()}")
            time.sleep(0.1)  # waiting for a child process to listen, not for app time
        yield base
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # Only the group this module started: make, its shell, runserver and runserver's child.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap make, whose zombie would count as alive
        time.sleep(0.05)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
