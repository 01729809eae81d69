"""The demo site: environment parsing, and refusing to start on a configuration error."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils.translation import to_locale

from services import free_port
from tests.servers import copy_tree, run_to_exit, serving, user_env, with_venv

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
    ("command", "status"),
    [
        (["-c", "import project.wsgi"], 4),  # jwtauth.startup.EXIT_STATUS, for gunicorn
        (["-c", "import project.asgi"], 4),
        (["manage.py", "runserver", "127.0.0.1:0"], 1),
    ],
)
def test_refuses_to_start_with_the_check_message_not_a_traceback(
    command: list[str], status: int
) -> None:
    result = run(command, {**GOOD, "JWT_SECRET_KEY": "too-short"}, timeout=60)
    assert result.returncode == status
    assert "jwtauth.E003" in result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_starts_with_a_valid_configuration() -> None:
    result = run(["-c", "import project.wsgi; print('ready')"], GOOD)
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout


def send(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Send one request (no redirect followed); return the status and the body, JSON if it is."""
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    try:
        data = json.dumps(body) if body is not None else None
        connection.request(method, path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, json.loads(raw) if is_json else raw.decode()


def test_a_copied_env_example_gives_a_working_local_site(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "jwtauth")
    example = dict(re.findall(r"^([A-Z_]+)=(.*)$", (tree / ".env.example").read_text(), re.M))
    subprocess.run(["bash", "-c", "cp .env.example .env"], cwd=tree, check=True)
    port = free_port()
    log = tmp_path / "make-run.log"

    with serving(with_venv("make run", port), cwd=tree, env=user_env(), port=port, log=log) as base:
        page = send(base, "GET", "/")
        login = send(
            base,
            "POST",
            "/auth/login/",
            {
                "username": example["DJANGO_SUPERUSER_USERNAME"],
                "password": example["DJANGO_SUPERUSER_PASSWORD"],
            },
        )

    assert page[0] == 200, page  # plain HTTP: no redirect to HTTPS
    assert "jwtauth demo" in page[1]
    assert login[0] == 200, login  # the superuser of .env was created, on SQLite
    assert set(login[1]) == {"token_type", "expires_in", "access", "refresh"}
    assert (tree / "db.sqlite3").is_file()
    assert f"Superuser '{example['DJANGO_SUPERUSER_USERNAME']}' created." in log.read_text()


def demo_superuser(settings: Any, **wanted: str) -> str:
    """Run ``manage.py demo_superuser`` with ``DJANGO_SUPERUSER_*`` as ``wanted``; return stdout."""
    settings.DEMO_SUPERUSER = {"username": "", "password": "", "email": "", **wanted}
    out = io.StringIO()
    call_command("demo_superuser", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_superuser_needs_no_email_and_says_when_it_exists(
    settings: Any, django_user_model: Any
) -> None:
    assert demo_superuser(settings, username="admin", password="pw-1") == (
        "Superuser 'admin' created.\n"
    )
    admin = django_user_model.objects.get(username="admin")
    assert (admin.is_superuser, admin.is_staff, admin.email) == (True, True, "")
    assert admin.check_password("pw-1")

    assert demo_superuser(settings, username="admin", password="pw-1") == (
        "Superuser 'admin' exists already.\n"
    )
    assert demo_superuser(settings, username="admin", password="pw-2") == (
        "Superuser 'admin' exists already; its password is not DJANGO_SUPERUSER_PASSWORD and "
        "was kept.\n"
    )
    admin.refresh_from_db()
    assert admin.check_password("pw-1")


@pytest.mark.django_db
def test_demo_superuser_reports_the_real_reason(settings: Any, django_user_model: Any) -> None:
    with pytest.raises(CommandError, match="set both DJANGO_SUPERUSER_USERNAME and"):
        demo_superuser(settings, username="admin")
    with pytest.raises(CommandError, match="'bad user!' not created: Enter a valid username"):
        demo_superuser(settings, username="bad user!", password="pw")
    with pytest.raises(CommandError, match="'admin' not created: Enter a valid email address"):
        demo_superuser(settings, username="admin", password="pw", email="not-an-address")
    assert "set DJANGO_SUPERUSER_USERNAME and" in demo_superuser(settings)
    assert not django_user_model.objects.exists()


def test_make_run_stops_with_the_reason_the_superuser_was_not_created(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "jwtauth")
    env = user_env(DJANGO_SUPERUSER_USERNAME="bad user!", DJANGO_SUPERUSER_PASSWORD="pw")

    status, output = run_to_exit(with_venv("make run", free_port()), cwd=tree, env=env)

    assert status is not None, f"make run served without the superuser:\n{output}"
    assert status != 0
    assert "CommandError: Superuser 'bad user!' not created: Enter a valid username." in output
    assert "may exist already" not in output
    assert "runserver" not in output


def test_make_run_takes_django_debug_from_env_file(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "jwtauth")
    (tree / ".env").write_text("DJANGO_DEBUG=False\n")  # and no keys: production refuses

    status, output = run_to_exit(with_venv("make run", free_port()), cwd=tree, env=user_env())

    assert status is not None, f"make run served with DEBUG on:\n{output}"
    assert status != 0
    assert "(jwtauth.E001) JWTAUTH_SECRET_KEY is empty" in output
    assert not (tree / ".dev-keys.json").exists()  # DEBUG was never on: no generated keys


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


def test_redis_sentinel_variables_build_the_documented_cache() -> None:
    # docs/deployment.md shows this configuration; tests/faults/test_sentinel.py runs it.
    env = {
        **GOOD,
        "REDIS_SENTINELS": "sentinel-1:26379,sentinel-2:26380,[::1]:26381",
        "REDIS_SENTINEL_MASTER": "mymaster",
    }
    cache = evaluate(env, "s.CACHES['default']")
    assert cache["BACKEND"] == "django_redis.cache.RedisCache"
    assert cache["LOCATION"] == "redis://mymaster/0"
    options = cache["OPTIONS"]
    assert options["CLIENT_CLASS"] == "django_redis.client.SentinelClient"
    assert options["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert options["SENTINELS"] == [["sentinel-1", 26379], ["sentinel-2", 26380], ["::1", 26381]]
    assert (options["SOCKET_CONNECT_TIMEOUT"], options["SOCKET_TIMEOUT"]) == (0.25, 0.25)


def test_a_read_replica_routes_reads_and_keeps_migrations_on_the_primary() -> None:
    env = {
        **GOOD,
        "DATABASE_URL": "postgres://u@db-primary/site",
        "DATABASE_REPLICA_URL": "postgres://u@db-replica/site",
    }
    assert evaluate(env, "[s.DATABASES['replica']['HOST'], s.DATABASE_ROUTERS]") == [
        "db-replica",
        ["project.routers.ReplicaRouter"],
    ]


def test_the_demo_site_answers_in_english_or_a_shipped_language() -> None:
    codes = evaluate(GOOD, "[code for code, name in s.LANGUAGES]")
    shipped = sorted(p.name for p in (ROOT / "jwtauth" / "locale").iterdir() if p.is_dir())
    assert codes[0] == "en"
    assert sorted(to_locale(code) for code in codes[1:]) == shipped
    # A request for a language not offered (Swedish) is answered in English, like none at all.
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "c = Client(HTTP_HOST='127.0.0.1', HTTP_AUTHORIZATION='Bearer x.y.z'); "
        "print(json.dumps([c.get('/api/me/', HTTP_ACCEPT_LANGUAGE=language).json() "
        "for language in ('de-DE,de;q=0.9', 'sv', '')]))"
    )
    result = run(["-c", script], {**GOOD, "DJANGO_HTTPS": "False"})
    assert result.returncode == 0, result.stderr
    english = {"error": "token_invalid", "detail": "The token is not well-formed base64url."}
    german = {"error": "token_invalid", "detail": "Das Token ist kein wohlgeformtes base64url."}
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [german, english, english]
