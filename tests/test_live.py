"""Over real HTTP: the live server, a second server process, and concurrent refreshes.

``live_server`` (a threaded server in this process) and a ``gunicorn`` process with two workers
share the test database (PostgreSQL) and the test run's Redis key prefix, so a revocation made
through one must be refused by the other on its next request, and a refresh race between them
must rotate the family exactly once: the compare-and-set lives in the database, not in a
process.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from django.conf import settings
from django.db import connection

from jwtauth.models import TokenSession
from services import free_port
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent
RACERS = 8  # concurrent refreshes per round


@dataclass(frozen=True)
class Answer:
    """One HTTP response: status, headers and the parsed JSON body (``None`` when empty)."""

    status: int
    headers: Any
    body: Any

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class Server:
    """A server reached over real HTTP."""

    url: str

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Answer:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                return Answer(response.status, response.headers, _json(response.read()))
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, _json(e.read()))

    def raw(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> Any:
        """Send headers exactly as given (repeats included), with http.client."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        try:
            conn.putrequest(method, path)
            for name, value in headers:
                conn.putheader(name, value)
            if body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, response.getheaders(), _json(response.read())
        finally:
            conn.close()

    def login(self, username: str = "alice", **extra: Any) -> dict[str, Any]:
        answer = self.call(
            "POST", "/auth/login/", {"username": username, "password": PASSWORD, **extra}
        )
        assert answer.status == 200, answer.body
        return dict(answer.body)


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


@pytest.fixture
def here(live_server: Any) -> Server:
    """The live server: a threaded WSGI server inside the test process."""
    return Server(live_server.url)


