"""jwtauth.dberrors: a database never migrated is a configuration error, not an outage."""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction

from jwtauth.dberrors import database_error, is_missing_schema
from jwtauth.exceptions import ServerMisconfigured, ServiceUnavailable
from services import free_port
from tests.servers import ROOT, demo_env, serving

MIGRATE = "run 'python manage.py migrate'"


def failure(sql: str) -> DatabaseError:
    """Return the error the database raises for ``sql``, as Django wraps it."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as c:
        c.execute(sql)
    return raised.value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql", ["SELECT * FROM jwtauth_no_such_table", "SELECT no_such_column FROM auth_user"]
)
def test_a_missing_table_or_column_is_a_misconfiguration(
    sql: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = failure(sql)

    with caplog.at_level(logging.ERROR, logger="jwtauth"):
        answer = database_error(error, "login")

    assert is_missing_schema(error)
    assert isinstance(answer, ServerMisconfigured)
    assert (answer.status, answer.code) == (500, "server_misconfigured")
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("database not migrated in login (")
    assert record.getMessage().endswith(MIGRATE)


@pytest.mark.django_db
def test_other_database_errors_stay_outages(caplog: pytest.LogCaptureFixture) -> None:
    for error in (failure("SELEC nothing"), OperationalError("server closed the connection")):
        with caplog.at_level(logging.WARNING, logger="jwtauth"):
            answer = database_error(error, "refresh")
        assert not is_missing_schema(error)
        assert isinstance(answer, ServiceUnavailable)
        assert answer.status == 503
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert all("migrate" not in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_login_without_the_user_table_answers_500_with_the_fix(client: Any) -> None:
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("ALTER TABLE auth_user RENAME TO auth_user_elsewhere")

    response = client.post(
        "/auth/login/", {"username": "a", "password": "b"}, content_type="application/json"
    )

    assert response.status_code == 500
    assert response.json()["error"] == "server_misconfigured"
    assert "python manage.py migrate" in response.json()["detail"]
    assert "Retry-After" not in response


def test_a_server_started_without_migrate_says_so(tmp_path: Path) -> None:
    port = free_port()
    env = demo_env(tmp_path / "never-migrated.sqlite3", DJANGO_HTTPS="False")
    command = f"exec {sys.executable} -m gunicorn project.wsgi:application -b 127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    login = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login/",
        data=json.dumps({"username": "admin", "password": "x"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    with (
        serving(command, cwd=ROOT, env=env, port=port, log=log),
        pytest.raises(urllib.error.HTTPError) as answered,
    ):
        urllib.request.urlopen(login, timeout=10)  # noqa: S310 - a loopback http URL

    assert answered.value.code == 500
    assert json.loads(answered.value.read())["error"] == "server_misconfigured"
    assert "database not migrated in login (no such table: auth_user)" in log.read_text()
    assert MIGRATE in log.read_text()
