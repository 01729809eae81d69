"""Serve the JSON endpoints: login, refresh, logout, logout-all, sessions, JWKS and CSRF.

Views are thin: read the request, call the service modules, answer. Every error a client can
cause is answered as ``{"error": <code>, "detail": <text>}`` with a 4xx status; a database
failure is a 503; nothing a client sends produces a 500.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.core.paginator import Paginator
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.csrf import get_token
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from . import (
    active,
    bodies,
    cookies,
    credentials,
    dpop,
    requestauth,
    responses,
    revocation,
    sessions,
    throttle,
)
from .conf import conf
from .cookies import enforce_csrf
from .dberrors import database_error
from .decorators import allowed_methods
from .dpop import DPoPError, InvalidDPoPProof, Proof
from .dpop.policy import policy
from .exceptions import (
    InvalidCredentials,
    InvalidRequest,
    JWTAuthError,
    NotAuthenticated,
    NotFound,
    TokenError,
    TokenExpired,
    TokenRevoked,
)
from .keys import keyring
from .middleware import lenient
from .models import MAX_LABEL, TokenSession
from .tokens import REFRESH, TokenPair, decode

logger = logging.getLogger("jwtauth")
# Session ids are new_jti() values: unpadded base64url (RFC 4648 §5), as long as a jti may be.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SESSIONS_PER_PAGE = 50
View = Callable[..., HttpResponseBase]


def endpoint(
    *methods: str, auth: bool = False, clears_cookies: bool = False, token_endpoint: bool = False
) -> Callable[[View], View]:
    """Wrap a view: allowed methods, token requirement, CSRF for cookies, JSON errors.

    Every endpoint authenticates its own request (:func:`jwtauth.requestauth.authenticate`),
    so it answers alike with or without the middleware installed. A ``token_endpoint`` (login,
    refresh) answers a DPoP proof problem with 400 and no challenge (RFC 9449 §5).
    """

    allowed = allowed_methods(methods)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                return responses.method_not_allowed(allowed)
            try:
                return _run(view, request, auth, *args, **kwargs)
            except JWTAuthError as e:
                response = responses.refused(request, e, token_endpoint=token_endpoint)
            except DataError as e:
                # A value the database refuses (one that slipped past validation) is the
                # client's, not an outage: a 503 would invite retries.
                logger.warning("value refused in %s: %s", view.__name__, e.__class__.__name__)
                response = responses.error(InvalidRequest())
            except DatabaseError as e:
                response = responses.error(database_error(e, view.__name__))
            if clears_cookies and _should_clear(request, response):
                cookies.clear_tokens(response)
            responses.offer_nonce(request, response)
            return response

        marked: View = lenient(csrf_exempt(wrapper))
        return marked

    return decorate


def _should_clear(request: HttpRequest, response: HttpResponseBase) -> bool:
    # Clear the cookies of a request whose tokens are dead (401), but only when it carried
    # them: a cross-site form post carries none (SameSite=Strict), and a 403 is a failed CSRF
    # check; neither may log the browser out.
    return response.status_code == 401 and _clears_cookies(request)


def _run(
    view: View, request: HttpRequest, auth: bool, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    state = requestauth.authenticate(request)
    if auth:
        state.require()
    if state.source == credentials.COOKIE and request.method not in requestauth.SAFE_METHODS:
        # Bound the body before the check reads a form from it (the view reads it too).
        enforce_csrf(request)
    return view(request, *args, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP address as Django sees it (``REMOTE_ADDR``), if valid."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return None
    # Drop an IPv6 zone ("fe80::1%eth0", RFC 4007 §11): it names the server's interface, not
    # the client, and the database's inet type refuses it.
    return str(address).partition("%")[0]


def user_agent(request: HttpRequest) -> str:
    """Return the request's ``User-Agent`` as printable text, for the sessions list."""
    raw = request.META.get("HTTP_USER_AGENT", "")
    # The header is client input: keep it printable (no NUL, which PostgreSQL text refuses).
    return "".join(c for c in raw if c.isprintable())[: sessions.MAX_USER_AGENT]


def _token_response(pair: TokenPair, use_cookies: bool) -> HttpResponse:
    # RFC 9449 §5: "DPoP" tells the client its tokens are bound (a server that ignored its
    # proof would say "Bearer"). These are token types, not passwords (bandit B105).
    token_type = credentials.DPOP if "cnf" in pair.access_token.claims else credentials.BEARER
    body: dict[str, Any] = {"token_type": token_type, "expires_in": conf.access_lifetime}
    if not use_cookies:
        body.update(access=pair.access, refresh=pair.refresh)
    response = responses.tokens(body)
    if use_cookies:
        cookies.set_tokens(response, pair)
    return response


