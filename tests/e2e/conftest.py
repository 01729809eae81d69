"""Browser fixtures: headless Chromium driven by Selenium against a live server on 127.0.0.1.

They run with the rest of the suite whenever Debian's Chromium and chromedriver are installed
(``.ci/run`` installs them first), or when asked for (``pytest tests/e2e``, ``JWTAUTH_E2E=1``);
``JWTAUTH_E2E=0`` leaves them out. Without Chromium they are skipped locally, with the install
command as the reason, and fail in CI (``CI`` set).

The browser is Debian's ``chromium`` with its ``chromedriver``: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
IN_CI = bool(os.environ.get("CI"))
PAGE_LOAD_TIMEOUT = 30
SCRIPT_TIMEOUT = 15
WAIT = 15
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often have a tiny /dev/shm; a crashed renderer would look like a hung page.
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--window-size=1280,900",
    "--lang=en-US",
]


_LEFT_OUT = pytest.StashKey[int]()


def _requested(config: pytest.Config) -> bool:
    flag = os.environ.get("JWTAUTH_E2E")
    if flag in ("0", "1"):
        return flag == "1"
    if IN_CI or all(os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER)):
        return True
    base = Path(config.invocation_params.dir)
    for arg in config.invocation_params.args:
        arg = str(arg)
        if arg.startswith("-"):
            continue
        target = (base / arg.split("::", 1)[0]).resolve()
        if target == E2E_DIR or E2E_DIR in target.parents:
            return True
    return False


def _ours(item: pytest.Item) -> bool:
    return E2E_DIR in Path(item.path).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the browser tests out unless asked for; without Chromium, skip (fail in CI)."""
    ours = [item for item in items if _ours(item)]
    if not ours:
        return
    if not _requested(config):
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if not _ours(item)]
        config.stash[_LEFT_OUT] = len(ours)
        return
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    reason = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if IN_CI:
        raise pytest.UsageError(f"browser tests cannot run in CI: {reason}")
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say that the browser tests were left out, and how to run them."""
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"tests/e2e: {left_out} browser tests left out of this run (JWTAUTH_E2E=0, or no "
            "Chromium: apt-get install chromium chromium-driver)."
        )


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """Serve the site on 127.0.0.1, so that ``localhost`` is another site for the browser."""
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


class Browser:
    """One headless Chromium with a profile (and so a cookie jar) of its own."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self._events: list[dict[str, Any]] = []

    def get(self, url: str) -> None:
        """Load ``url`` (a path on the site, or a full URL) and wait until it has loaded."""
        self.driver.get(url if "://" in url else self.base_url + url)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")

    def wait(self, condition: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
        """Wait until ``condition(driver)`` is truthy; return its value."""
        return WebDriverWait(self.driver, timeout).until(condition)

    def open_page(self) -> None:
        """Open the demo page and wait until its script has found out who is signed in."""
        self.get("/")
        self.wait(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

    def text(self, element_id: str) -> str:
        """Return the visible text of the element with ``element_id``."""
        return str(self.driver.find_element(By.ID, element_id).text)

    def shown(self, element_id: str) -> bool:
        """Tell whether the element with ``element_id`` is displayed."""
        return bool(self.driver.find_element(By.ID, element_id).is_displayed())

    def click(self, element_id: str) -> None:
        """Click the element with ``element_id``."""
        self.driver.find_element(By.ID, element_id).click()

    def wait_status(self, text: str) -> None:
        """Wait until the page's status line reads ``text``."""
        self.wait(lambda d: d.find_element(By.ID, "status").text == text)

    def sign_in(self, username: str, password: str) -> None:
        """Fill in and submit the page's sign-in form (the page must be open and signed out)."""
        self.driver.find_element(By.ID, "username").send_keys(username)
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form button").click()

    def signed_in(self, username: str, password: str) -> None:
        """Open the demo page and sign in with its form (cookie mode); wait until it has."""
        self.open_page()
        self.sign_in(username, password)
        self.wait_status("Signed in.")

    def admin_login(self, username: str, password: str, next_url: str) -> None:
        """Log in to the admin with its own form (Django's session); wait for ``next_url``."""
        self.get(f"/admin/login/?next={next_url}")
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
        self.wait(lambda d: d.current_url == self.base_url + next_url)

    def fetch(self, method: str, path: str, *, csrf: bool = False) -> tuple[int, Any]:
        """Make a same-origin request from the open page, as its script would; answer status, JSON.

        With ``csrf``, the request carries the CSRF token from ``/auth/csrf/``.
        """
        result = self.driver.execute_async_script(
            """
            const [method, url, withCsrf, done] = arguments;
            (async () => {
              const headers = {Accept: "application/json"};
              if (withCsrf) {
                const r = await fetch("/auth/csrf/", {credentials: "same-origin"});
                headers["X-CSRFToken"] = (await r.json()).csrf_token;
              }
              const r = await fetch(url, {method, headers, credentials: "same-origin"});
              done({status: r.status, body: await r.text()});
            })().catch((e) => done({status: 0, body: String(e)}));
            """,
            method,
            path,
            csrf,
        )
        body = result["body"]
        return int(result["status"]), json.loads(body) if body else None

    def wait_response(self, url: str) -> int:
        """Wait until the browser has received a response to ``url``; return its status.

        Read from the DevTools network events, so it covers what a page cannot observe (a
        cross-site form post answered 204, which leaves the page where it was). The browser
        has stored the response's cookies by the time the event is reported.
        """

        def received(driver: WebDriver) -> int | None:
            for entry in driver.get_log("performance"):
                self._events.append(json.loads(entry["message"])["message"])
            for event in self._events:
                response = event["params"].get("response", {})
                if event["method"] == "Network.responseReceived" and response["url"] == url:
                    return int(response["status"])
            return None

        status: int = self.wait(received)
        return status

    def cookie_jar(self) -> dict[str, dict[str, Any]]:
        """Return every cookie the browser holds, whatever its path, by name (DevTools)."""
        cookies = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        return {cookie["name"]: cookie for cookie in cookies}

    def script_cookies(self) -> str:
        """Return ``document.cookie``: what the page's JavaScript can read."""
        return str(self.driver.execute_script("return document.cookie"))

    def navigation_status(self) -> int:
        """Return the HTTP status of the page now shown (Navigation Timing ``responseStatus``)."""
        return int(
            self.driver.execute_script(
                "return performance.getEntriesByType('navigation')[0].responseStatus"
            )
        )

    def screenshot(self, name: str) -> Path:
        """Save a PNG of the window as a test artifact and return its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), f"screenshot {name} failed"
        return path


def _launch(profile: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # DevTools network events, for Browser.wait_response.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    driver.set_script_timeout(SCRIPT_TIMEOUT)
    return driver


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[Callable[[], Browser]]:
    """Return a factory of browsers, each a fresh Chromium profile; quit them all afterwards."""
    launched: list[tuple[WebDriver, Path]] = []

    def launch() -> Browser:
        profile = Path(tempfile.mkdtemp(prefix="jwtauth-e2e-"))
        try:
            launched.append((_launch(profile), profile))
        except Exception:
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return Browser(launched[-1][0], live_server.url)

    yield launch
    for driver, profile in launched:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
