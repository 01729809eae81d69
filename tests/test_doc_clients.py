"""The client code the docs show, run as written against the live server.

docs/clients.md's Python client (log in, refresh once on ``token_expired``, log out),
docs/keys.md's verifier for other services (PyJWT and the published JWK Set) and docs/dpop.md's
httpx client (DPoP-bound tokens). Each snippet is read from its page; the test changes only the
reader's own values (the server's address, a user, an API path). Time moves with the clock
seam, never with sleeps.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
import requests

from jwtauth.conf import conf
from services import free_port
from tests.conftest import PASSWORD, use_redis
from tests.snippets import snippet

# The names keys.md's verifier pins are the README's example settings.
README_ISSUER = "https://mysite.example"
README_AUDIENCE = "mysite-api"


def run(doc: str, marker: str, **replace: str) -> dict[str, Any]:
    """Run the snippet of ``doc`` holding ``marker``, with ``replace``'s strings replaced."""
    code = snippet(doc, marker)
    for old, new in replace.items():
        assert old in code, f"{doc} no longer shows {old!r}"
        code = code.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(code, doc, "exec"), namespace)  # noqa: S102 - the docs' own code
    return namespace


@pytest.mark.django_db(transaction=True)
def test_the_python_client_refreshes_once_and_logs_out(
    live_server: Any, user: Any, clock: Any
) -> None:
    client_class = run("docs/clients.md", "class Client")["Client"]
    client = client_class(live_server.url, user.get_username(), PASSWORD)
    assert client.get("/api/me/").json()["username"] == user.get_username()
    first = client.access

    clock.shift(conf.ACCESS_TOKEN_LIFETIME.total_seconds() + 1)
    response = client.get("/api/me/")  # 401 token_expired, one refresh, the same request again
    assert response.status_code == 200, response.text
    assert client.access != first

    assert client.logout() is True
    after = client.get("/api/me/")
    assert (after.status_code, after.json()["error"]) == (401, "token_revoked")
    client.http.close()


@pytest.mark.django_db(transaction=True)
def test_another_service_verifies_access_tokens_with_the_jwks(
    live_server: Any, user: Any, settings: Any, private_keys: dict[str, str]
) -> None:
    settings.JWTAUTH_ALGORITHM = "ES256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["ES256"]  # docs/keys.md: a path, or the PEM
    settings.JWTAUTH_ISSUER = README_ISSUER
    settings.JWTAUTH_AUDIENCE = README_AUDIENCE
    pair = requests.post(
        f"{live_server.url}/auth/login/",
        json={"username": user.get_username(), "password": PASSWORD},
        timeout=30,
    ).json()
    verify = run(
        "docs/keys.md",
        "PyJWKClient",
        **{"https://auth.example": live_server.url},
    )["verify"]

    claims = verify(pair["access"])
    assert (claims["sub"], claims["iss"], claims["aud"]) == (
        str(user.pk),
        README_ISSUER,
        README_AUDIENCE,
    )
    with pytest.raises(jwt.InvalidTokenError, match="not an access token"):
        verify(pair["refresh"])


@pytest.mark.django_db(transaction=True)
def test_the_httpx_dpop_client_logs_in_and_calls_with_bound_tokens(
    live_server: Any, user: Any
) -> None:
    # docs/dpop.md's client: its address, user and API path are the reader's own; the
    # answer to its API call is kept to be checked.
    code = {
        "https://api.example": live_server.url,
        '"alice"': repr(user.get_username()),
        '"..."': repr(PASSWORD),
        'client.get("/api/items/")': 'response = client.get("/api/me/")',
    }
    namespace = run("docs/dpop.md", "DPoPAuth(key)", **code)
    tokens, auth, response = namespace["tokens"], namespace["auth"], namespace["response"]
    assert tokens["token_type"] == "DPoP"
    assert (response.status_code, response.json()["username"]) == (200, user.get_username())
    assert jwt.decode(tokens["access"], options={"verify_signature": False})["cnf"] == {
        "jkt": namespace["key"].thumbprint
    }
    # The bound token works with the key's proofs only: as a bearer token it is refused.
    stolen = requests.get(
        f"{live_server.url}/api/me/",
        headers={"Authorization": f"Bearer {auth.access_token}"},
        timeout=30,
    )
    assert stolen.status_code == 401


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_python_client_reports_a_logout_that_could_not_be_made(
    live_server: Any, user: Any, settings: Any, private_redis: Any, monkeypatch: Any
) -> None:
    use_redis(settings, private_redis)
    namespace = run("docs/clients.md", "class Client")
    waits: list[float] = []
    monkeypatch.setattr(namespace["time"], "sleep", waits.append)  # the clock seam for sleep
    client = namespace["Client"](live_server.url, user.get_username(), PASSWORD)
    server = private_redis.client()
    server.replicaof("127.0.0.1", free_port())  # read-only: no revocation can be put in force

    assert client.logout() is False
    assert waits == [1, 1]  # Retry-After honoured between the three attempts
    assert client.get("/api/me/").status_code == 200  # nothing was revoked

    server.replicaof("NO", "ONE")
    assert client.logout() is True
    assert client.get("/api/me/").status_code == 401
    server.close()
    client.http.close()
