"""Speak HTTP/1.1 over a raw socket, so tests can send what well-behaved clients refuse to.

``http.client`` will not send two ``Authorization`` headers, bytes that are not Latin-1, or a
64 KiB header line; attackers will. Every exchange has a socket timeout, so a server that
hangs fails the test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

TIMEOUT = 15.0
Header = tuple[str | bytes, str | bytes]


class Hang(AssertionError):
    """The server neither answered nor closed the connection within the timeout."""


@dataclass
class Response:
    """A parsed HTTP response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the first header called ``name`` (case-insensitive), or ``None``."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Return every header called ``name``, e.g. each ``Set-Cookie``."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """Return jwtauth's stable ``error`` code, when the body is a jwtauth error."""
        try:
            body = self.json()
        except ValueError:
            return None
        return body.get("error") if isinstance(body, dict) else None


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def build(
    method: str,
    target: str | bytes,
    host: str,
    headers: Iterable[Header] = (),
    body: bytes = b"",
) -> bytes:
    """Assemble one request, byte for byte, with ``Connection: close``."""
    lines = [_bytes(method) + b" " + _bytes(target) + b" HTTP/1.1", b"Host: " + _bytes(host)]
    lines += [_bytes(name) + b": " + _bytes(value) for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def parse(raw: bytes) -> Response:
    """Parse a complete response read up to the server's close."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"incomplete HTTP response: {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
    pairs = [(k, v) for k, v in headers]
    response = Response(status, pairs, body)
    if (response.header("Transfer-Encoding") or "").lower() == "chunked":
        response.body = _dechunk(body)
    return response


def exchange(port: int, request: bytes, timeout: float = TIMEOUT) -> Response:
    """Send ``request`` to 127.0.0.1:``port`` and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before reading an oversized request whole.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError as e:
            raise Hang(f"no complete answer within {timeout}s") from e
        except ConnectionResetError:
            if not chunks:
                raise
    return parse(b"".join(chunks))
