"""Run the demo site for real, under gunicorn, and give the attacks a handle on it.

One database (PostgreSQL when ``DATABASE_URL`` is set, else a SQLite file) is created and
migrated for the session, one Redis key prefix is used for the run (when ``REDIS_URL`` is set),
and one gunicorn server with two workers is started per signing algorithm on first use. The
servers read their configuration from the environment through ``project/settings.py``, exactly
as a deployment does; the tests know the signing keys, so they can sign whatever they like.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services import free_port
from tests.conftest import PASSWORD
from tests.security import forge, wire

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://issuer.security.test"
AUDIENCE = "jwtauth-security"
USERS = ("alice", "bob", "carol")
ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")

_CREATE_USERS = """
import django
django.setup()
from django.contrib.auth import get_user_model
for name in {users!r}:
    get_user_model().objects.create_user(name, f"{{name}}@example.test", {password!r})
"""


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_private_key(alg: str) -> str:
    """Return a fresh PEM private key for ``alg`` (RS256, ES256 or EdDSA)."""
    if alg == "RS256":
        return _pem(rsa.generate_private_key(65537, 2048))
    if alg == "ES256":
        return _pem(ec.generate_private_key(ec.SECP256R1()))
    return _pem(ed25519.Ed25519PrivateKey.generate())


@dataclass
class Stack:
    """The database and Redis prefix every server of this run shares."""

    workdir: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    django_secret: str = field(default_factory=lambda: secrets.token_urlsafe(50))

    def env(self, **extra: str) -> dict[str, str]:
        """Return a clean, production-like environment for ``manage.py`` or gunicorn."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "JWT_", "REDIS_", "DATABASE_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            DJANGO_DEBUG="False",
            # Plain HTTP on loopback; the HTTPS settings are checked by the deploy-check step.
            DJANGO_HTTPS="False",
            DJANGO_SECRET_KEY=self.django_secret,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.database_url,
            REDIS_KEY_PREFIX=self.redis_prefix,
            JWT_ISSUER=ISSUER,
            JWT_AUDIENCE=AUDIENCE,
            JWT_COOKIES="True",
            JWT_LEEWAY_SECONDS="0",
            JWT_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(extra)
        return env

    def manage(self, *args: str) -> None:
        """Run ``manage.py`` against this stack; raise with its output on failure."""
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(JWT_SECRET_KEY=secrets.token_urlsafe(64)),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a read-only SQL statement on the servers' database and return the rows."""
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(urlsplit(self.database_url).path[1:]) as conn:
                return list(conn.execute(sql))
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return list(conn.execute(sql))  # type: ignore[arg-type]

    def redis_dump(self) -> list[tuple[bytes, bytes | None]]:
        """Return every key under this run's prefix with its raw value (strings only)."""
        if not self.redis_url:
            return []
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.redis_prefix}:*", count=1000))
        return [(k, client.get(k) if client.type(k) == b"string" else None) for k in keys]


