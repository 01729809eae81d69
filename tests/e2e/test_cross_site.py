"""Cross-site request forgery in a real browser: another origin's form cannot end the session.

The attacker's page auto-submits ``<form method=post action=".../auth/logout-all/">``. Two
attackers: one on another port of the same host (same site, other origin: the browser sends
the SameSite=Strict cookies, so Django's CSRF check is what refuses, with 403), and one on
``localhost`` (another site: SameSite=Strict keeps the cookies at home, so the request arrives
with no credential, 401). Either way nothing is revoked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jwtauth.models import RevokedToken, TokenSession, UserCutoff


class AttackerHandler(BaseHTTPRequestHandler):
    """Answer every GET with a page that posts a form to the target at once."""

    server: AttackerServer

    def do_GET(self) -> None:
        """Serve the forging page."""
        body = (
            "<!DOCTYPE html><title>You won a prize</title>"
            f'<form id="f" method="post" action="{self.server.target}">'
            '<input type="hidden" name="confirm" value="yes"></form>'
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
    page.open_page()
    page.sign_in(user.username, password)
    page.wait_status("Signed in.")
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