def _login_proof(request: HttpRequest, use_cookies: bool) -> Proof | None:
    """Return the login's verified DPoP proof, or ``None`` for a bearer login.

    Checked before the password (and the throttle): a proof problem, a nonce challenge among
    them, costs no password hash and counts as no failed attempt.
    """
    p = policy()
    if requestauth.PROOF_HEADER not in request.META:
        if p.required:
            raise InvalidDPoPProof(
                _("This server issues DPoP-bound tokens only; send a DPoP proof.")
            )
        return None
    if not (p.enabled or p.required):
        return None  # RFC 9449 §5: a server without DPoP ignores the header ("Bearer" says so)
    if use_cookies:
        # A cookie is sent by the browser on its own, with no proof; bound tokens are held by
        # the script that holds the key (docs/dpop.md, "Cookies").
        raise InvalidRequest(
            _("DPoP-bound tokens are not delivered in cookies; log in without 'cookie'.")
        )
    return requestauth.proof(request)


@endpoint("POST", token_endpoint=True)
def login(request: HttpRequest) -> HttpResponseBase:
    """Exchange a username and password for a token pair and a new session.

    With a DPoP proof the session is bound to the proof's key (RFC 9449 §5).
    """
    data = bodies.read(request)
    username = bodies.string(data, "username", 254)
    password = bodies.string(data, "password", 4096)
    use_cookies = conf.COOKIES and bodies.flag(data, "cookie")
    if use_cookies:
        enforce_csrf(request)
    proof = _login_proof(request, use_cookies)
    ip = client_ip(request)
    attempt = throttle.reserve(username, ip)  # counted before the hash: no race past the limit
    # Django's ModelBackend hashes a dummy password for unknown users, so a wrong username
    # and a wrong password take about the same time.
    user = authenticate(request, username=username, password=password)
    if not active.is_active(user):
        raise InvalidCredentials()
    attempt.succeeded()
    pair = sessions.start(user, user_agent=user_agent(request), ip_address=ip, proof=proof)
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return _token_response(pair, use_cookies)


def _presented_refresh(request: HttpRequest, data: dict[str, Any]) -> tuple[str | None, bool]:
    raw = bodies.optional_string(data, "refresh", conf.MAX_TOKEN_LENGTH + 1)
    if raw is None and conf.COOKIES:
        cookie = request.COOKIES.get(conf.REFRESH_COOKIE)
        if cookie:
            return cookie, True
    return raw, False


@endpoint("POST", token_endpoint=True)
def refresh(request: HttpRequest) -> HttpResponseBase:
    """Rotate a refresh token: spend it and answer a new access and refresh token.

    A DPoP-bound refresh token needs a proof from its key, checked before it is spent.
    """
    data = bodies.read(request)
    raw, from_cookie = _presented_refresh(request, data)
    if raw is None:
        raise NotAuthenticated(_("No refresh token was presented."))
    if from_cookie:
        enforce_csrf(request)
    try:
        token = decode(raw, REFRESH)
        pair = sessions.rotate(
            token,
            proof=requestauth.proof(request),
            ip_address=client_ip(request),
            user_agent=user_agent(request),
        )
    except TokenError as e:
        response = responses.error(e)
        if from_cookie:
            cookies.clear_tokens(response)
        return response
    return _token_response(pair, from_cookie)


@endpoint("POST", clears_cookies=True)
def logout(request: HttpRequest) -> HttpResponseBase:
    """End the presented session: revoke the access token and its refresh family."""
    data = bodies.read(request)
    raw_refresh, from_cookie = _presented_refresh(request, data)
    state = requestauth.authenticate(request)
    if from_cookie or (_clears_cookies(request) and state.source != credentials.HEADER):
        # The answer acts on, or clears, cookies a cross-site request can carry.
        enforce_csrf(request)
    access = state.token
    ended = access is not None
    if access is not None:
        sessions.end(access)
    if raw_refresh is not None:
        ended = _end_refresh(request, raw_refresh, ended) or ended
    error = state.error
    if not ended:
        # A token that is merely expired or already revoked has nothing left to end.
        if error is not None and not isinstance(error, TokenExpired | TokenRevoked):
            raise error
        if error is None and raw_refresh is None:
            raise NotAuthenticated()
    return _logged_out(request)


def _clears_cookies(request: HttpRequest) -> bool:
    # Only cookies the request presented are cleared: a cross-site form carries none
    # (SameSite), and its answer must not log the browser out (a logout CSRF).
    return conf.COOKIES and cookies.presented(request)


def _logged_out(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=204)
    if _clears_cookies(request):
        cookies.clear_tokens(response)
    return response


