"""Attack the token lifecycle: type confusion, replay after logout, rotation and reuse.

RFC 8725 §2.8 and §3.12 (cross-JWT confusion: an access token is never a refresh token, nor
the reverse) and RFC 9700 §4.14.2 (refresh token rotation with reuse detection). Every test
logs in afresh, because each ends sessions. The last tests read what the server stored and
logged, to prove no raw token is kept anywhere.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.security import forge
from tests.security.conftest import Server
from tests.security.expect import refused

PROTECTED = ["/api/me/", "/api/drf/me/", "/api/ninja/me/", "/auth/sessions/"]


@pytest.fixture(scope="module", params=["HS256", "ES256"])
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """One symmetric and one asymmetric server: the lifecycle does not depend on the key."""
    return servers[request.param]


def _refresh(server: Server, token: str) -> Any:
    return server.request("POST", "/auth/refresh/", body={"refresh": token})


def _logout(server: Server, access: str | None = None, refresh: str | None = None) -> Any:
    body = {"refresh": refresh} if refresh else b""
    return server.request("POST", "/auth/logout/", token=access, body=body)


def _csrf(server: Server) -> tuple[str, str]:
    response = server.request("GET", "/auth/csrf/")
    cookie = next(c for c in response.header_all("Set-Cookie") if c.startswith("csrftoken="))
    return cookie.split(";", 1)[0], response.json()["csrf_token"]


def _dead(server: Server, pair: dict[str, Any], *codes: str) -> None:
    """Assert neither token of ``pair`` opens anything any more."""
    for path in PROTECTED:
        refused(server.request("GET", path, token=pair["access"]), *codes)
    refused(_refresh(server, pair["refresh"]), *codes)


def _alive(server: Server, pair: dict[str, Any]) -> None:
    for path in PROTECTED:
        response = server.request("GET", path, token=pair["access"])
        assert response.status == 200, (path, response.status, response.body[:200])


# -- access <-> refresh confusion (RFC 8725 §2.8, §3.12) --------------------------------------


def test_refresh_token_as_bearer(server: Server) -> None:
    pair = server.login()
    for path in PROTECTED:
        refused(server.request("GET", path, token=pair["refresh"]), "token_invalid")


def test_refresh_token_as_access_cookie(server: Server) -> None:
    pair = server.login()
    response = server.request("GET", "/api/me/", [("Cookie", f"auth_token={pair['refresh']}")])
    refused(response, "token_invalid")


def test_access_token_at_refresh_endpoint(server: Server) -> None:
    pair = server.login()
    refused(_refresh(server, pair["access"]), "token_invalid")
    _alive(server, pair)


def test_access_token_as_refresh_cookie(server: Server) -> None:
    pair = server.login()
    csrf_cookie, csrf_token = _csrf(server)
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("Cookie", f"refresh_token={pair['access']}; {csrf_cookie}"),
        ("X-CSRFToken", csrf_token),
    ]
    refused(server.request("POST", "/auth/refresh/", headers), "token_invalid")


def test_access_token_as_refresh_at_logout(server: Server) -> None:
    """A wrong-typed token in the logout body is refused and ends nothing."""
    pair = server.login()
    refused(_logout(server, refresh=pair["access"]), "token_invalid")
    _alive(server, pair)


def test_access_claims_retyped_as_refresh_are_treated_as_theft(server: Server) -> None:
    """Re-typed with the real key, an access token's jti is no refresh token of the family.

    The server cannot tell this from a stolen, already rotated refresh token, so it does what
    RFC 9700 §4.14.2 asks for reuse: refuse and revoke the whole family.
    """
    pair = server.login()
    token = server.resign(pair["access"], header={"typ": "rt+jwt"})
    refused(_refresh(server, token), "token_reused")
    _dead(server, pair, "token_revoked")


# -- replay after logout ------------------------------------------------------------------------


def test_replay_after_logout(server: Server) -> None:
    pair = server.login()
    assert _logout(server, pair["access"], pair["refresh"]).status == 204
    _dead(server, pair, "token_revoked")


def test_logout_with_access_token_only_ends_the_refresh_token(server: Server) -> None:
    pair = server.login()
    assert _logout(server, access=pair["access"]).status == 204
    _dead(server, pair, "token_revoked")


def test_logout_with_refresh_token_only_ends_the_access_token(server: Server) -> None:
    pair = server.login()
    assert _logout(server, refresh=pair["refresh"]).status == 204
    _dead(server, pair, "token_revoked")


def test_replay_in_cookies_after_logout(server: Server) -> None:
    pair = server.login()
    assert _logout(server, pair["access"], pair["refresh"]).status == 204
    csrf_cookie, csrf_token = _csrf(server)
    cookies = f"auth_token={pair['access']}; refresh_token={pair['refresh']}; {csrf_cookie}"
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("Cookie", cookies),
        ("X-CSRFToken", csrf_token),
    ]
    refused(server.request("GET", "/api/me/", headers), "token_revoked")
    refused(server.request("POST", "/auth/refresh/", headers), "token_revoked")


def test_logout_ends_only_its_own_session(server: Server) -> None:
    mine, other = server.login(), server.login()
    assert _logout(server, mine["access"], mine["refresh"]).status == 204
    _dead(server, mine)
    _alive(server, other)


def test_logout_everywhere(server: Server) -> None:
    first, second = server.login("bob"), server.login("bob")
    response = server.request("POST", "/auth/logout-all/", token=first["access"])
    assert response.status == 204
    _dead(server, first, "token_revoked")
    _dead(server, second, "token_revoked")
    _alive(server, server.login("bob"))


def test_revoked_session_by_id(server: Server) -> None:
    mine, other = server.login(), server.login()
    sid = forge.parts(other["access"])[1]["sid"]
    target = f"/auth/sessions/{sid}/revoke/"
    assert server.request("POST", target, token=mine["access"]).status == 204
    _dead(server, other, "token_revoked")
    _alive(server, mine)


def test_cannot_revoke_another_users_session(server: Server) -> None:
    alice, bob = server.login(), server.login("bob")
    sid = forge.parts(alice["access"])[1]["sid"]
    response = server.request("POST", f"/auth/sessions/{sid}/revoke/", token=bob["access"])
    assert response.status == 404
    _alive(server, alice)


@pytest.mark.parametrize(
    "sid", ["..%2F..%2Fadmin", "x'%20OR%20'1'%3D'1", "%00", "A" * 300, "%E2%80%AE"]
)
def test_session_revoke_with_injected_id(server: Server, sid: str) -> None:
    pair = server.login()
    response = server.request("POST", f"/auth/sessions/{sid}/revoke/", token=pair["access"])
    assert response.status == 404, response.status
    _alive(server, pair)


# -- rotation and reuse detection (RFC 9700 §4.14.2) -------------------------------------------


def test_rotated_refresh_token_reuse_revokes_the_family(server: Server) -> None:
    first = server.login()
    response = _refresh(server, first["refresh"])
    assert response.status == 200
    second = response.json()
    third = _refresh(server, second["refresh"]).json()
    _alive(server, third)
    # Two generations old: no retry explains it (the reuse interval covers only the previous).
    refused(_refresh(server, first["refresh"]), "token_reused")
    # The thief's replay killed the family: the legitimate, newer tokens die with it.
    _dead(server, third, "token_revoked")
    _dead(server, second, "token_revoked")
    _dead(server, first, "token_revoked")


def test_a_retry_of_the_previous_token_does_not_fork_the_family(server: Server) -> None:
    """Within the reuse interval the previous token gets the same successor, never a new one."""
    first = server.login()
    second = _refresh(server, first["refresh"]).json()
    retry = _refresh(server, first["refresh"])
    assert retry.status == 200
    assert retry.json()["refresh"].rsplit(".", 1)[0] == second["refresh"].rsplit(".", 1)[0]
    _alive(server, retry.json())
    # Spending the successor (either copy) moves the family on for both holders at once.
    third = _refresh(server, retry.json()["refresh"]).json()
    refused(_refresh(server, first["refresh"]), "token_reused")
    _dead(server, third, "token_revoked")


def test_every_rotated_token_is_spent(server: Server) -> None:
    pairs = [server.login()]
    for _ in range(3):
        response = _refresh(server, pairs[-1]["refresh"])
        assert response.status == 200
        pairs.append(response.json())
    refused(_refresh(server, pairs[1]["refresh"]), "token_reused")
    for pair in pairs:
        _dead(server, pair)


def test_refresh_after_logout_is_not_reuse_but_revoked(server: Server) -> None:
    pair = server.login()
    assert _logout(server, pair["access"], pair["refresh"]).status == 204
    refused(_refresh(server, pair["refresh"]), "token_revoked")


def test_concurrent_refresh_with_one_token(server: Server) -> None:
    """Eight simultaneous rotations of one refresh token: one successor, whoever answers."""
    pair = server.login()
    answers: list[Any] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        answers.append(_refresh(server, pair["refresh"]))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status for a in answers] == [200] * 8
    # The same header and claims in every answer: the family did not fork (an ES256 retry
    # carries another, equally valid signature).
    assert len({a.json()["refresh"].rsplit(".", 1)[0] for a in answers}) == 1


# -- login ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "alice", "password": ""},
        {"username": "alice"},
        {"username": "alice", "password": None},
        {"username": "alice", "password": [PASSWORD]},
        {"username": ["alice"], "password": PASSWORD},
        {"username": {"$ne": None}, "password": {"$ne": None}},
        {"username": "alice' --", "password": "x"},
        {"username": "ALICE", "password": PASSWORD},
        {"username": "alice\x00", "password": PASSWORD},
    ],
    ids=repr,
)
def test_login_refused(server: Server, body: dict[str, Any]) -> None:
    response = server.request("POST", "/auth/login/", body=body)
    assert response.status in (400, 401), response.status
    assert "access" not in response.json()


@pytest.mark.redis
def test_login_throttled_across_workers(servers: dict[str, Server]) -> None:
    """After five failures for carol even her right password is refused, on any worker."""
    server = servers["HS256"]
    statuses = [
        server.request("POST", "/auth/login/", body={"username": "carol", "password": "x"}).status
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    right = server.request("POST", "/auth/login/", body={"username": "carol", "password": PASSWORD})
    assert right.status == 429
    assert int(right.header("Retry-After") or 0) > 0


# -- nothing raw is kept: database, cache, logs, error bodies ----------------------------------


def _all_rows(server: Server) -> str:
    stack = server.stack
    if stack.database_url.startswith("sqlite"):
        tables = [r[0] for r in stack.query("SELECT name FROM sqlite_master WHERE type='table'")]
    else:
        tables = [
            r[0]
            for r in stack.query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
    return "\n".join(repr(stack.query(f'SELECT * FROM "{table}"')) for table in tables)  # noqa: S608


def test_no_raw_token_stored_or_logged(server: Server) -> None:
    """Log in, refresh, fail, log out; then no token (nor its signature) is anywhere."""
    first = server.login()
    second = _refresh(server, first["refresh"]).json()
    assert _refresh(server, first["refresh"]).status == 200  # a retry: no token in any log
    _refresh(server, second["refresh"])
    refused(_refresh(server, first["refresh"]), "token_reused")
    third = server.login()
    wrong = server.resign(third["access"], aud="another-api")
    refused(server.me(wrong), "token_invalid")
    assert _logout(server, third["access"], third["refresh"]).status == 204
    tokens = [t for p in (first, second, third) for t in (p["access"], p["refresh"])] + [wrong]
    secrets_seen = [t.rsplit(".", 1)[1] for t in tokens]
    haystacks = {
        "database": _all_rows(server),
        "redis": repr(server.stack.redis_dump()),
        "server log": server.log.read_text(errors="replace"),
    }
    for where, text in haystacks.items():
        for secret in secrets_seen:
            assert secret not in text, f"a token signature was found in the {where}"
    assert "jwtauth" in haystacks["database"]


def test_error_bodies_do_not_echo_the_token(server: Server) -> None:
    pair = server.login()
    bad = server.resign(pair["access"], iss="https://evil.test")
    response = server.me(bad)
    refused(response, "token_invalid")
    text = response.body.decode() + repr(response.headers)
    assert bad.rsplit(".", 1)[1] not in text
    assert forge.parts(bad)[1]["jti"] not in text
