"""The demo site: environment parsing, and refusing to start on a configuration error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DJANGO_DEBUG": "False",
    "DJANGO_SECRET_KEY": "d" * 50,
    "JWT_SECRET_KEY": "j" * 64,
}


def run(
    code: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, *code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def evaluate(env: dict[str, str], expression: str) -> Any:
    """Return ``expression`` evaluated (``s`` is the settings) in the demo site under ``env``."""
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({expression}))"
    )
    result = run(["-c", script], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def settings_of(env: dict[str, str]) -> dict[str, Any]:
    return dict(
        evaluate(
            env,
            "{'access': s.JWTAUTH_ACCESS_TOKEN_LIFETIME.total_seconds(), "
            "'refresh': s.JWTAUTH_REFRESH_TOKEN_LIFETIME.total_seconds(), "
            "'cache': s.CACHES['default']['BACKEND'], 'db': s.DATABASES['default']['ENGINE'], "
            "'ssl': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS, "
            "'cookie_secure': s.JWTAUTH_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE, "
            "'alg': s.JWTAUTH_ALGORITHM, 'leeway': s.JWTAUTH_LEEWAY}",
        )
    )


def test_fractional_lifetimes() -> None:
    values = settings_of({**GOOD, "JWT_EXPIRY_HOURS": "0.25", "JWT_REFRESH_EXPIRY_DAYS": "1.5"})
    assert values["access"] == 900
    assert values["refresh"] == 1.5 * 86400


def test_defaults_are_sqlite_and_a_process_cache_with_https_on() -> None:
    values = settings_of(GOOD)
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert (values["ssl"], values["hsts"], values["cookie_secure"]) == (True, 31536000, True)
    assert (values["alg"], values["leeway"], values["access"]) == ("HS256", 0, 3600)


def test_https_switch_turns_everything_off_together() -> None:
    values = settings_of({**GOOD, "DJANGO_HTTPS": "False"})
    assert (values["ssl"], values["hsts"], values["cookie_secure"], values["csrf_secure"]) == (
        False,
        0,
        False,
        False,
    )


def test_redis_url_selects_django_redis() -> None:
    values = settings_of({**GOOD, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert values["cache"] == "django_redis.cache.RedisCache"


def test_deploy_check_reports_https_off() -> None:
    result = run(["manage.py", "check", "--deploy"], {**GOOD, "DJANGO_HTTPS": "False"})
    assert "project.W001" in result.stderr + result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["-c", "import project.wsgi"],
        ["-c", "import project.asgi"],
        ["manage.py", "runserver", "127.0.0.1:0"],
    ],
)
def test_refuses_to_start_with_the_check_message_not_a_traceback(command: list[str]) -> None:
    result = run(command, {**GOOD, "JWT_SECRET_KEY": "too-short"}, timeout=60)
    assert result.returncode == 1
    assert "jwtauth.E003" in result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_starts_with_a_valid_configuration() -> None:
    result = run(["-c", "import project.wsgi; print('ready')"], GOOD)
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout


def _session_settings(env: dict[str, str]) -> list[Any]:
    seconds = "(lambda v: None if v is None else v.total_seconds())"
    return list(
        evaluate(
            env,
            "[s.JWTAUTH_REFRESH_REUSE_INTERVAL, s.JWTAUTH_MAX_SESSIONS_PER_USER, "
            f"{seconds}(s.JWTAUTH_SESSION_IDLE_TIMEOUT), "
            f"{seconds}(s.JWTAUTH_SESSION_ABSOLUTE_LIFETIME)]",
        )
    )


def test_the_session_policy_is_mapped_from_the_environment() -> None:
    assert _session_settings(GOOD) == [30, 200, 7 * 86400, 30 * 86400]
    tuned = {
        "JWT_REFRESH_REUSE_INTERVAL": "10",
        "JWT_MAX_SESSIONS_PER_USER": "5",
        "JWT_SESSION_IDLE_DAYS": "0.5",
        "JWT_SESSION_MAX_DAYS": "90",
    }
    assert _session_settings({**GOOD, **tuned}) == [10, 5, 43200, 90 * 86400]
    off = {
        "JWT_MAX_SESSIONS_PER_USER": "0",
        "JWT_SESSION_IDLE_DAYS": "0",
        "JWT_SESSION_MAX_DAYS": "0",
    }
    assert _session_settings({**GOOD, **off}) == [30, None, None, None]