def _postgres_database(base_url: str, name: str, drop: bool = False) -> str:
    import psycopg

    parts = urlsplit(base_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Create and migrate the servers' database, with three users; clean up after the run."""
    workdir = tmp_path_factory.mktemp("security")
    base_url = os.environ.get("DATABASE_URL", "")
    db_name = f"jwtauth_security_{os.getpid()}"
    if base_url:
        database_url = _postgres_database(base_url, db_name)
    else:
        database_url = f"sqlite:///{workdir / 'security.sqlite3'}"
    prefix = f"jwtauth-security-{os.getpid()}-{secrets.token_hex(4)}"
    result = Stack(workdir, database_url, os.environ.get("REDIS_URL", ""), prefix)
    result.manage("migrate", "--noinput")
    subprocess.run(
        [sys.executable, "-c", _CREATE_USERS.format(users=USERS, password=PASSWORD)],
        cwd=ROOT,
        env=result.env(JWT_SECRET_KEY=secrets.token_urlsafe(64)),
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield result
    if result.redis_url:
        import redis

        client = redis.Redis.from_url(result.redis_url)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    if base_url:
        _postgres_database(base_url, db_name, drop=True)


class Server:
    """One gunicorn serving the demo site with one signing algorithm."""

    def __init__(self, stack: Stack, alg: str, **extra_env: str) -> None:
        self.stack = stack
        self.alg = alg
        self.port = 0
        tag = f"{alg}-{secrets.token_hex(3)}"  # one file each, as two servers may share an alg
        self.log = stack.workdir / f"gunicorn-{tag}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.secret = b""
        self.private_pem = ""
        if alg.startswith("HS"):
            self.secret = secrets.token_urlsafe(64).encode()
            keys = {"JWT_SECRET_KEY": self.secret.decode()}
        else:
            self.private_pem = new_private_key(alg)
            key_file = stack.workdir / f"{tag}.pem"
            key_file.write_text(self.private_pem)
            key_file.chmod(0o600)
            keys = {"JWT_PRIVATE_KEY": str(key_file), "JWT_SECRET_KEY": ""}
        self.env = stack.env(JWT_ALGORITHM=alg, **keys, **extra_env)
        self._pair: dict[str, Any] | None = None
        self._spare: dict[str, Any] | None = None

    def start(self) -> None:
        """Start gunicorn with two workers (see :meth:`wait` for readiness)."""
        self.port = free_port()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "project.wsgi",
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--timeout",
                    "30",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self) -> None:
        """Wait until the server answers ``/api/ping/``; raise with its log if it died."""
        assert self.process is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.alg}) exited:\n{self.log.read_text()}")
            try:
                if self.request("GET", "/api/ping/", timeout=30).status == 200:
                    return
            except (OSError, wire.Hang):
                time.sleep(0.05)  # waiting for a child process to listen, not for app time
        raise RuntimeError(f"gunicorn ({self.alg}) did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Ask gunicorn for a quick shutdown (SIGINT); :meth:`reap` waits for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def reap(self) -> None:
        """Wait for the stopped server to exit, killing it if it does not."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    # -- talking to it -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str | bytes,
        headers: list[wire.Header] | None = None,
        body: bytes | dict[str, Any] = b"",
        token: str | None = None,
        timeout: float = wire.TIMEOUT,
    ) -> wire.Response:
        """Send one request; ``token`` adds ``Authorization: Bearer``, a dict body is JSON."""
        headers = list(headers or [])
        if token is not None:
            headers.append(("Authorization", f"Bearer {token}"))
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.append(("Content-Type", "application/json"))
        raw = wire.build(method, path, f"127.0.0.1:{self.port}", headers, body)
        return wire.exchange(self.port, raw, timeout)

    def url(self, path: str) -> str:
        """Return the URL a client uses for ``path`` (what a DPoP proof's ``htu`` names)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def me(self, token: str | None = None, **kwargs: Any) -> wire.Response:
        """GET the protected ``/api/me/``."""
        return self.request("GET", "/api/me/", token=token, **kwargs)

    def login(self, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
        """Log in and return the token response (``access``, ``refresh``)."""
        response = self.request(
            "POST", "/auth/login/", body={"username": username, "password": password}
        )
        assert response.status == 200, response.body
        return dict(response.json())

    @property
    def pair(self) -> dict[str, Any]:
        """Return a token pair of alice that no test revokes (for attacks that mutate it)."""
        if self._pair is None:
            self._pair = self.login()
        return self._pair

    @property
    def spare(self) -> dict[str, Any]:
        """Return another pair of alice, for attacks that may get its session taken for dead."""
        if self._spare is None:
            self._spare = self.login()
        return self._spare

    # -- signing with the server's real key ---------------------------------------------

    def signer(self) -> forge.Signer:
        """Return a signer holding the server's real signing key."""
        if self.secret:
            return forge.hmac_signer(self.secret, self.alg)
        return forge.private_signer(self.private_pem)

    def forge(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """Sign ``header`` and ``claims`` with the server's real key."""
        return forge.sign(header, claims, self.signer())

    def resign(self, token: str, header: Any = None, **claims: Any) -> str:
        """Re-sign ``token`` with the real key after changing header members or claims.

        A value of :data:`DROP` removes the member or claim.
        """
        old_header, old_claims = forge.parts(token)
        new_header = _apply(old_header, header or {})
        return self.forge(new_header, _apply(old_claims, claims))


DROP = object()


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@pytest.fixture(scope="session")
def servers(stack: Stack) -> Iterator[dict[str, Server]]:
    """Start one server per algorithm, all at once, and stop them all at the end."""
    started = {alg: Server(stack, alg) for alg in ALGORITHMS}
    try:
        for server in started.values():
            server.start()
        for server in started.values():
            server.wait()
        yield started
    finally:
        for server in started.values():
            server.stop()
        for server in started.values():
            server.reap()


@pytest.fixture(scope="session")
def dpop_server(stack: Stack) -> Iterator[Server]:
    """The demo site with server nonces required and the proxy's forwarded headers trusted.

    Nonces (RFC 9449 §8, §9) on, and ``X-Forwarded-Host``/``-Proto`` trusted as behind a
    proxy that sets them (docs/dpop.md), for the attacks that need either.
    """
    server = Server(
        stack,
        "ES256",
        JWT_DPOP_NONCE="True",
        DJANGO_USE_X_FORWARDED_HOST="True",
        DJANGO_TRUST_X_FORWARDED_PROTO="True",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,api.example.test",
    )
    try:
        server.start()
        server.wait()
        yield server
    finally:
        server.stop()
        server.reap()


@pytest.fixture(scope="session")
def hs256(servers: dict[str, Server]) -> Server:
    """The demo site signing with HS256."""
    return servers["HS256"]


@pytest.fixture(scope="session")
def rs256(servers: dict[str, Server]) -> Server:
    """The demo site signing with RS256 and publishing its key as a JWKS."""
    return servers["RS256"]


@pytest.fixture(scope="session")
def es256(servers: dict[str, Server]) -> Server:
    """The demo site signing with ES256 (P-256)."""
    return servers["ES256"]


@pytest.fixture(scope="session")
def eddsa(servers: dict[str, Server]) -> Server:
    """The demo site signing with EdDSA (Ed25519)."""
    return servers["EdDSA"]


@pytest.fixture(scope="session", params=ALGORITHMS)
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """Each server in turn, for attacks that apply to every algorithm."""
    return servers[request.param]


class Attacker:
    """An "attacker-controlled" HTTP server that logs every request it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b'{"keys": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """Return an attacker URL (``http://127.0.0.1:<port><path>``)."""
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def attacker() -> Iterator[Attacker]:
    """Run the attacker's HTTP server for the session."""
    server = Attacker()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
