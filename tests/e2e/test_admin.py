"""The admins' real workflow, clicked through at 1366x768: revoke a user's browser session.

The screen is a common laptop's: every column of the sessions list, the state above all, must
be on screen beside the filters without scrolling sideways. Revoking asks for confirmation
first, like Django's delete; a user's page links to their sessions and revokes all of them.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from jwtauth import revocation, sessions
from jwtauth.models import TokenSession

SESSIONS_ADMIN = "/admin/jwtauth/tokensession/"
WIDTH, HEIGHT = 1366, 768


def _row(admin: Any, pk: int) -> Any:
    """Return the changelist row whose checkbox selects the session with ``pk``."""
    return admin.driver.find_element(
        By.XPATH, f"//input[@name='_selected_action'][@value='{pk}']/ancestor::tr"
    )


def _cell(row: Any, column: str) -> Any:
    return row.find_element(By.CSS_SELECTOR, f"td.field-{column}")


def _on_screen(admin: Any, element: Any) -> bool:
    """Tell whether ``element`` lies wholly inside the window's width (no sideways scroll)."""
    right = admin.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return r.right + window.scrollX;",
        element,
    )
    width = admin.driver.execute_script("return document.documentElement.clientWidth")
    return bool(right <= width)


def _sign_in(admin: Any, password: str, target: str) -> None:
    admin.driver.set_window_size(WIDTH, HEIGHT)
    admin.get(f"/admin/login/?next={target}")
    admin.driver.find_element(By.ID, "id_username").send_keys("root")
    admin.driver.find_element(By.ID, "id_password").send_keys(password)
    admin.driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    admin.wait(lambda d: d.current_url == admin.base_url + target)


def test_admin_revokes_the_browser_session_and_the_next_request_is_refused(
    browser: Any, user: Any, other_user: Any, password: str, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.test", password)
    bystander = sessions.start(other_user, user_agent="curl/8.5.0", ip_address="192.0.2.10")
    carol = django_user_model.objects.create_user("carol", "carol@example.test", password)
    laptop = sessions.start(
        carol,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        ip_address="2001:db8:85a3::8a2e:370:7334",
    )
    sessions.set_label(TokenSession.objects.get(sid=laptop.access_token.sid), "Work laptop")
    revocation.revoke_user(carol.pk, reason="password changed")
    page = browser()
    page.open_page()
    page.sign_in(user.username, password)
    page.wait_status("Signed in.")
    session = TokenSession.objects.get(user=user)

    admin = browser()
    _sign_in(admin, password, SESSIONS_ADMIN)
    row = _row(admin, session.pk)
    assert "alice" in row.text
    assert _cell(row, "state_display").text == "live"
    assert _cell(row, "why").text.startswith("ends unless used")
    # Issue 13 item 10: the state column was off-screen at 1366x768. Now every column fits:
    # the list does not scroll sideways, and the state is on screen.
    header = admin.driver.find_element(By.CSS_SELECTOR, "th.column-state_display")
    for element in (header, _cell(row, "state_display"), _cell(row, "why")):
        assert _on_screen(admin, element)
    assert admin.driver.execute_script(
        "const r = document.querySelector('#changelist-form .results');"
        "return r.scrollWidth <= r.clientWidth;"
    )
    cut = _row(admin, TokenSession.objects.get(sid=laptop.access_token.sid).pk)
    assert _cell(cut, "state_display").text == "revoked"
    assert _cell(cut, "why").text.startswith("all of the user's tokens revoked: password changed")
    assert "Work laptop" in _cell(cut, "device").text

    row.find_element(By.NAME, "_selected_action").click()
    Select(admin.driver.find_element(By.NAME, "action")).select_by_value("revoke_selected_sessions")
    admin.screenshot("admin-sessions")
    admin.driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    # A confirmation page first, as Django's delete has; nothing is revoked yet.
    admin.wait(lambda d: "Revoke the selected sessions?" in d.page_source)
    assert TokenSession.objects.get(pk=session.pk).revoked_at is None
    admin.screenshot("admin-sessions-confirm")
    admin.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    admin.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    assert "Revoked 1 session" in admin.driver.find_element(By.CSS_SELECTOR, ".messagelist").text
    row = _row(admin, session.pk)
    assert _cell(row, "state_display").text == "revoked"
    assert _cell(row, "why").text.startswith("revoked by an administrator")
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


def test_a_users_page_links_to_their_sessions_and_revokes_them_all(
    browser: Any, user: Any, password: str, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.test", password)
    phone = sessions.start(user, user_agent="Phone app/2.1", ip_address="192.0.2.7")
    laptop = sessions.start(user, user_agent="Firefox on Linux", ip_address="192.0.2.8")
    change = f"/admin/auth/user/{user.pk}/change/"

    admin = browser()
    _sign_in(admin, password, change)
    sessions_link = admin.driver.find_element(
        By.CSS_SELECTOR, f".object-tools a[href^='{SESSIONS_ADMIN}']"
    )
    assert sessions_link.get_attribute("textContent") == "2 live sessions"  # shown in capitals
    admin.screenshot("admin-user-tokens")
    sessions_link.click()
    admin.wait(lambda d: SESSIONS_ADMIN in d.current_url)
    rows = admin.driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    assert all("alice" in r.text for r in rows)

    admin.get(change)
    admin.driver.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/revoke-tokens/']").click()
    admin.wait(lambda d: "has 2 live sessions" in d.page_source)
    assert TokenSession.objects.live().filter(user=user).count() == 2
    admin.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    admin.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    assert admin.driver.current_url == admin.base_url + change
    tools = admin.driver.find_element(By.CSS_SELECTOR, ".object-tools")
    assert "0 live sessions" in tools.get_attribute("textContent")
    for pair in (phone, laptop):
        assert revocation.is_revoked(pair.access_token)


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
    page.wait(lambda d: "Revoke the selected sessions?" in d.page_source)
    page.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    assert _cell(_row(page, session.pk), "state_display").text == "revoked"

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
