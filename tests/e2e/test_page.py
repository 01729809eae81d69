"""The demo page in a real browser: cookie-mode login, who am I, sessions, refresh, logout."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from jwtauth import sessions
from jwtauth.models import TokenSession

TOKEN_COOKIES = ("auth_token", "refresh_token")


def test_login_sets_httponly_cookies_that_work_and_logout_ends_them(
    browser: Any, user: Any, password: str
) -> None:
    page = browser()
    page.open_page()
    assert page.shown("signed-out")
    assert page.text("status") == "Not signed in."

    page.sign_in(user.username, password)
    page.wait_status("Signed in.")
    assert page.text("whoami") == "alice"
    page.screenshot("page-signed-in")

    jar = page.cookie_jar()
    access, refresh = jar["auth_token"], jar["refresh_token"]
    assert access["httpOnly"]
    assert refresh["httpOnly"]
    assert access["sameSite"] == refresh["sameSite"] == "Strict"
    assert access["path"] == "/"
    # The refresh token travels to the refresh endpoint only.
    assert refresh["path"] == "/auth/refresh/"
    script_visible = page.script_cookies()
    # The CSRF cookie is readable by design, so an empty document.cookie proves nothing; the
    # token cookies must be missing from a jar the script can otherwise see.
    assert "csrftoken=" in script_visible
    assert not any(f"{name}=" in script_visible for name in TOKEN_COOKIES)

    assert page.fetch("GET", "/api/me/") == (200, {"id": user.pk, "username": "alice"})

    page.click("logout")
    page.wait_status("Signed out.")
    assert page.shown("signed-out")
    assert not page.shown("signed-in")
    assert not set(TOKEN_COOKIES) & set(page.cookie_jar())
    status, body = page.fetch("GET", "/api/me/")
    assert status == 401
    assert body["error"] == "not_authenticated"
    assert TokenSession.objects.get(user=user).revoked_at is not None
    page.screenshot("page-signed-out")


def test_sessions_list_revokes_another_session_and_refresh_rotates(
    browser: Any, user: Any, password: str
) -> None:
    phone = sessions.start(user, user_agent="Phone app/2.1", ip_address="192.0.2.7")
    TokenSession.objects.filter(sid=phone.access_token.sid).update(label="Grandma's phone")
    page = browser()
    page.open_page()
    page.sign_in(user.username, password)
    page.wait_status("Signed in.")

    rows = page.driver.find_elements(By.CSS_SELECTOR, "#sessions tr")
    assert len(rows) == 2
    by_sid = {row.get_attribute("data-sid"): row for row in rows}
    phone_sid = phone.access_token.sid
    assert "Phone app/2.1" in by_sid[phone_sid].text
    assert "Grandma's phone" in by_sid[phone_sid].text  # the label the user gave it
    assert "192.0.2.7" in by_sid[phone_sid].text
    current = [row for row in rows if "this browser" in row.text]
    assert len(current) == 1
    page.screenshot("page-sessions")

    by_sid[phone_sid].find_element(By.TAG_NAME, "button").click()
    page.wait_status("Session revoked.")
    assert len(page.driver.find_elements(By.CSS_SELECTOR, "#sessions tr")) == 1
    assert TokenSession.objects.get(sid=phone_sid).revoked_at is not None
    # The phone's session is dead; the browser's lives on.
    assert page.fetch("GET", "/api/me/")[0] == 200

    before = page.cookie_jar()["auth_token"]["value"]
    page.click("refresh")
    page.wait_status("Tokens refreshed: a new access and refresh token were set.")
    assert page.cookie_jar()["auth_token"]["value"] != before
    browser_session = TokenSession.objects.get(user=user, revoked_at__isnull=True)
    assert browser_session.refreshed_at is not None
    assert page.fetch("GET", "/api/me/")[0] == 200


def test_wrong_password_shows_the_error_body(browser: Any, user: Any) -> None:
    page = browser()
    page.open_page()
    page.sign_in(user.username, "not the password")
    page.wait(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "invalid_credentials, HTTP 401" in page.text("error")
    assert page.shown("signed-out")
    assert not set(TOKEN_COOKIES) & set(page.cookie_jar())
    page.screenshot("page-wrong-password")