def _end_refresh(request: HttpRequest, raw: str, already_ended: bool) -> bool:
    try:
        token = decode(raw, REFRESH)
    except TokenExpired:
        return False
    except TokenError:
        if already_ended:
            return False
        raise
    if revocation.is_revoked(token):
        # A spent family (or a deleted user's) has nothing left to end.
        return False
    try:
        # A bound refresh token ends its session only with a proof from its key: stolen
        # alone, it must not even log its owner out.
        dpop.check_grant(token.claims, requestauth.proof(request))
    except (TokenError, DPoPError):
        if already_ended:
            return False
        raise
    sessions.end(token)
    return True


@endpoint("POST", auth=True, clears_cookies=True)
def logout_all(request: HttpRequest) -> HttpResponseBase:
    """Revoke every token the user holds, on every device."""
    revocation.revoke_user(request.auth.sub, reason="logout everywhere")  # type: ignore[attr-defined]
    return _logged_out(request)


def _session_json(row: TokenSession, current: str) -> dict[str, Any]:
    ends, why = row.ends
    return {
        "id": row.sid,
        "label": row.label,
        "device": row.user_agent,
        "ip": row.ip_address,
        "created": row.created_at.isoformat(),
        "last_used": row.last_used_at.isoformat(),
        "expires": ends.isoformat(),
        "expires_reason": why,
        "current": row.sid == current,
    }


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise InvalidRequest(_("The parameter 'page' must be a positive integer."))
    return int(raw)


def _page_link(request: HttpRequest, number: int) -> str:
    query = request.GET.copy()
    query["page"] = str(number)
    return f"{request.path}?{query.urlencode()}"


@endpoint("GET", auth=True)
def session_list(request: HttpRequest) -> HttpResponseBase:
    """List the user's live sessions a page at a time, marking the one making this request."""
    number = _page_number(request)
    paginator = Paginator(sessions.for_user(request.auth.sub), SESSIONS_PER_PAGE)  # type: ignore[attr-defined]
    if number > paginator.num_pages:
        raise NotFound(_("There is no page %(number)d.") % {"number": number})
    page = paginator.page(number)
    current = request.auth.sid  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "count": paginator.count,
            "next": _page_link(request, number + 1) if page.has_next() else None,
            "previous": _page_link(request, number - 1) if page.has_previous() else None,
            "sessions": [_session_json(row, current) for row in page.object_list],
        },
        headers={"Cache-Control": "no-store"},
    )


def _own_live_session(request: HttpRequest, sid: str) -> TokenSession:
    if not SESSION_ID.fullmatch(sid):
        raise NotFound()  # not an id we issue (new_jti's alphabet); never worth a query
    # Another user's session, an unknown id and a dead session get the same answer.
    row = sessions.for_user(request.auth.sub).filter(sid=sid).first()  # type: ignore[attr-defined]
    if row is None:
        raise NotFound()
    return row  # type: ignore[no-any-return]


def _label(data: dict[str, Any]) -> str:
    value = data.get("label")
    if not isinstance(value, str):
        raise InvalidRequest(_("The field 'label' is required and must be a string."))
    # Shown to the user and in the admin: no control characters, nor lone surrogates (which
    # no UTF-8 database stores); the length is counted before surrounding spaces are dropped.
    if len(value) > MAX_LABEL or any(unicodedata.category(c) in {"Cc", "Cs"} for c in value):
        detail = _(
            "The label must be text of at most %(max)d characters, without control characters."
        )
        raise InvalidRequest(detail % {"max": MAX_LABEL})
    return value.strip()


@endpoint("GET", "PATCH", auth=True)
def session_detail(request: HttpRequest, sid: str) -> HttpResponseBase:
    """Show one of the user's own live sessions; PATCH sets its label."""
    row = _own_live_session(request, sid)
    if request.method == "PATCH":
        sessions.set_label(row, _label(bodies.read(request)))
    return JsonResponse(
        _session_json(row, request.auth.sid),  # type: ignore[attr-defined]
        headers={"Cache-Control": "no-store"},
    )


@endpoint("POST", auth=True)
def session_revoke(request: HttpRequest, sid: str) -> HttpResponseBase:
    """Revoke one of the user's own live sessions; any other id is answered 404."""
    row = _own_live_session(request, sid)
    revocation.revoke_session(row.sid, reason="revoked by user")
    return HttpResponse(status=204)


@endpoint("GET")
def jwks(request: HttpRequest) -> HttpResponseBase:
    """Publish the public verification keys as a JWK Set (RFC 7517 §5); 404 with HMAC."""
    ring = keyring()
    if ring.is_symmetric:
        raise NotFound(_("No public keys: tokens are signed with a shared secret."))
    response = JsonResponse({"keys": ring.public_jwks})
    response["Cache-Control"] = f"public, max-age={conf.JWKS_MAX_AGE}"
    return response


@endpoint("GET")
def csrf(request: HttpRequest) -> HttpResponseBase:
    """Set the CSRF cookie a browser needs before a cookie-mode login, and return the token."""
    return JsonResponse({"csrf_token": get_token(request)}, headers={"Cache-Control": "no-store"})
