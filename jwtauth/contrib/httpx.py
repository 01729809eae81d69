"""Send DPoP-bound requests with httpx (RFC 9449): a proof per request, nonce challenges followed.

::

    import httpx
    from jwtauth.contrib.httpx import DPoPAuth

    auth = DPoPAuth()  # makes and keeps an EC P-256 key
    with httpx.Client(base_url="https://api.example", auth=auth) as client:
        tokens = client.post("/auth/login/", json=credentials).json()
        auth.access_token = tokens["access"]
        client.get("/items/")  # Authorization: DPoP <token>, DPoP: <proof with ath>

Each request gets a fresh proof (``htm``, ``htu``, ``iat``, ``jti``, and ``ath`` once an access
token is set). A ``use_dpop_nonce`` answer (401 with the DPoP challenge, or 400 with the error in
the JSON body at a token endpoint) is retried once with the server's ``DPoP-Nonce``; the last
nonce each origin sent is used from then on. Works with ``httpx.Client`` and
``httpx.AsyncClient`` alike. httpx is an optional dependency (``pip install jwtauth[httpx]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Generator
from typing import Final

from ..dpop.client import DPoPKey

try:
    import httpx
except ImportError as e:  # pragma: no cover - exercised by the packaging test
    raise ImportError("jwtauth.contrib.httpx needs httpx: pip install 'jwtauth[httpx]'") from e

NONCE_ERROR: Final = "use_dpop_nonce"
# RFC 9449 §9: error="use_dpop_nonce" in a DPoP challenge (quoted or as a token).
_NONCE_CHALLENGE: Final = re.compile(r'\berror\s*=\s*"?use_dpop_nonce"?', re.IGNORECASE)


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _may_be_token_endpoint_challenge(response: httpx.Response) -> bool:
    # RFC 9449 §8: a token endpoint says use_dpop_nonce in a 400 JSON body, beside DPoP-Nonce;
    # only then is the body worth reading before deciding.
    return response.status_code == 400 and "DPoP-Nonce" in response.headers


def _asks_for_nonce(response: httpx.Response) -> bool:
    if response.status_code == 401:
        challenges = response.headers.get_list("WWW-Authenticate")
        return any(_NONCE_CHALLENGE.search(value) for value in challenges)
    if _may_be_token_endpoint_challenge(response):
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("error") == NONCE_ERROR
    return False


class DPoPAuth(httpx.Auth):
    """Sign every request with a DPoP proof from ``key``, and send ``access_token`` as DPoP."""

    def __init__(self, key: DPoPKey | None = None, access_token: str | None = None) -> None:
        self.key = key if key is not None else DPoPKey.generate()
        self.access_token = access_token
        self.nonces: dict[str, str] = {}

    def _sign(self, request: httpx.Request) -> None:
        token = self.access_token
        request.headers["DPoP"] = self.key.proof(
            request.method,
            str(request.url),
            access_token=token,
            nonce=self.nonces.get(_origin(request.url)),
        )
        if token is not None:
            request.headers["Authorization"] = f"DPoP {token}"

    def _new_nonce(self, request: httpx.Request, response: httpx.Response) -> bool:
        # RFC 9449 §8.2: any response may carry the nonce to use next.
        nonce = response.headers.get("DPoP-Nonce")
        origin = _origin(request.url)
        if nonce is None or nonce == self.nonces.get(origin):
            return False
        self.nonces[origin] = nonce
        return True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a proof; retry once with the nonce the server asks for."""
        self._sign(request)
        response = yield request
        if self._new_nonce(request, response) and _asks_for_nonce(response):
            self._sign(request)
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Run :meth:`auth_flow`, reading a body only when it may hold a nonce challenge."""
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if _may_be_token_endpoint_challenge(response):
                response.read()
            try:
                request = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Run :meth:`auth_flow` for ``httpx.AsyncClient`` (see :meth:`sync_auth_flow`)."""
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if _may_be_token_endpoint_challenge(response):
                await response.aread()
            try:
                request = flow.send(response)
            except StopIteration:
                return
