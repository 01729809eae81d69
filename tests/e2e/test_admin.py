"""The admins' real workflow, clicked through: revoke a user's browser session in /admin/."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from jwtauth import sessions
from jwtauth.models import TokenSession

SESSIONS_ADMIN = "/admin/jwtauth/tokensession/"


def _row(admin: Any, pk: int) -> Any:
    """Return the changelist row whose checkbox selects the session with ``pk``."""
    return admin.driver.find_element(
        By.XPATH, f"//input[@name='_selected_action'][@value='{pk}']/ancestor::tr"
    )


def test_admin_revokes_the_browser_session_and_the_next_request_is_refused(
    browser: Any, user: Any, other_user: Any, password: str, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.test", password)
    bystander = sessions.start(other_user, user_agent="curl/8.5.0", ip_address="192.0.2.10")
    page = browser()
    page.open_page()
    page.sign_in(user.username, password)
    page.wait_status("Signed in.")
    session = TokenSession.objects.get(user=user)

    admin = browser()
    # Wide enough for the whole changelist in the screenshot the README shows.
    admin.driver.set_window_size(1600, 820)
    admin.admin_login("root", password, SESSIONS_ADMIN)
    row = _row(admin, session.pk)
    assert "alice" in row.text
    assert row.text.split()[-1] == "live"

    row.find_element(By.NAME, "_selected_action").click()
    Select(admin.driver.find_element(By.NAME, "action")).select_by_value("revoke_selected_sessions")
    admin.screenshot("admin-sessions")
    admin.driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    admin.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    assert "Revoked 1 session" in admin.driver.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert _row(admin, session.pk).text.split()[-1] == "revoked"
    admin.screenshot("admin-sessions-revoked")
    session.refresh_from_db()
    assert session.revoked_at is not None
    assert TokenSession.objects.get(sid=bystander.access_token.sid).revoked_at is None

    # The user's browser still holds its cookies; its very next request is refused.
    assert "auth_token" in page.cookie_jar()
    status, body = page.fetch("GET", "/api/me/")
    assert status == 401
    assert body["error"] == "token_revoked"
    page.click("reload")
    page.wait(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "token_revoked, HTTP 401" in page.text("error")
    assert page.shown("signed-out")
    page.screenshot("page-refused-after-admin-revoke")


def test_revoking_ones_own_session_beside_the_admin_leaves_the_admin_usable(
    browser: Any, password: str, django_user_model: Any
) -> None:
    """Cookie mode and the admin in one browser: the dead cookie never reaches the admin."""
    django_user_model.objects.create_superuser("root", "root@example.test", password)
    page = browser()
    page.admin_login("root", password, "/admin/")  # the admin: Django's session
    page.signed_in("root", password)  # the demo page: cookie mode
    session = TokenSession.objects.get(user__username="root")
    page.get(SESSIONS_ADMIN)

    _row(page, session.pk).find_element(By.NAME, "_selected_action").click()
    Select(page.driver.find_element(By.NAME, "action")).select_by_value("revoke_selected_sessions")
    page.driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    assert _row(page, session.pk).text.split()[-1] == "revoked"

    # The browser still holds the dead access cookie; the admin's pages stay HTML pages.
    assert "auth_token" in page.cookie_jar()
    for url in ("/admin/", SESSIONS_ADMIN, "/admin/auth/user/"):
        page.get(url)
        assert page.navigation_status() == 200, url
        assert page.driver.find_element(By.ID, "site-name").text == "Django administration"

    # The API refuses the dead cookie once, and that answer clears it.
    status, body = page.fetch("GET", "/api/me/")
    assert (status, body["error"]) == (401, "token_revoked")
    assert "auth_token" not in page.cookie_jar()
