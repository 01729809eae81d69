"""Drive the site like many clients at once, and count what must never happen.

Each client thread plays one user: log in (or take a session issued beforehand), read
``/api/me/`` with the access token, refresh now and then, log out; right after each logout
returns it presents the dead tokens again, on the same instance and, for a share of them, on
the other one: any 200 there is a revoked token accepted after its revocation returned, the
figure that must stay 0. A logout refused with 503 ``revocation_unavailable`` is put aside and
retried once its ``Retry-After`` has passed, while the client goes on with other sessions, as
a service acting for many users would. Every request is recorded (start, end, kind, status)
so the caller can compute latencies over any window, a fault's included.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import random
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]

# What each kind of request must answer; anything else is an error.
EXPECTED = {
    "login": 200,
    "read": 200,
    "refresh": 200,
    "logout": 204,
    "dead-read": 401,
    "dead-refresh": 401,
    "reuse": 401,
    "after-reuse": 401,
}
DEAD_KINDS = {"dead-read", "dead-refresh", "reuse", "after-reuse"}
# Requests that revoke: while the cache cannot be made to refuse, they answer 503
# revocation_unavailable rather than a success that would not hold everywhere.
REVOKING = {"logout", "reuse"}


@dataclass(frozen=True)
class Record:
    """One request: when it started and ended (monotonic seconds), what, where, its status."""

    start: float
    end: float
    kind: str
    status: int
    server: int

    @property
    def ms(self) -> float:
        """Return the latency in milliseconds."""
        return (self.end - self.start) * 1000


@dataclass
class Reply:
    """An HTTP answer: status (0 when the connection failed) and its JSON body, if any."""

    status: int
    body: Any
    raw: bytes
    retry_after: float = 0.0


def claims(token: str) -> dict[str, Any]:
    """Return a token's payload without verifying it (the client only reads jti and sid)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


