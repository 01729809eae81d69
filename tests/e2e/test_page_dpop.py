"""The demo page's DPoP mode in a real browser: a WebCrypto key no script can export.

The page signs in with a proof from a P-256 key it made non-extractable and keeps in IndexedDB,
calls the API with a fresh proof each time, refreshes, survives a reload, and logs out. The
test then plays the script an attacker injected: it reads the tokens the page keeps, fails to
export the key, and finds the stolen access token refused as Bearer and with its own key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from jwtauth import dpop
from jwtauth.dpop.client import DPoPKey
from jwtauth.keys import b64url
from jwtauth.models import TokenSession

TOKEN_COOKIES = ("auth_token", "refresh_token")
READ_STORE = """
const done = arguments[arguments.length - 1];
const opening = indexedDB.open("jwtauth-demo", 1);
opening.onsuccess = () => {
  const request = opening.result.transaction("dpop").objectStore("dpop").get("session");
  request.onsuccess = async () => {
    const saved = request.result;
    if (!saved) return done(null);
    let exported = "exported";
    try {
      await crypto.subtle.exportKey("jwk", saved.key.privateKey);
    } catch (error) {
      exported = error.name;
    }
    done({
      tokens: saved.tokens,
      jwk: saved.jwk,
      extractable: saved.key.privateKey.extractable,
      exported,
    });
  };
};
opening.onerror = () => done(null);
"""


def thumbprint(jwk: dict[str, str]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of the EC public key the page keeps."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest())


def dpop_sign_in(page: Any, username: str, password: str) -> None:
    """Sign in with the page's form, DPoP mode ticked; wait until it has."""
    page.open_page()
    page.click("dpop")
    page.sign_in(username, password)
    page.wait_status("Signed in.")


@pytest.mark.parametrize("nonces", [False, True], ids=["no nonces", "nonces"])
def test_dpop_mode_signs_in_calls_refreshes_and_signs_out_with_a_key_no_script_can_take(
    browser: Any, live_server: Any, user: Any, password: str, settings: Any, nonces: bool
) -> None:
    settings.JWTAUTH_DPOP_NONCE = nonces  # the page answers the server's nonce challenges
    page = browser()
    dpop_sign_in(page, user.username, password)
    assert page.text("whoami") == "alice"
    assert page.text("mode") == "Tokens bound to a key kept in this browser (DPoP)."
    page.screenshot(f"page-dpop-signed-in-{'nonces' if nonces else 'plain'}")
    assert not set(TOKEN_COOKIES) & set(page.cookie_jar())  # nothing in cookies

    kept = page.driver.execute_async_script(READ_STORE)
    # The private key signs but cannot be read by any script, this page's included.
    assert kept["extractable"] is False
    assert kept["exported"] == "InvalidAccessError"
    session = TokenSession.objects.get(user=user)
    assert session.dpop_jkt == thumbprint(kept["jwk"])
    access = kept["tokens"]["access"]

    # The attacker's script took the access token; outside the browser it opens nothing.
    me = f"{live_server.url}/api/me/"
    as_bearer = httpx.get(me, headers={"Authorization": f"Bearer {access}"})
    assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "token_invalid")
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    thief = DPoPKey.generate()
    nonce = dpop.current_nonce() if nonces else None
    proof = thief.proof("GET", me, access_token=access, nonce=nonce)
    with_thiefs_key = httpx.get(me, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert (with_thiefs_key.status_code, with_thiefs_key.json()["error"]) == (401, "token_invalid")

    page.click("reload")
    page.wait_status("Up to date.")
    page.click("refresh")
    page.wait_status("Tokens refreshed: a new access and refresh token were set.")
    session.refresh_from_db()
    assert session.refreshed_at is not None
    assert page.driver.execute_async_script(READ_STORE)["tokens"]["access"] != access

    page.open_page()  # a reload: the key and tokens come back from IndexedDB
    page.wait_status("Signed in.")
    assert page.text("whoami") == "alice"

    page.click("logout")
    page.wait_status("Signed out.")
    assert page.shown("signed-out")
    assert page.driver.execute_async_script(READ_STORE) is None  # key and tokens forgotten
    session.refresh_from_db()
    assert session.revoked_at is not None
    page.screenshot("page-dpop-signed-out")
