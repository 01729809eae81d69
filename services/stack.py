"""The demo site on the real stack: a database of its own, a private Redis, gunicorn instances.

The database is created and migrated for the run and dropped after it; the redis-server runs on
a free port so the caller may stop, pause, flush or starve it without touching anybody else's
Redis; every gunicorn instance serves ``project.wsgi`` with several sync workers and shares the
database and the Redis with the others, as separate deployments of one site would. The load
test (``python -m loadtest``) and the tests that need real processes drive it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from .gunicorn import Gunicorn
from .postgres import Database
from .process import ROOT
from .redis_server import RedisServer

PASSWORD = "load-run password, not a real one"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/jwtauth"


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
        self.servers: list[Gunicorn] = []
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
            Gunicorn(self.env, self.workers, self.workdir / f"gunicorn-{i}.log")
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
