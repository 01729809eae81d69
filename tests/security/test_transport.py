"""Attack the transport: sizes, encodings, several credentials, other places to put a token.

RFC 8725 §2.6 and §3.7 (one JSON encoding: UTF-8), RFC 6750 §2 (where a bearer token may be
sent, and §2.3's advice against the query string), and the robustness the issue asks for:
oversized input is answered with a 4xx, never a 5xx or a hang (every exchange has a timeout).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.security import forge
from tests.security.conftest import Server
from tests.security.expect import client_error, refused


@pytest.fixture(scope="module", params=["HS256", "RS256"])
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """One symmetric and one asymmetric server: transport handling is shared code."""
    return servers[request.param]


# -- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pad", [2800, 4500])
def test_oversized_token(server: Server, pad: int) -> None:
    """A genuine signature, but past ``JWTAUTH_MAX_TOKEN_LENGTH`` (4096): refused unread."""
    token = server.resign(server.pair["access"], pad="x" * pad)
    assert 4096 < len(token) < 8000
    refused(server.me(token), "token_invalid")


def test_token_of_many_segments_within_size(server: Server) -> None:
    refused(server.me(".".join(["AAAA"] * 800)), "token_invalid")


@pytest.mark.parametrize("size", [8 * 1024, 64 * 1024, 1024 * 1024])
def test_oversized_authorization_header(server: Server, size: int) -> None:
    """Beyond the server's header limit: a 4xx from gunicorn, quickly."""
    client_error(server.request("GET", "/api/me/", [("Authorization", "Bearer " + "A" * size)]))


def test_many_headers(server: Server) -> None:
    headers = [(f"X-Pad-{i}", "x") for i in range(500)]
    client_error(server.request("GET", "/api/me/", [*headers, ("Authorization", "Bearer x")]))


def test_oversized_request_line(server: Server) -> None:
    client_error(server.request("GET", "/api/me/?access_token=" + "A" * 65536))


def test_oversized_cookie(server: Server) -> None:
    client_error(server.request("GET", "/api/me/", [("Cookie", "auth_token=" + "A" * 65536)]))


def test_oversized_login_body(server: Server) -> None:
    """A 1 MiB login body is refused by size (413), without a 5xx or a hang."""
    body = json.dumps({"username": "alice", "password": "x" * (1 << 20)}).encode()
    response = server.request(
        "POST", "/auth/login/", [("Content-Type", "application/json")], body=body
    )
    assert response.status == 413, response.status


def test_deeply_nested_login_body(server: Server) -> None:
    body = b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = server.request(
        "POST", "/auth/login/", [("Content-Type", "application/json")], body=body
    )
    assert response.status == 400, response.status


# -- malformed base64 and JSON (RFC 8725 §2.6, §3.7) ------------------------------------------

MALFORMED = [
    "a",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "..",
    "....",
    ".",
    "eyJ.eyJ.",
    "eyJhbGciOiJub25lIn0.e30.",
    "e30.e30.e30",
    "W10.W10.W10",
    "bnVsbA.bnVsbA.bnVsbA",
    "=.=.=",
    "eyJhbGciOiJIUzI1NiJ9==.e30.AAAA",
    "eyJhbGciOiJIUzI1NiJ9+/.e30.AAAA",
    "A" * 4096,
    "A.B" + "." * 100,
]


@pytest.mark.parametrize("token", MALFORMED, ids=lambda t: t[:24])
def test_malformed_token(server: Server, token: str) -> None:
    refused(server.me(token), "token_invalid")


def _with_segment(server: Server, index: int, raw: bytes) -> str:
    """Replace the header (0) or claims (1) with ``raw`` bytes and sign with the real key."""
    head, body, _ = server.pair["access"].split(".")
    segments = [head, body]
    segments[index] = forge.b64url(raw)
    signing_input = ".".join(segments).encode()
    return f"{'.'.join(segments)}.{forge.b64url(server.signer()(signing_input))}"


def _json_variants(value: dict[str, Any]) -> dict[str, bytes]:
    text = json.dumps(value, separators=(",", ":"))
    return {
        "utf-8-bom": b"\xef\xbb\xbf" + text.encode(),
        "utf-16": text.encode("utf-16"),
        "utf-16-le": text.encode("utf-16-le"),
        "utf-32": text.encode("utf-32"),
        "utf-32-be": text.encode("utf-32-be"),
        "latin-1-byte": text[:-1].encode() + b',"x":"\xe9"}',
        "invalid-utf-8": text[:-1].encode() + b',"x":"\xff\xfe"}',
        "overlong-utf-8-quote": text[:-1].encode() + b',"x":"\xc0\xa2"}',
        "cesu-8-surrogate": text[:-1].encode() + b',"x":"\xed\xa0\x80"}',
        "nul-byte": text.encode() + b"\x00",
        "trailing-garbage": text.encode() + b"x",
        "two-objects": text.encode() * 2,
        "truncated": text.encode()[:-1],
        "array": b"[" + text.encode() + b"]",
        "string": json.dumps(text).encode(),
        "null": b"null",
        "number": b"1",
        "empty": b"",
        # Deeper than Python's recursion limit, yet short enough to fit the length limit.
        "deep-nesting": b'{"x":' + b"[" * 1100 + b"]" * 1100 + b"}",
    }


