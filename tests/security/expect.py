"""State what a refused request looks like: 401, a stable jwtauth code, a Bearer challenge."""

from __future__ import annotations

from tests.security.wire import Response

TOKEN_CODES = frozenset(
    {"token_invalid", "token_expired", "token_revoked", "token_reused", "not_authenticated"}
)


def refused(response: Response, *codes: str) -> None:
    """Assert ``response`` is jwtauth's 401 with one of ``codes`` (any token code by default)."""
    assert response.status == 401, (response.status, response.body[:300])
    assert response.code in (codes or TOKEN_CODES), response.body[:300]
    assert (response.header("WWW-Authenticate") or "").startswith("Bearer"), response.headers
    assert response.header("Cache-Control") == "no-store"


def client_error(response: Response) -> None:
    """Assert the server answered a 4xx: neither accepted nor crashed."""
    assert 400 <= response.status < 500, (response.status, response.body[:300])


def refused_dpop(response: Response, code: str, challenge: str | None = None) -> None:
    """Assert ``response`` is jwtauth's 401 with ``code`` under the DPoP challenge (§7.1).

    ``challenge`` is the challenge's ``error`` (``invalid_token`` for a token code).
    """
    assert response.status == 401, (response.status, response.body[:300])
    assert response.code == code, response.body[:300]
    error = challenge or (code if code in DPOP_CODES else "invalid_token")
    value = response.header("WWW-Authenticate") or ""
    assert value.startswith(f'DPoP error="{error}"'), value
    assert value.endswith('algs="ES256 Ed25519 EdDSA"'), value
    assert response.header("Cache-Control") == "no-store"


DPOP_CODES = frozenset({"invalid_dpop_proof", "use_dpop_nonce"})
