// The demo page's client: login, who am I, my sessions, refresh, logout, in one of two modes.
//
// Cookie mode: the page never sees a token. The server keeps them in HttpOnly cookies, and every
// unsafe request carries the CSRF token from GET /auth/csrf/ in X-CSRFToken, as Django's CSRF
// check asks.
//
// DPoP mode (RFC 9449): the tokens are bound to an ECDSA P-256 key pair made here with WebCrypto.
// Its private key is not extractable: script can sign with it but never read it, so neither an
// injected script nor a copied IndexedDB can take it elsewhere. The key and the tokens are kept
// in IndexedDB (the tokens are worthless without the key); every request carries a fresh proof,
// and no cookie at all.
"use strict";

(() => {
  const urls = document.body.dataset;
  const $ = (id) => document.getElementById(id);
  // Answers after which one refresh may help: the access token (or its cookie) has expired.
  const RENEWABLE = new Set(["token_expired", "not_authenticated"]);
  const NONCE_ERROR = "use_dpop_nonce";
  const encoder = new TextEncoder();
  let csrfToken = "";
  // DPoP mode when `key` is set: the key pair, its public JWK, the tokens, the server's nonce.
  let dpop = { key: null, jwk: null, tokens: null, nonce: "" };

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  async function failure(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // Not JSON (a proxy's error page, say): fall back to the status line.
    }
    return new ApiError(
      response.status,
      body.error || `http_${response.status}`,
      body.detail || response.statusText || "Request failed.",
    );
  }

  // --- DPoP: the key, where it is kept, and the proofs it signs --------------------------------

  const STORE = "dpop";

  function database() {
    return new Promise((resolve, reject) => {
      const opening = indexedDB.open("jwtauth-demo", 1);
      opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
  }

  // Run one operation on the store ("readonly" or "readwrite") and resolve with its result.
  async function stored(access, operation) {
    const db = await database();
    try {
      return await new Promise((resolve, reject) => {
        const request = operation(db.transaction(STORE, access).objectStore(STORE));
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    } finally {
      db.close();
    }
  }

  // The CryptoKeyPair is stored as is: IndexedDB keeps a non-extractable key non-extractable.
  const save = () =>
    stored("readwrite", (store) =>
      store.put({ key: dpop.key, jwk: dpop.jwk, tokens: dpop.tokens }, "session"),
    );

  async function restore() {
    const saved = await stored("readonly", (store) => store.get("session"));
    if (saved && saved.key && saved.tokens) {
      dpop = { key: saved.key, jwk: saved.jwk, tokens: saved.tokens, nonce: "" };
    }
  }

  async function forgetKey() {
    dpop = { key: null, jwk: null, tokens: null, nonce: "" };
    await stored("readwrite", (store) => store.clear());
  }

  async function newKey() {
    const key = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      false, // the private key can sign, and never be exported
      ["sign", "verify"],
    );
    // A public key is always exportable. Only the members RFC 7638 hashes go in the proofs.
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", key.publicKey);
    dpop = { key, jwk: { kty, crv, x, y }, tokens: null, nonce: "" };
  }

  async function keep(tokens) {
    dpop.tokens = { access: tokens.access, refresh: tokens.refresh };
    await save();
  }

  function b64url(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const b64json = (value) => b64url(encoder.encode(JSON.stringify(value)));

  // A proof for one request (RFC 9449 §4.2): htu is the URL without query and fragment; ath
  // binds it to the access token sent with it; the nonce is the server's latest.
  async function proof(method, url, accessToken) {
    const target = new URL(url, window.location.href);
    const claims = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method,
      htu: target.origin + target.pathname,
      iat: Math.floor(Date.now() / 1000),
    };
    if (accessToken) {
      claims.ath = b64url(await crypto.subtle.digest("SHA-256", encoder.encode(accessToken)));
    }
    if (dpop.nonce) claims.nonce = dpop.nonce;
    const input = `${b64json({ typ: "dpop+jwt", alg: "ES256", jwk: dpop.jwk })}.${b64json(claims)}`;
    // WebCrypto's ECDSA signature is r || s, exactly what JWS ES256 wants (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      dpop.key.privateKey,
      encoder.encode(input),
    );
    return `${input}.${b64url(signature)}`;
  }

  // --- requests --------------------------------------------------------------------------------

  async function csrf() {
    if (!csrfToken) {
      const response = await fetch(urls.csrfUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw await failure(response);
      csrfToken = (await response.json()).csrf_token;
    }
    return csrfToken;
  }

  // Send one request the way the mode wants. `withToken: false` leaves the access token out
  // (login and refresh, RFC 9449 §5); a DPoP nonce challenge is answered once with the nonce.
  async function request(method, url, body, { withToken = true, retried = false } = {}) {
    const headers = { Accept: "application/json" };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (dpop.key) {
      init.credentials = "omit"; // the key is the credential: no cookie, so no CSRF either
      const access = withToken && dpop.tokens ? dpop.tokens.access : undefined;
      if (access) headers.Authorization = `DPoP ${access}`;
      headers.DPoP = await proof(method, url, access);
    } else {
      init.credentials = "same-origin";
      if (method !== "GET") headers["X-CSRFToken"] = await csrf();
    }
    const response = await fetch(url, init);
    const nonce = response.headers.get("DPoP-Nonce");
    if (dpop.key && nonce) dpop.nonce = nonce; // RFC 9449 §8.2: use it from now on
    if (!response.ok) {
      // A refused CSRF token may be stale (a new CSRF cookie): fetch a fresh one next time.
      if (response.status === 403) csrfToken = "";
      const error = await failure(response);
      if (error.code === NONCE_ERROR && nonce && !retried) {
        return request(method, url, body, { withToken, retried: true });
      }
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  // Rotate the pair: the refresh cookie (sent to /auth/refresh/ only), or the kept refresh
  // token with a proof from the key it is bound to.
  async function renew() {
    if (!dpop.key) {
      await request("POST", urls.refreshUrl);
      return;
    }
    const body = { refresh: dpop.tokens.refresh };
    await keep(await request("POST", urls.refreshUrl, body, { withToken: false }));
  }

  // Call an endpoint that needs the access token; when that token has expired, rotate the
  // pair once and try again.
  async function authed(method, url) {
    try {
      return await request(method, url);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !RENEWABLE.has(error.code)) {
        throw error;
      }
      await renew();
      return request(method, url);
    }
  }

  // --- the page --------------------------------------------------------------------------------

  function say(text) {
    $("status").textContent = text;
  }

  function report(error) {
    const box = $("error");
    if (!error) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.textContent =
      error instanceof ApiError
        ? `${error.message} (${error.code}, HTTP ${error.status})`
        : `Could not reach the server: ${error.message}`;
    box.hidden = false;
  }

  function show(signedIn) {
    $("signed-in").hidden = !signedIn;
    $("signed-out").hidden = signedIn;
    $("mode").textContent = dpop.key
      ? "Tokens bound to a key kept in this browser (DPoP)."
      : "Tokens kept in HttpOnly cookies.";
    if (!signedIn) {
      $("whoami").textContent = "";
      $("sessions").replaceChildren();
    }
  }

  // Signed out (or refused): a DPoP session's tokens and key are of no further use.
  async function signedOut(text) {
    if (dpop.key) await forgetKey();
    show(false);
    say(text);
  }

  function when(iso) {
    return new Date(iso).toLocaleString();
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // When the session ends: at its idle timeout (a refresh moves it) or its absolute lifetime.
  function expiry(session) {
    const td = cell(when(session.expires));
    if (session.expires_reason === "lifetime") {
      td.append(" (final)");
      td.title = "The session's maximum lifetime: sign in again then.";
    } else {
      td.title = "Unless used before then.";
    }
    return td;
  }

  function renderSessions(sessions) {
    const rows = sessions.map((session) => {
      const tr = document.createElement("tr");
      tr.dataset.sid = session.id;
      const device = cell(session.device || "Unknown device", "device");
      if (session.label) {
        const label = document.createElement("strong");
        label.className = "label";
        label.textContent = session.label;
        device.prepend(label);
      }
      if (session.current) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "this browser";
        device.append(badge);
      }
      const button = document.createElement("button");
      button.type = "button";
      button.className = "danger";
      button.textContent = "Revoke";
      button.setAttribute(
        "aria-label",
        `Revoke the session signed in ${when(session.created)}${session.current ? " (this browser)" : ""}`,
      );
      button.addEventListener("click", () => run(button, () => revoke(session)));
      const actions = document.createElement("td");
      actions.append(button);
      tr.append(
        device,
        cell(session.ip || "—"),
        cell(when(session.created)),
        cell(when(session.last_used)),
        expiry(session),
        actions,
      );
      return tr;
    });
    $("sessions").replaceChildren(...rows);
  }

  // Every live session: the list comes a page at a time; follow its "next" links.
  async function allSessions() {
    const sessions = [];
    let url = urls.sessionsUrl;
    while (url) {
      const page = await authed("GET", url);
      sessions.push(...page.sessions);
      url = page.next;
    }
    return sessions;
  }

  async function load() {
    const me = await authed("GET", urls.meUrl);
    const sessions = await allSessions();
    $("whoami").textContent = me.username;
    renderSessions(sessions);
    show(true);
  }

  async function revoke(session) {
    await request("POST", urls.revokeUrl.replace("__sid__", encodeURIComponent(session.id)));
    if (session.current) {
      await signedOut("This browser's session was revoked: signed out.");
      return;
    }
    await load();
    say("Session revoked.");
  }

  // Run one user action: disable its control meanwhile, show the outcome or the error, and
  // fall back to the sign-in form when the server no longer accepts this browser's tokens.
  async function run(control, action) {
    control.disabled = true;
    report(null);
    try {
      await action();
    } catch (error) {
      report(error);
      if (error instanceof ApiError && error.status === 401) await signedOut("Not signed in.");
    } finally {
      control.disabled = false;
    }
  }

  async function signIn(form) {
    const credentials = {
      username: form.elements.username.value,
      password: form.elements.password.value,
    };
    if (!form.elements.dpop.checked) {
      await request("POST", urls.loginUrl, { ...credentials, cookie: true });
      return;
    }
    await newKey();
    try {
      await keep(await request("POST", urls.loginUrl, credentials, { withToken: false }));
    } catch (error) {
      await forgetKey();
      throw error;
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run(form.querySelector("button"), async () => {
      await signIn(form);
      form.elements.password.value = "";
      await load();
      say("Signed in.");
    });
  });

  $("reload").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      await load();
      say("Up to date.");
    }),
  );

  $("refresh").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      await renew();
      await load();
      say("Tokens refreshed: a new access and refresh token were set.");
    }),
  );

  $("logout").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      const body = dpop.key ? { refresh: dpop.tokens.refresh } : undefined;
      await request("POST", urls.logoutUrl, body);
      await signedOut("Signed out.");
    }),
  );

  // On arrival: signed in already (a cookie, or a key and tokens kept from an earlier visit)
  // or not; quietly either way.
  restore()
    .catch(() => undefined) // no IndexedDB to read (a private window, say): cookie mode only
    .then(load)
    .then(() => say("Signed in."))
    .catch(async (error) => {
      if (error instanceof ApiError && error.status === 401) {
        await signedOut("Not signed in.");
        return;
      }
      show(false);
      say("Not signed in.");
      report(error);
    })
    .finally(() => document.body.setAttribute("data-ready", "true"));
})();