@pytest.mark.parametrize("variant", sorted(_json_variants({})))
@pytest.mark.parametrize("part", [0, 1], ids=["header", "claims"])
def test_malformed_json_signed_with_the_real_key(server: Server, part: int, variant: str) -> None:
    """Only UTF-8 JSON objects are read, even under a genuine signature (RFC 8725 §3.7)."""
    original = forge.parts(server.pair["access"])[part]
    token = _with_segment(server, part, _json_variants(original)[variant])
    refused(server.me(token), "token_invalid")


def test_control_reencoded_json_is_accepted(server: Server) -> None:
    """The same re-encoding path with plain UTF-8 JSON works: the variants above are the cause."""
    claims = forge.parts(server.pair["access"])[1]
    token = _with_segment(server, 1, json.dumps(claims).encode())
    assert server.me(token).status == 200


# -- bytes that are not UTF-8 (or not text) in the header --------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \xff\xfe\xfd",
        b"Bearer \xc3\xa9\xc3\xa9.\xc3\xa9.\xc3\xa9",
        b"Bearer \x80",
        "Bearer тoken".encode(),
        b"\xffBearer x.y.z",
    ],
    ids=["ff-fe-fd", "utf-8-accents", "lone-continuation", "cyrillic", "before-scheme"],
)
def test_non_utf8_authorization(server: Server, value: bytes) -> None:
    refused(server.request("GET", "/api/me/", [("Authorization", value)]))


def test_genuine_token_with_non_ascii_suffix(server: Server) -> None:
    value = b"Bearer " + server.pair["access"].encode() + b"\xe9"
    refused(server.request("GET", "/api/me/", [("Authorization", value)]), "token_invalid")


@pytest.mark.parametrize("control", [b"\x00", b"\x01", b"\x7f", b"\x0b"], ids=repr)
def test_control_bytes_in_authorization(server: Server, control: bytes) -> None:
    """Control characters: gunicorn may refuse the request (400) or jwtauth does (401)."""
    value = b"Bearer " + server.pair["access"].encode() + control
    response = server.request("GET", "/api/me/", [("Authorization", value)])
    client_error(response)
    assert response.status in (400, 401)


# -- several Authorization headers, other schemes ----------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(lambda good: [good, good], id="same-token-twice"),
        pytest.param(lambda good: [good, "Bearer x.y.z"], id="good-then-junk"),
        pytest.param(lambda good: ["Bearer x.y.z", good], id="junk-then-good"),
        pytest.param(lambda good: [good, "Basic YWxpY2U6eA=="], id="good-then-basic"),
        pytest.param(lambda good: ["Basic YWxpY2U6eA==", good], id="basic-then-good"),
        pytest.param(lambda good: [good, ""], id="good-then-empty"),
        pytest.param(lambda good: ["", good], id="empty-then-good"),
        pytest.param(lambda good: [f"{good}, {good}"], id="comma-joined"),
        pytest.param(lambda good: [f"{good},Bearer x.y.z"], id="comma-joined-junk"),
    ],
)
def test_several_authorization_headers(server: Server, values: Any) -> None:
    """An ambiguous credential is refused, never resolved by picking one."""
    good = f"Bearer {server.pair['access']}"
    headers: list[tuple[str | bytes, str | bytes]] = [("Authorization", v) for v in values(good)]
    response = server.request("GET", "/api/me/", headers)
    client_error(response)
    assert response.status != 200


def test_authorization_header_with_differently_cased_names(server: Server) -> None:
    good = f"Bearer {server.pair['access']}"
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("authorization", good),
        ("AUTHORIZATION", "Bearer x.y.z"),
    ]
    response = server.request("GET", "/api/me/", headers)
    client_error(response)


@pytest.mark.parametrize(
    "value",
    [
        lambda t: "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
        lambda t: f"Token {t}",
        lambda t: f"JWT {t}",
        lambda t: f"Bearer\t{t}",
        lambda t: f"Bearer{t}",
        lambda t: "Bearer",
        lambda t: "Bearer ",
        lambda t: t,
        lambda t: f"Bearer {t} {t}",
        lambda t: f'Bearer "{t}"',
        lambda t: f"Bearer access_token={t}",
    ],
    ids=[
        "basic-with-password",
        "token-scheme",
        "jwt-scheme",
        "tab",
        "no-space",
        "scheme-only",
        "scheme-space",
        "no-scheme",
        "two-tokens",
        "quoted",
        "parameter-form",
    ],
)
def test_other_schemes_and_shapes(server: Server, value: Any) -> None:
    """Only ``Bearer <token>`` is a bearer credential; Basic never logs anyone in here."""
    response = server.request("GET", "/api/me/", [("Authorization", value(server.pair["access"]))])
    refused(response)


def test_control_scheme_is_case_insensitive(server: Server) -> None:
    """RFC 9110 §11.1: ``bearer`` is the same scheme (a control, not an attack)."""
    response = server.request(
        "GET", "/api/me/", [("Authorization", "bearer " + server.pair["access"])]
    )
    assert response.status == 200


