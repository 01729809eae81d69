"""The demo page's footer in a real browser: every link it shows leads somewhere."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By


def footer_links(page: Any) -> dict[str, str]:
    """Return the footer's links, text to URL, as the browser resolved them."""
    anchors = page.driver.find_elements(By.CSS_SELECTOR, "footer a")
    return {a.text: a.get_attribute("href") for a in anchors}


def follow_each(page: Any, links: dict[str, str]) -> dict[str, int]:
    """Open every link in turn; return the status each page was finally served with."""
    statuses = {}
    for text, url in links.items():
        page.get(url)
        statuses[text] = page.navigation_status()
    return statuses


def test_with_an_hmac_secret_the_footer_has_no_jwks_link(browser: Any, db: Any) -> None:
    page = browser()
    page.open_page()
    # Before the fix the footer linked the JWKS here too, and the browser got a 404.
    assert follow_each(page, footer_links(page)) == {"Admin": 200}  # the admin's login page


def test_with_a_key_pair_the_footer_links_to_the_jwks(
    browser: Any, db: Any, settings: Any, private_keys: dict[str, str]
) -> None:
    settings.JWTAUTH_ALGORITHM = "ES256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["ES256"]
    page = browser()
    page.open_page()
    assert follow_each(page, footer_links(page)) == {"Admin": 200, "JWKS": 200}
    assert '"kty":"EC"' in page.driver.page_source.replace(" ", "")