class Client:
    """One HTTP/1.1 connection per server, reopened after gunicorn closes it."""

    def __init__(self, servers: Sequence[Address], timeout: float = 30.0) -> None:
        self.conns = [http.client.HTTPConnection(h, p, timeout=timeout) for h, p in servers]

    def call(
        self,
        server: int,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Reply:
        """Send one request and read the whole answer."""
        headers = {"Accept": "application/json"}
        data = None
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self.conns[server]
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            return Reply(0, None, repr(e).encode())
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        wait = response.getheader("Retry-After", "")
        return Reply(response.status, parsed, raw, float(wait) if wait.isdigit() else 0.0)

    def close(self) -> None:
        """Close every connection."""
        for conn in self.conns:
            conn.close()


class Backlog:
    """One client's logouts refused for now, retried once the server's Retry-After has passed."""

    def __init__(self) -> None:
        self.waiting: deque[tuple[str, str]] = deque()
        self.not_before = 0.0

    def backing_off(self) -> bool:
        """Tell whether the client must not send a revocation yet."""
        return time.monotonic() < self.not_before

    def due(self) -> bool:
        """Tell whether a refused logout may be sent again."""
        return bool(self.waiting) and not self.backing_off()

    def defer(self, access: str, refresh: str, seconds: float) -> None:
        """Put a logout aside; send no revocation for ``seconds`` (at least one)."""
        self.waiting.append((access, refresh))
        self.not_before = max(self.not_before, time.monotonic() + max(seconds, 1.0))


@dataclass
class Mix:
    """The shape of each client's session: reads per session, refresh cadence, shares."""

    reads_per_session: int = 20
    refresh_every: int = 5
    other_server_share: float = 0.5
    reuse_share: float = 0.05
    # Share of sessions started by a real login (a password hash, the costliest request);
    # the others come from the pool of sessions issued beforehand, while it lasts.
    login_share: float = 1.0
    allow_503: bool = False


@dataclass
class Outcome:
    """What a run recorded: every request, the errors, and the revoked tokens accepted."""

    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    revoked_accepted: list[str] = field(default_factory=list)
    logouts: list[tuple[str, str, int]] = field(default_factory=list)
    unavailable: int = 0
    refused_revocations: int = 0
    seconds: float = 0.0

    def window(self, start: float, end: float) -> list[Record]:
        """Return the records of requests that started in [start, end)."""
        return [r for r in self.records if start <= r.start < end]

    def dead_probes(self) -> int:
        """Return how many times a revoked token was presented again."""
        return sum(1 for r in self.records if r.kind in DEAD_KINDS)


def percentile(values: Sequence[float], p: float) -> float:
    """Return the ``p``-th percentile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_table(records: Sequence[Record]) -> dict[str, dict[str, float]]:
    """Return count, p50, p99 and max latency (ms) per kind, and over all requests."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by_kind[r.kind].append(r.ms)
        by_kind["all"].append(r.ms)
    return {
        kind: {
            "count": len(ms),
            "p50_ms": round(percentile(ms, 50), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1),
        }
        for kind, ms in sorted(by_kind.items())
    }


class LoadRun:
    """Client threads against one or more instances until :meth:`stop`."""

    def __init__(
        self,
        servers: Sequence[Address],
        *,
        clients: int,
        usernames: Sequence[str] = (),
        password: str = "",
        pairs: Sequence[tuple[str, str]] = (),
        mix: Mix | None = None,
        seed: int = 0,
    ) -> None:
        if usernames and len(usernames) < clients:
            raise ValueError("give each client a user of its own (login throttling is per user)")
        if not usernames and not pairs:
            raise ValueError("give users to log in, or issued sessions, or both")
        self.servers = list(servers)
        self.clients = clients
        self.usernames = list(usernames)
        self.password = password
        self.pool: queue.Queue[tuple[str, str]] = queue.Queue()
        for pair in pairs:
            self.pool.put(pair)
        self.mix = mix or Mix()
        self.seed = seed
        self.outcome = Outcome()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.started = 0.0

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(self, start: float, kind: str, server: int, reply: Reply) -> Reply:
        end = time.monotonic()
        with self.lock:
            self.outcome.records.append(Record(start, end, kind, reply.status, server))
            if kind in REVOKING and _is_refused_revocation(reply):
                # Refused loudly because it could not be put in force everywhere: allowed,
                # and the tokens stay alive (the client retries the logout).
                self.outcome.refused_revocations += 1
            elif reply.status == 503 and self.mix.allow_503 and _is_clean_503(reply):
                self.outcome.unavailable += 1
            elif reply.status != EXPECTED[kind]:
                if kind in DEAD_KINDS and reply.status == 200:
                    self.outcome.revoked_accepted.append(f"{kind} on server {server}")
                else:
                    body = reply.raw[:160].decode(errors="replace")
                    self.outcome.errors.append(f"{kind} on server {server}: {reply.status} {body}")
        return reply

    def _send(
        self,
        client: Client,
        server: int,
        kind: str,
        method: str,
        path: str,
        *,
        retry: bool = True,
        **kw: Any,
    ) -> Reply:
        # A clean 503 is retried, as a real client would; anything else is final.
        while True:
            start = time.monotonic()
            reply = self._record(start, kind, server, client.call(server, method, path, **kw))
            if not (retry and reply.status == 503 and self.mix.allow_503):
                return reply
            if self.stopping.is_set():
                return reply

    # -- one client -------------------------------------------------------------------------

    def _session(
        self, client: Client, rng: random.Random, home: int, username: str | None
    ) -> tuple[str, str] | None:
        if username is None or rng.random() >= self.mix.login_share:
            try:
                return self.pool.get_nowait()
            except queue.Empty:
                if username is None:
                    return None
        body = {"username": username, "password": self.password}
        reply = self._send(client, home, "login", "POST", "/auth/login/", body=body)
        if reply.status != 200:
            return None
        return reply.body["access"], reply.body["refresh"]

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)  # noqa: S311 - traffic shape, not secrets
        home = index % len(self.servers)
        other = (home + 1) % len(self.servers)
        username = self.usernames[index] if self.usernames else None
        client = Client(self.servers)
        backlog = Backlog()
        try:
            while not self.stopping.is_set():
                while backlog.due() and not self.stopping.is_set():
                    access, refresh = backlog.waiting.popleft()
                    self._logout(client, rng, home, other, access, refresh, backlog)
                pair = self._session(client, rng, home, username)
                if pair is None:
                    if username is None:
                        return  # the pool of issued sessions is used up
                    continue
                self._use(client, rng, home, other, pair, backlog)
        finally:
            client.close()
            with self.lock:  # never revoked: the rows are checked as the last refusal left them
                self.outcome.logouts.extend((*_ids(a), 503) for a, _ in backlog.waiting)

    def _use(
        self,
        client: Client,
        rng: random.Random,
        home: int,
        other: int,
        pair: tuple[str, str],
        backlog: Backlog,
    ) -> None:
        access, refresh = pair
        mix = self.mix
        for i in range(1, mix.reads_per_session + 1):
            if self.stopping.is_set():
                return
            if self._send(client, home, "read", "GET", "/api/me/", token=access).status != 200:
                return
            if i % mix.refresh_every:
                continue
            reply = self._send(
                client, home, "refresh", "POST", "/auth/refresh/", body={"refresh": refresh}
            )
            if reply.status != 200:
                return
            spent, access, refresh = refresh, reply.body["access"], reply.body["refresh"]
            if rng.random() < mix.reuse_share:
                self._reuse(client, home, other, spent, refresh)
                return
        self._logout(client, rng, home, other, access, refresh, backlog)

    def _reuse(self, client: Client, home: int, other: int, spent: str, refresh: str) -> None:
        # RFC 9700 §4.14.2: replaying a rotated refresh token revokes its whole family, so the
        # access token issued by the last rotation must be refused right after. The previous
        # token is a client's retry within the reuse interval: rotate once more, and replay
        # the token two generations old, which is theft whatever the timing.
        reply = self._send(
            client, home, "refresh", "POST", "/auth/refresh/", body={"refresh": refresh}
        )
        if reply.status != 200:
            return
        access = reply.body["access"]
        reply = self._send(
            client, other, "reuse", "POST", "/auth/refresh/", body={"refresh": spent}
        )
        if reply.status == 401:
            self._send(client, home, "after-reuse", "GET", "/api/me/", token=access)

    def _logout(
        self,
        client: Client,
        rng: random.Random,
        home: int,
        other: int,
        access: str,
        refresh: str,
        backlog: Backlog,
    ) -> None:
        # Not retried on other failures: the rows of a failed logout are checked as they were
        # left. A refused revocation is retried after the server's Retry-After, as told.
        if backlog.backing_off():
            backlog.waiting.append((access, refresh))
            return
        body = {"refresh": refresh}
        reply = self._send(
            client, home, "logout", "POST", "/auth/logout/", token=access, body=body, retry=False
        )
        if _is_refused_revocation(reply) and not self.stopping.is_set():
            backlog.defer(access, refresh, reply.retry_after)
            return
        with self.lock:
            self.outcome.logouts.append((*_ids(access), reply.status))
        if reply.status != 204:
            return
        # The revocation has returned: from now on the dead tokens must be refused everywhere.
        self._send(client, home, "dead-read", "GET", "/api/me/", token=access)
        if rng.random() < self.mix.other_server_share:
            self._send(client, other, "dead-read", "GET", "/api/me/", token=access)
        where = other if rng.random() < self.mix.other_server_share else home
        self._send(
            client, where, "dead-refresh", "POST", "/auth/refresh/", body={"refresh": refresh}
        )

    # -- control ----------------------------------------------------------------------------

    def start(self) -> LoadRun:
        """Start the client threads."""
        self.started = time.monotonic()
        self.threads = [
            threading.Thread(target=self._client, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Outcome:
        """Stop the clients (each finishes its request in flight) and return the outcome."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        self.outcome.seconds = time.monotonic() - self.started
        return self.outcome

    def run(self, seconds: float) -> Outcome:
        """Run for ``seconds`` of wall time and return the outcome."""
        self.start()
        self.stopping.wait(seconds)
        return self.stop()

    def served(self) -> int:
        """Return how many requests have been answered so far."""
        with self.lock:
            return len(self.outcome.records)


def _ids(access: str) -> tuple[str, str]:
    c = claims(access)
    return c["jti"], c["sid"]


def _is_refused_revocation(reply: Reply) -> bool:
    body = reply.body
    return (
        reply.status == 503
        and isinstance(body, dict)
        and body.get("error") == "revocation_unavailable"
    )


def _is_clean_503(reply: Reply) -> bool:
    return isinstance(reply.body, dict) and reply.body.get("error") == "service_unavailable"


def summary(outcome: Outcome) -> dict[str, Any]:
    """Return the figures a run is judged on."""
    statuses = Counter(r.status for r in outcome.records)
    return {
        "seconds": round(outcome.seconds, 1),
        "requests": len(outcome.records),
        "requests_per_second": round(len(outcome.records) / max(outcome.seconds, 1e-9), 1),
        "errors": len(outcome.errors),
        "status_429": statuses.get(429, 0),
        "revocations_refused": outcome.refused_revocations,
        "status_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "revoked_probes": outcome.dead_probes(),
        "revoked_accepted": len(outcome.revoked_accepted),
        "latency": latency_table(outcome.records),
    }
