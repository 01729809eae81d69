"""jwtauth.startup: a WSGI/ASGI application that refuses to start on a configuration error."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from jwtauth.startup import EXIT_STATUS, refuse_on_errors
from services import free_port
from tests.servers import ROOT, demo_env, run_to_exit


def test_a_valid_configuration_starts(capsys: pytest.CaptureFixture[str]) -> None:
    refuse_on_errors()
    assert capsys.readouterr().err == ""


def test_an_error_stops_the_start_with_the_message_and_status_4(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.JWTAUTH_ALGORITHM = "none"

    with pytest.raises(SystemExit) as stopped:
        refuse_on_errors()

    assert stopped.value.code == EXIT_STATUS == 4
    err = capsys.readouterr().err
    assert err.startswith("Refusing to start: configuration errors\n")
    assert "(jwtauth.E002) JWTAUTH_ALGORITHM='none' is not supported." in err


def test_warnings_and_silenced_errors_do_not_stop_the_start(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.JWTAUTH_ALGORITHM = "none"
    settings.SILENCED_SYSTEM_CHECKS = ["jwtauth.E002"]

    refuse_on_errors()  # jwtauth.W001 is only a warning, and E002 is silenced


@pytest.mark.parametrize("workers", [1, 2])
def test_gunicorn_stops_instead_of_respawning_workers(tmp_path: Path, workers: int) -> None:
    env = demo_env(tmp_path / "db.sqlite3", JWT_SECRET_KEY="too-short", DJANGO_HTTPS="False")
    command = [
        sys.executable, "-m", "gunicorn", "project.wsgi:application",
        "--bind", f"127.0.0.1:{free_port()}", "--workers", str(workers),
        "--control-socket", str(tmp_path / "gunicorn.ctl"),
    ]  # fmt: skip

    status, output = run_to_exit(shlex.join(command), cwd=ROOT, env=env)

    assert status is not None, f"gunicorn kept respawning workers:\n{output[-3000:]}"
    assert f"exited with code {EXIT_STATUS}." in output, output[-3000:]
    assert "App failed to load." in output
    assert "(jwtauth.E003) JWTAUTH_SECRET_KEY is 9 bytes" in output
    if workers == 1 or "Traceback" not in output:
        assert status == EXIT_STATUS, output[-3000:]
    else:
        # gunicorn's own race, not ours: when a second worker exits with status 4 while the
        # arbiter is already halting for the first, its stop() raises HaltServer again, out
        # of halt(), and the arbiter ends with status 1 and that traceback. It still stops.
        assert status == 1, output[-3000:]
        assert output.rstrip().endswith("HaltServer: <HaltServer 'App failed to load.' 4>")
        assert "jwtauth" not in output.split("Traceback", 1)[1], output[-3000:]