# -- tokens where they must not be read --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["access_token", "token", "jwt", "auth", "auth_token", "authorization", "bearer"]
)
def test_access_token_in_query_string(server: Server, name: str) -> None:
    """RFC 6750 §2.3: URLs end up in logs and Referer headers; jwtauth never reads them."""
    refused(server.request("GET", f"/api/me/?{name}={server.pair['access']}"), "not_authenticated")


def test_authorization_in_query_string(server: Server) -> None:
    target = f"/api/me/?Authorization=Bearer%20{server.pair['access']}"
    refused(server.request("GET", target), "not_authenticated")


def test_refresh_token_in_query_string(server: Server) -> None:
    target = f"/auth/refresh/?refresh={server.pair['refresh']}"
    refused(server.request("POST", target), "not_authenticated")


def test_access_token_in_form_body(server: Server) -> None:
    body = f"access_token={server.pair['access']}".encode()
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("Content-Type", "application/x-www-form-urlencoded")
    ]
    response = server.request("POST", "/api/me/", headers, body=body)
    # No credential is read from a body. /api/me/ is a token view, exempt from Django's CSRF
    # middleware, and GET-only: the method is refused first (405). Either way, not alice.
    assert response.status in (401, 403, 405), response.status
    assert b"alice" not in response.body


@pytest.mark.parametrize(
    "header", ["X-Access-Token", "X-Auth-Token", "X-Authorization", "X-Forwarded-Authorization"]
)
def test_access_token_in_other_headers(server: Server, header: str) -> None:
    response = server.request("GET", "/api/me/", [(header, f"Bearer {server.pair['access']}")])
    refused(response, "not_authenticated")


@pytest.mark.parametrize(
    "cookie", ["token", "jwt", "access_token", "Authorization", "refresh_token"]
)
def test_access_token_in_other_cookies(server: Server, cookie: str) -> None:
    response = server.request("GET", "/api/me/", [("Cookie", f"{cookie}={server.pair['access']}")])
    refused(response, "not_authenticated")


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "PATCH"])
def test_forged_token_with_other_methods(server: Server, method: str) -> None:
    token = forge.sign(forge.parts(server.pair["access"])[0] | {"alg": "none"}, {}, None)
    response = server.request(method, "/api/me/", token=token)
    assert response.status == 401


# -- cookie mode: the browser sends the cookie by itself, so CSRF applies ----------------------


def _csrf(server: Server) -> tuple[str, str]:
    response = server.request("GET", "/auth/csrf/")
    cookie = next(c for c in response.header_all("Set-Cookie") if c.startswith("csrftoken="))
    return cookie.split(";", 1)[0], response.json()["csrf_token"]


def test_control_access_cookie_reads(server: Server) -> None:
    """An access cookie authenticates a safe request (what cookie mode is for)."""
    response = server.request(
        "GET", "/api/me/", [("Cookie", f"auth_token={server.pair['access']}")]
    )
    assert response.status == 200


def test_cookie_login_without_csrf_token(server: Server) -> None:
    body = {"username": "alice", "password": PASSWORD, "cookie": True}
    response = server.request("POST", "/auth/login/", body=body)
    assert response.status == 403
    assert not [c for c in response.header_all("Set-Cookie") if c.startswith("auth_token=")]


def test_cookie_logout_all_without_csrf_token(server: Server) -> None:
    """A cross-site POST carries the cookie but cannot carry the CSRF token: 403."""
    cookie = f"auth_token={server.pair['access']}"
    response = server.request("POST", "/auth/logout-all/", [("Cookie", cookie)])
    assert response.status == 403
    assert server.me(server.pair["access"]).status == 200


def test_cookie_logout_all_with_foreign_origin(server: Server) -> None:
    csrf_cookie, token = _csrf(server)
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("Cookie", f"auth_token={server.pair['access']}; {csrf_cookie}"),
        ("X-CSRFToken", token),
        ("Origin", "https://evil.example"),
    ]
    response = server.request("POST", "/auth/logout-all/", headers)
    assert response.status == 403
    assert server.me(server.pair["access"]).status == 200


def test_cookie_refresh_without_csrf_token(server: Server) -> None:
    cookie = f"refresh_token={server.spare['refresh']}"
    response = server.request("POST", "/auth/refresh/", [("Cookie", cookie)])
    assert response.status == 403


def _non_ascii_inside(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.\u00e9{body[1:]}.{sig}"


def test_non_ascii_token_in_access_cookie(server: Server) -> None:
    """A cookie is not held to the header's token alphabet; the parser refuses it (not a 500)."""
    cookie = "auth_token=" + _non_ascii_inside(server.pair["access"])
    response = server.request("GET", "/api/me/", [("Cookie", cookie.encode("latin-1"))])
    refused(response, "token_invalid")


def test_non_ascii_refresh_token_in_body(server: Server) -> None:
    body = {"refresh": _non_ascii_inside(server.spare["refresh"])}
    refused(server.request("POST", "/auth/refresh/", body=body), "token_invalid")
