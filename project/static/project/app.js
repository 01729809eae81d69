// The demo page's client: cookie-mode login, who am I, my sessions, refresh, logout.
// It never sees a token: the server keeps them in HttpOnly cookies, and every unsafe request
// carries the CSRF token from GET /auth/csrf/ in X-CSRFToken, as Django's CSRF check asks.
"use strict";

(() => {
  const urls = document.body.dataset;
  const $ = (id) => document.getElementById(id);
  // Answers after which one refresh may help: the access token (or its cookie) has expired.
  const RENEWABLE = new Set(["token_expired", "not_authenticated"]);
  let csrfToken = "";

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

  async function request(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = await csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      // A refused CSRF token may be stale (a new CSRF cookie): fetch a fresh one next time.
      if (response.status === 403) csrfToken = "";
      throw await failure(response);
    }
    return response.status === 204 ? null : response.json();
  }

  // Call an endpoint that needs the access token; when that token has expired, rotate the
  // pair once through the refresh cookie (sent to /auth/refresh/ only) and try again.
  async function authed(method, url) {
    try {
      return await request(method, url);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !RENEWABLE.has(error.code)) {
        throw error;
      }
      await request("POST", urls.refreshUrl);
      return request(method, url);
    }
  }

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
    if (!signedIn) {
      $("whoami").textContent = "";
      $("sessions").replaceChildren();
    }
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
      show(false);
      say("This browser's session was revoked: signed out.");
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
      if (error instanceof ApiError && error.status === 401) {
        show(false);
        say("Not signed in.");
      }
    } finally {
      control.disabled = false;
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run(form.querySelector("button"), async () => {
      await request("POST", urls.loginUrl, {
        username: form.elements.username.value,
        password: form.elements.password.value,
        cookie: true,
      });
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
      await request("POST", urls.refreshUrl);
      await load();
      say("Tokens refreshed: a new access and refresh token were set.");
    }),
  );

  $("logout").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      await request("POST", urls.logoutUrl);
      show(false);
      say("Signed out.");
    }),
  );

  // On arrival: signed in already (a cookie from an earlier visit) or not; quietly either way.
  load()
    .then(() => say("Signed in."))
    .catch((error) => {
      show(false);
      say("Not signed in.");
      if (!(error instanceof ApiError && error.status === 401)) report(error);
    })
    .finally(() => document.body.setAttribute("data-ready", "true"));
})();
