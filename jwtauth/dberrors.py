"""Tell a database that is down from one that was never migrated, for clients and operators.

A lost connection is an outage: answer 503 and let the client retry. A missing table or column
is a deployment that skipped ``migrate``: retrying cannot help, so it is answered 500
``server_misconfigured`` and logged as an error naming the fix. Every layer that turns a
``DatabaseError`` into an answer (the endpoint wrapper, the middleware, the adapters) calls
:func:`database_error`, so they agree.
"""

from __future__ import annotations

import logging
import re
import sqlite3

from django.db import Error

from .exceptions import JWTAuthError, ServerMisconfigured, ServiceUnavailable

logger = logging.getLogger("jwtauth")

# PostgreSQL SQLSTATEs (PostgreSQL manual, Appendix A): undefined_table, undefined_column.
MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
# SQLite gives these errors no code of their own (all are SQLITE_ERROR); its wording is stable.
MISSING_SCHEMA_SQLITE = re.compile(r"no such table|no such column|has no column named")


def is_missing_schema(error: Error) -> bool:
    """Tell whether ``error`` says a table or column does not exist (``migrate`` not run)."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in MISSING_SCHEMA_SQLSTATES
    return isinstance(cause, sqlite3.Error) and bool(MISSING_SCHEMA_SQLITE.search(str(cause)))


def database_error(error: Error, where: str) -> JWTAuthError:
    """Return the error to answer for ``error``, met in ``where``, and log it for operators."""
    if is_missing_schema(error):
        # The first line names the table or column; the rest can quote the SQL.
        first_line = (str(error).strip().splitlines() or [error.__class__.__name__])[0]
        logger.error(
            "database not migrated in %s (%s): run 'python manage.py migrate'", where, first_line
        )
        return ServerMisconfigured()
    logger.warning("database unavailable in %s: %s", where, error.__class__.__name__)
    return ServiceUnavailable()
