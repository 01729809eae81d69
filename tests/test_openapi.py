"""The OpenAPI document: served as stored, complete, and matching real responses.

CI also runs schemathesis against a live demo site (``.ci/steps/50-schemathesis.sh``); these
tests keep the document honest in every plain test run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

import jwtauth
from jwtauth import exceptions
from jwtauth.dpop import errors as dpop_errors
from jwtauth.dpop.client import DPoPKey
from tests.conftest import dpop_headers

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
DOC: dict[str, Any] = json.loads(DOCUMENT.read_text())
# Served by the demo site but outside the document: the admin, the page, Ninja's own docs.
UNDOCUMENTED_PREFIXES = (
    "/admin/",
    "/api/openapi.json",
    "/api/ninja/openapi.json",
    "/api/ninja/docs",
)
UNDOCUMENTED = {"/", "/api/ninja/"}


def _validator(schema: dict[str, Any]) -> Any:
    # Validate against a schema that may $ref into the document's components.
    return jsonschema_rs.Draft202012Validator({**schema, "components": DOC["components"]})


def _response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    response = DOC["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def assert_matches(response: Any, path: str, method: str) -> None:
    """Assert that ``response`` is documented for the operation and its body matches."""
    operation = DOC["paths"][path][method]
    assert str(response.status_code) in operation["responses"], response.status_code
    if response.status_code == 204:
        assert response.content == b""
        return
    assert response["Content-Type"].split(";")[0] == "application/json"
    errors = list(
        _validator(_response_schema(path, method, response.status_code)).iter_errors(
            response.json()
        )
    )
    assert errors == []


def _routes(resolver: URLResolver | None = None, prefix: str = "/") -> Iterator[str]:
    for entry in (resolver or get_resolver()).url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def _openapi_path(route: str) -> str:
    # Django's "<str:sid>" is OpenAPI's "{sid}"; Ninja's routes use "{sid}" already.
    parts = route.replace("<str:", "{").replace(">", "}").replace("<", "{")
    return parts if parts.startswith("/") else "/" + parts


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_is_openapi_3_1_of_this_version() -> None:
    assert DOC["openapi"] == "3.1.0"
    assert DOC["info"]["version"] == jwtauth.__version__


def test_every_reference_resolves() -> None:
    for ref in _refs(DOC):
        node: Any = DOC
        assert ref.startswith("#/"), ref
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_every_operation_has_an_id_a_summary_and_answers() -> None:
    ids = []
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            assert operation["summary"], (path, method)
            assert operation["responses"], (path, method)
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


def test_every_route_of_the_site_is_documented() -> None:
    documented = set(DOC["paths"])
    routes = {_openapi_path(r) for r in _routes() if not r.startswith(UNDOCUMENTED_PREFIXES)}
    routes -= UNDOCUMENTED
    assert routes - documented == set()
    assert documented - routes == set()


def test_every_error_code_is_documented() -> None:
    codes = {
        cls.code
        for module in (exceptions, dpop_errors)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.JWTAuthError)
    }
    codes.discard(exceptions.JWTAuthError.code)
    assert codes == set(DOC["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    reference = (DOCUMENT.parent / "endpoints.md").read_text()
    assert {code for code in codes if f"| `{code}` |" not in reference} == set()


@pytest.mark.django_db
def test_the_site_serves_the_stored_document(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == DOCUMENT.read_bytes()
    assert client.post("/api/openapi.json").status_code == 405


@pytest.mark.django_db
class TestResponsesMatch:
    """Real answers of the endpoints validate against the document."""

    def test_login_refresh_logout(self, client: Client, user: Any, password: str) -> None:
        login = client.post(
            "/auth/login/",
            {"username": "alice", "password": password},
            content_type="application/json",
        )
        assert_matches(login, "/auth/login/", "post")
        refreshed = client.post(
            "/auth/refresh/", {"refresh": login.json()["refresh"]}, content_type="application/json"
        )
        assert_matches(refreshed, "/auth/refresh/", "post")
        retried = client.post(
            "/auth/refresh/", {"refresh": login.json()["refresh"]}, content_type="application/json"
        )
        assert retried.json()["refresh"] == refreshed.json()["refresh"]
        assert_matches(retried, "/auth/refresh/", "post")
        client.post(
            "/auth/refresh/",
            {"refresh": refreshed.json()["refresh"]},
            content_type="application/json",
        )
        reused = client.post(
            "/auth/refresh/", {"refresh": login.json()["refresh"]}, content_type="application/json"
        )
        assert reused.json()["error"] == "token_reused"
        assert_matches(reused, "/auth/refresh/", "post")
        access = refreshed.json()["access"]
        logout = client.post("/auth/logout/", HTTP_AUTHORIZATION=f"Bearer {access}")
        assert_matches(logout, "/auth/logout/", "post")

    def test_login_errors(self, client: Client, user: Any) -> None:
        wrong = client.post(
            "/auth/login/",
            {"username": "alice", "password": "nope"},
            content_type="application/json",
        )
        assert_matches(wrong, "/auth/login/", "post")
        malformed = client.post("/auth/login/", "{", content_type="application/json")
        assert_matches(malformed, "/auth/login/", "post")

    def test_sessions_and_revoke(self, client: Client, auth_header: Any) -> None:
        listed = client.get("/auth/sessions/", **auth_header)
        assert_matches(listed, "/auth/sessions/", "get")
        for page in ("0", "2"):
            refused_page = client.get("/auth/sessions/", {"page": page}, **auth_header)
            assert_matches(refused_page, "/auth/sessions/", "get")
        one = f"/auth/sessions/{listed.json()['sessions'][0]['id']}/"
        assert_matches(client.get(one, **auth_header), "/auth/sessions/{sid}/", "get")
        for body in ({"label": "Work laptop"}, {"label": 1}):
            labelled = client.patch(one, body, content_type="application/json", **auth_header)
            assert_matches(labelled, "/auth/sessions/{sid}/", "patch")
        missing_one = client.get("/auth/sessions/nope/", **auth_header)
        assert_matches(missing_one, "/auth/sessions/{sid}/", "get")
        missing = client.post("/auth/sessions/nope/revoke/", **auth_header)
        assert_matches(missing, "/auth/sessions/{sid}/revoke/", "post")
        sid = listed.json()["sessions"][0]["id"]
        revoked = client.post(f"/auth/sessions/{sid}/revoke/", **auth_header)
        assert_matches(revoked, "/auth/sessions/{sid}/revoke/", "post")
        refused = client.get("/auth/sessions/", **auth_header)
        assert_matches(refused, "/auth/sessions/", "get")

    @pytest.mark.parametrize("path", ["/api/me/", "/api/drf/me/", "/api/ninja/me/"])
    def test_demo_me(self, client: Client, auth_header: Any, path: str) -> None:
        assert_matches(client.get(path, **auth_header), path, "get")
        assert_matches(client.get(path), path, "get")

    def test_dpop_login_requests_and_refusals(
        self, client: Client, user: Any, password: str, settings: Any
    ) -> None:
        key = DPoPKey.generate()
        credentials = {"username": "alice", "password": password}
        login = client.post(
            "/auth/login/",
            credentials,
            "application/json",
            **dpop_headers(key, "POST", "/auth/login/"),
        )
        assert login.json()["token_type"] == "DPoP"
        assert_matches(login, "/auth/login/", "post")
        access, refresh = login.json()["access"], login.json()["refresh"]
        for path in ("/api/me/", "/api/drf/me/", "/api/ninja/me/", "/auth/sessions/"):
            served = client.get(path, **dpop_headers(key, "GET", path, access))
            assert served.status_code == 200
            assert_matches(served, path, "get")
            for refused in (
                client.get(path, HTTP_AUTHORIZATION=f"Bearer {access}"),
                client.get(path, **dpop_headers(key, "GET", "/elsewhere/", access)),
            ):
                assert refused.status_code == 401
                assert refused["WWW-Authenticate"].startswith("DPoP ")
                assert_matches(refused, path, "get")
        unbound = client.post("/auth/refresh/", {"refresh": refresh}, "application/json")
        assert unbound.json()["error"] == "invalid_dpop_proof"
        assert_matches(unbound, "/auth/refresh/", "post")
        settings.JWTAUTH_DPOP_NONCE = True
        nonce = client.post(
            "/auth/refresh/", {"refresh": refresh}, "application/json",
            **dpop_headers(key, "POST", "/auth/refresh/"),
        )  # fmt: skip
        assert nonce.json()["error"] == "use_dpop_nonce"
        assert_matches(nonce, "/auth/refresh/", "post")
        logout = client.post("/auth/logout/", **dpop_headers(key, "POST", "/auth/logout/", access))
        assert (logout.status_code, logout.json()["error"]) == (401, "use_dpop_nonce")
        assert_matches(logout, "/auth/logout/", "post")

    def test_ping_csrf_logout_all(self, client: Client, auth_header: Any) -> None:
        assert_matches(client.get("/api/ping/"), "/api/ping/", "get")
        assert_matches(client.get("/auth/csrf/"), "/auth/csrf/", "get")
        assert_matches(client.post("/auth/logout-all/", **auth_header), "/auth/logout-all/", "post")

    def test_jwks_with_hmac_is_404(self, client: Client) -> None:
        assert_matches(client.get("/.well-known/jwks.json"), "/.well-known/jwks.json", "get")

    def test_jwks_with_a_public_key(
        self, client: Client, settings: Any, private_keys: dict[str, str]
    ) -> None:
        settings.JWTAUTH_ALGORITHM = "ES256"
        settings.JWTAUTH_PRIVATE_KEY = private_keys["ES256"]
        response = client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert_matches(response, "/.well-known/jwks.json", "get")
        assert_matches(client.get("/auth/jwks.json"), "/auth/jwks.json", "get")
