"""Start the real stack on loopback: a database of its own, a private Redis, gunicorn instances.

The database is created and migrated for the run and dropped after it; the redis-server runs on
a free port so the caller may stop, pause, flush or starve it without touching anybody else's
Redis; every gunicorn instance serves ``project.wsgi`` with several sync workers and shares the
database and the Redis with the others, as separate deployments of one site would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-run password, not a real one"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/jwtauth"


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``ready`` until it answers true; a child process coming up is what we wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


class Database:
    """A PostgreSQL database of the run's own, next to the one ``DATABASE_URL`` names."""

    def __init__(self, server_url: str, name: str) -> None:
        self.parts = urlsplit(server_url)
        self.name = name

    def _url(self, database: str) -> str:
        return urlunsplit(self.parts._replace(path=f"/{database}"))

    @property
    def url(self) -> str:
        """Return the URL of this database."""
        return self._url(self.name)

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        """Open an autocommit connection to this database (or to ``database``)."""
        return psycopg.connect(self._url(database or self.name), autocommit=True)

    def create(self) -> None:
        """Create the database, dropping a leftover of the same name first."""
        with self.connect("postgres") as conn:
            ident = sql.Identifier(self.name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))

    def drop(self) -> None:
        """Drop the database, disconnecting whoever still uses it."""
        with self.connect("postgres") as conn:
            ident = sql.Identifier(self.name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))

    def terminate_backends(self, conn: psycopg.Connection[Any] | None = None) -> int:
        """Kill every other connection to the database; return how many were killed."""
        query = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        if conn is not None:
            row = conn.execute(query, (self.name,)).fetchone()
        else:
            with self.connect() as own:
                row = own.execute(query, (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def lock_waiters(self) -> int:
        """Return how many connections to the database wait on a lock right now."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %s AND wait_event_type = 'Lock'",
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0


class RedisServer:
    """A redis-server of the run's own on a free port, without persistence unless asked.

    ``persist`` is ``"rdb"`` (snapshots taken with SAVE, loaded at start), ``"aof"`` (an
    append-only file, fsynced every second) or ``None``; ``extra`` adds command-line options.
    """

    def __init__(
        self, workdir: Path, persist: str | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.dir = workdir
        self.persist = persist
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """Return a client for inspecting and breaking the server."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def _persistence(self) -> tuple[str, ...]:
        if self.persist == "aof":
            return ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
        return ("--save", "", "--appendonly", "no")

    def start(self) -> None:
        """Start the server (again, on the same port, with its files) and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is required")
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *(*self._persistence(), "--dir", str(self.dir), *self.extra),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, "redis-server to answer")

    def start_as_replica_of(self, port: int) -> None:
        """Start the server again as a replica of the one on ``port`` (a master rejoining)."""
        self.extra = (*self.extra, "--replicaof", "127.0.0.1", str(port))
        self.start()

    def stop(self) -> None:
        """Kill the server (SIGKILL, no shutdown save), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """Freeze the server: connections open, nothing answers (a hung or partitioned Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server, with its data as it was."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def calls(self, command: str) -> int:
        """Return how many times ``command`` ran since the server started (INFO commandstats)."""
        stats = self.client().info("commandstats")
        return int(stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0))

    def run_id(self) -> str:
        """Return the server's run_id (new at every start)."""
        return str(self.client().info("server")["run_id"])


class Sentinels:
    """A Redis Sentinel set on loopback: a master, a replica and three sentinels.

    Failovers are fast (a master is down after ``down_after_ms``) so a test can wait for one.
    """

    NAME = "jwtauth"

    def __init__(self, workdir: Path, down_after_ms: int = 1000) -> None:
        self.workdir = workdir
        self.down_after_ms = down_after_ms
        self.nodes = [self._node("master")]
        master = self.nodes[0]
        self.nodes.append(self._node("replica", ("--replicaof", "127.0.0.1", str(master.port))))
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def _node(self, name: str, extra: tuple[str, ...] = ()) -> RedisServer:
        directory = self.workdir / name
        directory.mkdir(exist_ok=True)
        return RedisServer(directory, extra=extra)

    @property
    def addresses(self) -> str:
        """Return the sentinels as ``host:port,host:port,...`` (REDIS_SENTINELS)."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        """Start both data nodes and the sentinels; wait until they see the replica."""
        for node in self.nodes:
            node.start()
        binary = shutil.which("redis-server")
        assert binary is not None
        master = self.nodes[0]
        for port in self.sentinel_ports:
            config = self.workdir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"logfile {self.workdir / f'sentinel-{port}.log'}\n"
                f"sentinel monitor {self.NAME} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {self.NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.NAME} 10000\n"
                f"sentinel parallel-syncs {self.NAME} 1\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [binary, str(config), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_until(self._replica_known, "the sentinels to discover the replica", timeout=60)

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _replica_known(self) -> bool:
        try:
            return all(
                len(self._sentinel(port).sentinel_slaves(self.NAME)) == 1
                and self._sentinel(port).sentinel_master(self.NAME)["num-other-sentinels"] == 2
                for port in self.sentinel_ports
            )
        except redis.RedisError:
            return False

    def master_port(self) -> int | None:
        """Return the port the sentinels name as master now (``None`` if none answers)."""
        for port in self.sentinel_ports:
            try:
                _, master = self._sentinel(port).sentinel_get_master_addr_by_name(self.NAME)
                return int(master)
            except (redis.RedisError, TypeError):
                continue
        return None

    def node(self, port: int) -> RedisServer:
        """Return the data node listening on ``port``."""
        return next(node for node in self.nodes if node.port == port)

    def stop(self) -> None:
        """Stop the sentinels and both data nodes."""
        for process in self.sentinels:
            process.kill()
            process.wait()
        self.sentinels = []
        for node in self.nodes:
            node.stop()


class Proxy:
    """A TCP forwarder to a Redis, so one app server's link to it can be cut and healed."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the Redis URL through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start forwarding and wait until a PING goes through."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadtest.proxy",
                str(self.port),
                "127.0.0.1",
                str(self.target_port),
            ],
            cwd=ROOT,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        wait_until(lambda: _pings(client), "the proxy to forward")

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


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class Server:
    """One gunicorn instance of the demo site on a free loopback port."""

    def __init__(
        self, env: dict[str, str], workers: int, log: Path, args: tuple[str, ...] = ()
    ) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log = log
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return (host, port)."""
        return ("127.0.0.1", self.port)

    def _answers(self) -> bool:
        import http.client

        conn = http.client.HTTPConnection(*self.address, timeout=2)
        try:
            conn.request("GET", "/api/ping/")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def start(self) -> None:
        """Start gunicorn and wait until the site answers."""
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "project.wsgi"),
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


class Stack:
    """The demo site on gunicorn, with a database and a Redis of its own."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        db_name: str | None = None,
        instances: int = 2,
        workers: int | None = None,
        retry_after: float = 1.0,
    ) -> None:
        self.workdir = workdir
        server_url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        self.db = Database(server_url, db_name or f"jwtauth_stack_{os.getpid()}")
        self.redis = RedisServer(workdir)
        self.instances = instances
        self.workers = workers or os.cpu_count() or 2
        self.retry_after = retry_after
        self.servers: list[Server] = []
        self.secrets = {"django": secrets.token_urlsafe(50), "jwt": secrets.token_urlsafe(64)}

    @property
    def env(self) -> dict[str, str]:
        """Return the environment every process of the site runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            DJANGO_DEBUG="False",
            DJANGO_HTTPS="False",
            DJANGO_SECRET_KEY=self.secrets["django"],
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_CONN_MAX_AGE="60",
            DATABASE_URL=self.db.url,
            REDIS_URL=self.redis.url,
            REDIS_KEY_PREFIX="stack",
            JWT_SECRET_KEY=self.secrets["jwt"],
            JWT_CACHE_RETRY_AFTER=str(self.retry_after),
            JWT_LOG_LEVEL="ERROR",
        )
        return env

    def start(self) -> None:
        """Create and migrate the database, start Redis, then every gunicorn instance."""
        self.db.create()
        self.redis.start()
        self.manage("migrate", "--noinput")
        self.start_servers()

    def start_servers(self) -> None:
        """Start the gunicorn instances (again, on new ports)."""
        self.stop_servers()
        self.servers = [
            Server(self.env, self.workers, self.workdir / f"gunicorn-{i}.log")
            for i in range(self.instances)
        ]
        for server in self.servers:
            server.start()

    def stop_servers(self) -> None:
        """Stop every gunicorn instance."""
        for server in self.servers:
            server.stop()

    def close(self) -> None:
        """Stop everything and drop the database."""
        self.stop_servers()
        self.redis.stop()
        self.db.drop()

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` against the stack's database and Redis; return its output."""
        return self.manage_on(self.db.url, *args)

    def manage_on(self, database_url: str, *args: str) -> str:
        """Run ``manage.py`` against ``database_url`` and the stack's Redis."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr}")
        return done.stdout

    def django(self, code: str) -> Any:
        """Run ``code`` in a Django shell of the site; return what it printed as JSON."""
        return json.loads(self.manage("shell", "--verbosity", "0", "--command", code))

    def create_users(self, count: int, prefix: str = "load") -> list[str]:
        """Create ``count`` active users sharing :data:`PASSWORD`; return their usernames."""
        return list(
            self.django(
                "import json\n"
                "from django.contrib.auth import get_user_model\n"
                "from django.contrib.auth.hashers import make_password\n"
                "User = get_user_model()\n"
                f"names = [f'{prefix}{{i:04d}}' for i in range({count})]\n"
                f"hashed = make_password({PASSWORD!r})\n"
                "User.objects.bulk_create([User(username=n, password=hashed) for n in names],"
                " ignore_conflicts=True)\n"
                "print(json.dumps(names))\n"
            )
        )

    def issue_sessions(self, usernames: list[str], per_user: int) -> list[tuple[str, str]]:
        """Start ``per_user`` sessions for each user server-side; return (access, refresh) pairs.

        Issuing them in one process skips the password hash a login costs, so a fault test can
        hold hundreds of live sessions without minutes of logins first.
        """
        pairs = self.django(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from jwtauth import sessions\n"
            f"users = get_user_model().objects.filter(username__in={usernames!r})\n"
            f"pairs = [sessions.start(u, user_agent='loadtest') for u in users"
            f" for _ in range({per_user})]\n"
            "print(json.dumps([[p.access, p.refresh] for p in pairs]))\n"
        )
        return [(access, refresh) for access, refresh in pairs]

    def revoke_session(self, sid: str) -> bool:
        """Revoke a session from a separate process, as an admin would."""
        return bool(
            self.django(
                "import json\n"
                "from jwtauth.revocation import revoke_session\n"
                f"print(json.dumps(revoke_session({sid!r}, reason='admin')))\n"
            )
        )

    def revoke_user(self, username: str) -> None:
        """Revoke every token of a user from a separate process, as an admin would."""
        self.django(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from jwtauth.revocation import revoke_user\n"
            f"user = get_user_model().objects.get(username={username!r})\n"
            "revoke_user(user.pk, reason='admin')\n"
            "print(json.dumps(True))\n"
        )

    def tracebacks(self) -> str:
        """Return every traceback the gunicorn instances logged."""
        return "".join(server.tracebacks() for server in self.servers)
