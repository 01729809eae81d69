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

import httpx
import jwt
import pytest
from django.conf import settings
from django.db import connection

from jwtauth.contrib.httpx import DPoPAuth
from jwtauth.dpop.client import DPoPKey
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
        # Server nonces on there (they concern DPoP proofs only): the DPoP tests check that
        # one process accepts the nonces another gave out.
        "JWTAUTH_LIVE_DPOP_NONCE": "1",
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


def test_a_refusal_is_explained_in_the_language_asked_for_in_every_process(
    here: Server, elsewhere: Server, user: Any
) -> None:
    access = here.login()["access"]
    assert here.call("POST", "/auth/logout/", token=access).status == 204
    asked = [("Authorization", f"Bearer {access}"), ("Accept-Language", "de-DE,de;q=0.9")]
    for server in (here, elsewhere):
        status, headers, body = server.raw("GET", "/api/me/", asked)
        assert (status, body) == (
            401,
            {"error": "token_revoked", "detail": "Das Token wurde widerrufen."},
        )
        assert dict(headers)["Content-Language"] == "de"


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


# --- DPoP with the Python client helper (jwtauth.contrib.httpx) -------------------------------


def test_the_httpx_helper_logs_in_calls_refreshes_and_logs_out_with_bound_tokens(
    here: Server, elsewhere: Server, user: Any
) -> None:
    auth = DPoPAuth()
    with (
        httpx.Client(base_url=here.url, auth=auth) as near,
        httpx.Client(base_url=elsewhere.url, auth=auth) as far,
    ):
        login = near.post("/auth/login/", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["token_type"] == "DPoP"
        assert claims(login.json()["access"])["cnf"] == {"jkt": auth.key.thumbprint}
        auth.access_token = login.json()["access"]
        # The other process asks for a nonce first (its nonces are on): the helper follows.
        for client in (near, far):
            for path in ("/api/me/", "/api/drf/me/", "/api/ninja/me/"):
                response = client.get(path)
                assert response.status_code == 200, (client.base_url, path, response.text)
        # The access token alone, as a thief would hold it, is worthless in either process.
        for server in (here, elsewhere):
            stolen = server.call("GET", "/api/me/", token=auth.access_token)
            assert (stolen.status, stolen.error) == (401, "token_invalid")
            assert stolen.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
        refreshed = far.post("/auth/refresh/", json={"refresh": login.json()["refresh"]})
        assert refreshed.status_code == 200, refreshed.text
        auth.access_token = refreshed.json()["access"]
        assert near.get("/api/me/").status_code == 200
        assert near.post("/auth/logout/").status_code == 204
        refused = far.get("/api/me/")
        assert (refused.status_code, refused.json()["error"]) == (401, "token_revoked")


def test_a_nonce_from_one_process_is_good_in_every_other_and_a_proof_only_once(
    here: Server, elsewhere: Server, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_DPOP_NONCE = True  # in this process; the gunicorn workers have it too
    key = DPoPKey.generate()
    # Any answer to a request carrying a proof names the nonce to use (RFC 9449 §8.2).
    pinged = httpx.get(f"{elsewhere.url}/api/ping/", headers={"DPoP": key.proof("GET", "x")})
    nonce = pinged.headers["DPoP-Nonce"]
    login = httpx.post(
        f"{here.url}/auth/login/",
        json={"username": "alice", "password": PASSWORD},
        headers={"DPoP": key.proof("POST", f"{here.url}/auth/login/", nonce=nonce)},
    )
    assert login.status_code == 200, login.text  # no challenge: the nonce is good here too
    bound = login.json()["access"]
    url = f"{elsewhere.url}/api/me/"
    proof = key.proof("GET", url, access_token=bound, nonce=nonce)
    headers = {"Authorization": f"DPoP {bound}", "DPoP": proof}
    # Sent four times to two workers: the first is accepted, every replay refused, whichever
    # worker it reaches (the replay cache is shared, RFC 9449 §11.1).
    statuses = [httpx.get(url, headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 401, 401, 401]
