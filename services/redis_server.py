"""redis-server processes of the caller's own: one server, or a Sentinel set with a replica."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import redis

from .process import free_port, wait_until


def redis_server() -> str:
    """Return the path of the redis-server binary, or say how to install it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is required (Debian/Ubuntu: apt-get install redis-server; "
            "macOS: brew install redis)"
        )
    return binary


def pings(client: redis.Redis) -> bool:
    """Tell whether a PING through ``client`` is answered now."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class RedisServer:
    """A redis-server of the caller's own on a free port, without persistence unless asked.

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

    def _persistence(self) -> tuple[str, ...]:
        if self.persist == "aof":
            return ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
        return ("--save", "", "--appendonly", "no")

    def start(self) -> None:
        """Start the server (again, on the same port, with its files) and wait until it answers."""
        self.process = subprocess.Popen(
            [
                *(redis_server(), "--port", str(self.port), "--bind", "127.0.0.1"),
                *(*self._persistence(), "--dir", str(self.dir), *self.extra),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: pings(self.client()), "redis-server to answer")

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
                    [redis_server(), str(config), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_until(self._replica_known, "the sentinels to discover the replica", timeout=60)

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _replica_known(self) -> bool:
        try:
            return all(self._sees_all(self._sentinel(port)) for port in self.sentinel_ports)
        except redis.RedisError:
            return False

    def _sees_all(self, sentinel: redis.Redis) -> bool:
        master = sentinel.sentinel_master(self.NAME)
        replicas = sentinel.sentinel_slaves(self.NAME)
        return (
            isinstance(master, dict)
            and master["num-other-sentinels"] == 2
            and isinstance(replicas, list)
            and len(replicas) == 1
        )

    def master_port(self) -> int | None:
        """Return the port the sentinels name as master now (``None`` if none answers)."""
        for port in self.sentinel_ports:
            try:
                address = self._sentinel(port).sentinel_get_master_addr_by_name(self.NAME)
            except redis.RedisError:
                continue
            if isinstance(address, tuple | list):  # None while no master is known
                return int(address[1])
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
