"""The demo page view: served to anyone, CSP-protected, with no inline script."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.staticfiles import finders
from django.urls import resolve

from project.pages import CONTENT_SECURITY_POLICY

URL_ATTRIBUTE = re.compile(r'data-([a-z-]+)-url="([^"]+)"')


def test_page_is_served_with_its_policy_and_endpoint_urls(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    html = response.content.decode()
    urls = dict(URL_ATTRIBUTE.findall(html))
    assert set(urls) == {"csrf", "login", "refresh", "logout", "sessions", "revoke", "me"}
    for url in urls.values():
        resolve(url)  # each one the script calls is routed
    assert urls["revoke"] == "/auth/sessions/__sid__/revoke/"


def test_page_runs_no_inline_script_and_its_assets_exist(client: Any) -> None:
    html = client.get("/").content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all(re.search(r'\bsrc="/static/project/app\.js"', tag) for tag in scripts)
    assert " style=" not in html
    assert finders.find("project/app.js")
    assert finders.find("project/app.css")


def test_page_is_served_despite_a_bad_token_cookie(client: Any) -> None:
    # The page is public: a revoked or garbled access cookie is the script's business.
    client.cookies["auth_token"] = "not.a.token"
    assert client.get("/").status_code == 200


def test_page_answers_safe_methods_only(client: Any) -> None:
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405
