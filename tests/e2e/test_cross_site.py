"""Cross-site request forgery in a real browser: another origin's form cannot end the session.

The attacker's page auto-submits ``<form method=post action=".../auth/logout-all/">``. Two
attackers: one on another port of the same host (same site, other origin: the browser sends
the SameSite=Strict cookies, so Django's CSRF check is what refuses, with 403), and one on
``localhost`` (another site: SameSite=Strict keeps the cookies at home, so the request arrives
with no credential, 401). Either way nothing is revoked.

A second attack posts the attacker's *own* refresh token to ``/auth/logout/``: the request is
valid, carries no cookie of the victim's and so needs no CSRF token, and its answer must not
clear the victim's cookies (a logout CSRF).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jwtauth import sessions
from jwtauth.models import RevokedToken, TokenSession, UserCutoff


class AttackerHandler(BaseHTTPRequestHandler):
    """Answer every GET with a page that posts a form to the target at once."""

    server: AttackerServer

    def do_GET(self) -> None:
        """Serve the forging page."""
        fields = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in self.server.fields.items()
        )
        body = (
            "<!DOCTYPE html><title>You won a prize</title>"
            f'<form id="f" method="post" action="{self.server.target}">{fields}</form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class AttackerServer(ThreadingHTTPServer):
    """A tiny HTTP server on 127.0.0.1 standing in for the attacker's site."""

    target = ""
    fields: dict[str, str] = {"confirm": "yes"}  # replaced per test, never mutated


@pytest.fixture
def attacker(live_server: Any) -> Iterator[AttackerServer]:
    """Run the attacker's server on a free port; its form targets the site's logout-all."""
    server = AttackerServer(("127.0.0.1", 0), AttackerHandler)
    server.target = f"{live_server.url}/auth/logout-all/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _state(user: Any) -> tuple[list[tuple[str, object]], int, bool]:
    rows = list(TokenSession.objects.filter(user=user).values_list("sid", "revoked_at"))
    return rows, RevokedToken.objects.count(), UserCutoff.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    ("attacker_host", "status", "code"),
    [
        pytest.param("127.0.0.1", 403, "permission_denied", id="same-site-other-origin"),
        pytest.param("localhost", 401, "not_authenticated", id="cross-site"),
    ],
)
def test_forged_form_post_revokes_nothing(
    browser: Any,
    user: Any,
    password: str,
    attacker: AttackerServer,
    attacker_host: str,
    status: int,
    code: str,
) -> None:
    page = browser()
    page.signed_in(user.username, password)
    before = _state(user)
    assert len(before[0]) == 1
    assert before[0][0][1] is None

    page.get(f"http://{attacker_host}:{attacker.server_address[1]}/")
    page.wait(lambda d: d.current_url == attacker.target)
    page.wait(lambda d: d.execute_script("return document.readyState") == "complete")
    assert page.navigation_status() == status
    assert code in page.driver.page_source
    page.screenshot(f"csrf-refused-{attacker_host}")

    assert _state(user) == before
    page.open_page()
    assert page.text("whoami") == "alice"
    assert page.fetch("GET", "/api/me/")[0] == 200

    # Control: the very same request, made by the page with its CSRF token, does log out
    # everywhere; the refusal above came from the forgery defences, not a broken endpoint.
    assert page.fetch("POST", "/auth/logout-all/", csrf=True) == (204, None)
    assert page.fetch("GET", "/api/me/")[0] == 401
    assert UserCutoff.objects.filter(user=user).exists()


@pytest.mark.parametrize("spent", [False, True], ids=["live-token", "spent-token"])
def test_a_cross_site_logout_with_the_attackers_own_token_keeps_the_victims_cookies(
    browser: Any,
    user: Any,
    other_user: Any,
    password: str,
    attacker: AttackerServer,
    live_server: Any,
    spent: bool,
) -> None:
    page = browser()
    page.signed_in(user.username, password)
    assert {"auth_token", "refresh_token"} <= set(page.cookie_jar())

    mallory = sessions.start(other_user)
    if spent:
        sessions.end(mallory.refresh_token)  # even a dead token makes a valid (idempotent) logout
    attacker.target = f"{live_server.url}/auth/logout/"
    attacker.fields = {"refresh": mallory.refresh}
    page.get(f"http://localhost:{attacker.server_address[1]}/")
    # The attacker's logout succeeds: 204, which leaves the browser on the attacker's page.
    assert page.wait_response(attacker.target) == 204

    assert {"auth_token", "refresh_token"} <= set(page.cookie_jar())
    page.open_page()
    assert page.text("whoami") == "alice"
    assert page.fetch("GET", "/api/me/")[0] == 200
    assert TokenSession.objects.get(user=user).revoked_at is None
