"""A PostgreSQL database of the caller's own, created next to the ones a server already has."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

# The database every PostgreSQL server has: where CREATE and DROP DATABASE are sent from.
MAINTENANCE = "postgres"


class Database:
    """A database named ``name`` on the server ``server_url`` names (its own path is ignored)."""

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
        self.drop()
        with self.connect(MAINTENANCE) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        """Drop the database, disconnecting whoever still uses it."""
        with self.connect(MAINTENANCE) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(self.name)))

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