@pytest.fixture(scope="module")
def elsewhere(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Server]:
    """Start ``gunicorn project.wsgi`` (two worker processes) on the test database and prefix."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.live_settings",
        "JWTAUTH_LIVE_DB_NAME": str(connection.settings_dict["NAME"]),
        "JWTAUTH_LIVE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
    }
    command = [
        sys.executable, "-m", "gunicorn", "project.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2",
        "--worker-class", "gthread", "--threads", "4", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    server = Server(f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if server.call("GET", "/api/ping/").status == 200:
                return
        except OSError:
            time.sleep(0.1)  # waiting for a child process to listen, not for app time
    raise RuntimeError(f"gunicorn did not answer:\n{log.read_text()}")


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# --- one server ------------------------------------------------------------------------


def test_login_me_logout_then_the_same_token_is_refused(here: Server, user: Any) -> None:
    pair = here.login()
    me = here.call("GET", "/api/me/", token=pair["access"])
    assert (me.status, me.body) == (200, {"id": user.pk, "username": "alice"})
    assert "Authorization" in me.headers["Vary"]
    logout = here.call("POST", "/auth/logout/", token=pair["access"])
    assert (logout.status, logout.body) == (204, None)
    refused = here.call("GET", "/api/me/", token=pair["access"])
    assert (refused.status, refused.error) == (401, "token_revoked")
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    again = here.call("POST", "/auth/refresh/", {"refresh": pair["refresh"]})
    assert (again.status, again.error) == (401, "token_revoked")


def test_repeated_authorization_headers_are_refused_over_the_wire(
    here: Server, elsewhere: Server, user: Any
) -> None:
    access = here.login()["access"]
    for server in (here, elsewhere):
        status, _, body = server.raw(
            "GET",
            "/api/me/",
            [("Authorization", f"Bearer {access}"), ("Authorization", f"Bearer {access}")],
        )
        assert (status, body["error"]) == (401, "token_invalid")
        status, _, body = server.raw("GET", "/api/me/", [("Authorization", f"Bearer {access}")])
        assert status == 200


def test_an_oversized_body_is_413_over_the_wire(here: Server, elsewhere: Server) -> None:
    body = b'{"username": "' + b"a" * 100_000 + b'"}'
    for server in (here, elsewhere):
        status, _, answer = server.raw(
            "POST", "/auth/login/", [("Content-Type", "application/json")], body
        )
        assert (status, answer["error"]) == (413, "payload_too_large")


def test_cookie_login_sets_the_cookies_as_written_on_the_wire(here: Server, user: Any) -> None:
    # A cookie login needs the CSRF token: fetch it as a browser would, then log in.
    csrf_status, csrf_headers, csrf_body = here.raw("GET", "/auth/csrf/", [])
    assert csrf_status == 200
    csrf_cookie = next(v for k, v in csrf_headers if k == "Set-Cookie").split(";")[0]
    body = json.dumps({"username": "alice", "password": PASSWORD, "cookie": True}).encode()
    status, headers, answer = here.raw(
        "POST",
        "/auth/login/",
        [
            ("Content-Type", "application/json"),
            ("Cookie", csrf_cookie),
            ("X-CSRFToken", csrf_body["csrf_token"]),
        ],
        body,
    )
    assert (status, answer) == (200, {"token_type": "Bearer", "expires_in": 3600})
    set_cookies = {v.split("=", 1)[0]: v for k, v in headers if k == "Set-Cookie"}
    access, refresh = set_cookies["auth_token"], set_cookies["refresh_token"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Max-Age=3600", "Path=/"):
        assert attribute in access.split("; ")
    for attribute in ("HttpOnly", "SameSite=Strict", "Max-Age=604800", "Path=/auth/refresh/"):
        assert attribute in refresh.split("; ")


# --- two processes ---------------------------------------------------------------------


def test_a_logout_here_is_refused_by_the_other_process_on_its_next_request(
    here: Server, elsewhere: Server, user: Any
) -> None:
    pair = here.login()
    # The other process has seen the token live (and the cache holds "not revoked")...
    for _ in range(4):  # several requests, so both gunicorn workers are likely to serve one
        assert elsewhere.call("GET", "/api/me/", token=pair["access"]).status == 200
    assert here.call("POST", "/auth/logout/", token=pair["access"]).status == 204
    # ...and refuses it on the very next request, and every one after.
    for _ in range(4):
        refused = elsewhere.call("GET", "/api/me/", token=pair["access"])
        assert (refused.status, refused.error) == (401, "token_revoked")
    spent = elsewhere.call("POST", "/auth/refresh/", {"refresh": pair["refresh"]})
    assert (spent.status, spent.error) == (401, "token_revoked")


def test_a_logout_all_in_the_other_process_is_refused_here(
    here: Server, elsewhere: Server, user: Any
) -> None:
    first, second = here.login(), elsewhere.login()
    for pair in (first, second):
        assert here.call("GET", "/api/me/", token=pair["access"]).status == 200
    assert elsewhere.call("POST", "/auth/logout-all/", token=second["access"]).status == 204
    for pair in (first, second):
        refused = here.call("GET", "/api/me/", token=pair["access"])
        assert (refused.status, refused.error) == (401, "token_revoked")


def race(servers: tuple[Server, ...], refresh: str) -> list[tuple[Answer, float, float]]:
    """POST ``refresh`` RACERS times at once, spread over ``servers``; time each request."""
    start = threading.Barrier(RACERS)

    def one(i: int) -> tuple[Answer, float, float]:
        start.wait()
        began = time.monotonic()
        answer = servers[i % len(servers)].call("POST", "/auth/refresh/", {"refresh": refresh})
        return answer, began, time.monotonic()

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def test_concurrent_refreshes_across_processes_all_get_the_one_successor(
    here: Server, elsewhere: Server, user: Any
) -> None:
    """Send the same refresh token RACERS times at once, half to each process; three rounds.

    Exactly one rotates the family (the compare-and-set lives in the database); the others are
    retries within the reuse interval, answered with the same successor. Two separate gunicorn
    instances: ``tests/test_rotation_live.py``.
    """
    for _ in range(3):
        pair = here.login()
        results = race((here, elsewhere), pair["refresh"])
        # The requests really were in flight together (not served one after another).
        spans = sorted((began, ended) for _, began, ended in results)
        assert any(nxt[0] < cur[1] for cur, nxt in itertools.pairwise(spans))
        answers = [answer for answer, _, _ in results]
        assert [a.status for a in answers] == [200] * RACERS, [a.body for a in answers]
        assert len({a.body["refresh"] for a in answers}) == 1
        # The session records exactly that successor, and is alive: nobody's tokens died.
        successor = answers[0].body["refresh"]
        row = TokenSession.objects.get(sid=claims(pair["refresh"])["sid"])
        assert row.refresh_jti == claims(successor)["jti"]
        assert row.revoked_at is None
        for server in (here, elsewhere):
            for answer in answers[:2]:
                assert server.call("GET", "/api/me/", token=answer.body["access"]).status == 200
        assert elsewhere.call("POST", "/auth/refresh/", {"refresh": successor}).status == 200
