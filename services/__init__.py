"""Start real services on loopback for the tests, the load test and the benchmarks.

Each one runs as a process of its own on a free port, so a caller may stop, pause, flush or
starve it without touching anybody else's: a PostgreSQL database next to the server
``DATABASE_URL`` names (:class:`Database`), a redis-server (:class:`RedisServer`), a Redis
Sentinel set (:class:`Sentinels`), a TCP link that can be cut (:class:`Proxy`), gunicorn
(:class:`Gunicorn`), and the demo site on all of them (:class:`Stack`).

This is development tooling: it is not part of the jwtauth package and is never installed.
"""

from .gunicorn import Gunicorn
from .postgres import Database
from .process import free_port, wait_until
from .proxy import Proxy
from .redis_server import RedisServer, Sentinels
from .stack import PASSWORD, Stack

__all__ = [
    "PASSWORD",
    "Database",
    "Gunicorn",
    "Proxy",
    "RedisServer",
    "Sentinels",
    "Stack",
    "free_port",
    "wait_until",
]
