"""Start login sessions, rotate their refresh tokens under the session policy, and end them.

A session is the family of every token descended from one login. Rotation is a single
conditional ``UPDATE`` (compare-and-set on the family's current refresh ``jti``), so of several
refreshes with one token exactly one rotates the family. A refresh token the compare-and-set
does not match is then judged (RFC 9700 §4.14.2, with a reuse interval):

- the **immediately previous** token, within ``JWTAUTH_REFRESH_REUSE_INTERVAL`` seconds of the
  rotation that spent it, is a client's retry (a lost answer, two tabs, a proxy): it is answered
  with the same successor refresh token, re-derived from the session row (its ``jti``, ``iat``
  and ``exp`` and the login's ``auth_time`` are stored, never the token), and a new access
  token. The family does not fork: both answers carry one refresh token.
- any other spent token (two generations old, or after the interval) is reuse: the whole family
  is revoked, a warning is logged and ``refresh_reused`` is sent.

The policy: a family ends at the earliest of its refresh token's expiry, its idle timeout and
its absolute lifetime (:func:`jwtauth.models.session_end`), and no token is issued to outlive
that end. A login past ``JWTAUTH_MAX_SESSIONS_PER_USER`` revokes the user's least recently
used sessions.

A session started with a DPoP proof is bound to its key for good (RFC 9449 §5, §6): every
token of the family carries ``cnf.jkt``, the row keeps the thumbprint, and a refresh needs a
proof from that key. Without one (or with another key) the refresh is refused before the
compare-and-set, so the token is not spent, and not taken for reuse either: a thief holding
the token without the key can neither use it nor end the session with it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.utils.translation import gettext_lazy as _

from . import active, dpop, revocation, signals
from .clock import now
from .conf import conf
from .dpop import Proof
from .exceptions import TokenError, TokenExpired, TokenReused, TokenRevoked
from .models import EXPIRED, LIFETIME, REVOKED, TokenSession, session_end, within_policy
from .tokens import ACCESS, REFRESH, Token, TokenPair, encode, extra_claims, new_jti

logger = logging.getLogger("jwtauth")

MAX_USER_AGENT = 256
REUSE_REASON = "refresh token reuse"
CAP_REASON = "session limit reached"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _timestamp(moment: datetime) -> int:
    # A NumericDate in whole seconds, rounded down as ``iat`` is, in integer arithmetic.
    return (moment - _EPOCH) // _SECOND


def _bound(extra: dict[str, Any], jkt: str | None) -> dict[str, Any]:
    # RFC 9449 §6.1: a DPoP-bound token names its key's thumbprint in cnf.jkt.
    return {**extra, **dpop.confirmation(jkt)} if jkt else extra


def _access(
    user: Any, sid: str, iat: int, auth_time: int, not_after: int, jkt: str | None
) -> tuple[str, Token]:
    # RFC 9068 §2.2.1: auth_time, the login, is set by jwtauth after the project's claims.
    extra = _bound({**extra_claims(user), "auth_time": auth_time}, jkt)
    exp = min(iat + conf.access_lifetime, not_after)
    return encode(ACCESS, sub=str(user.pk), sid=sid, lifetime=exp - iat, extra=extra, issued=iat)


def _refresh(
    sub: str, sid: str, iat: int, exp: int, auth_time: int, jkt: str | None, jti: str | None = None
) -> tuple[str, Token]:
    extra = _bound({"auth_time": auth_time}, jkt)
    return encode(REFRESH, sub=sub, sid=sid, lifetime=exp - iat, extra=extra, jti=jti, issued=iat)


def _pair(user: Any, sid: str, moment: datetime, auth_time: int, jkt: str | None) -> TokenPair:
    """Issue a pair at ``moment`` for the session logged in at ``auth_time``, within its policy.

    ``jkt``: the thumbprint of the DPoP key both tokens are bound to, ``None`` for bearer ones.
    """
    iat = _timestamp(moment)
    # Issuing is a use: the session's end is counted from now, and neither token outlives it.
    end, why = session_end(_moment(auth_time), moment, _moment(iat + conf.refresh_lifetime))
    exp = _timestamp(end)
    if exp <= iat:
        raise _ended(why)
    refresh, refresh_token = _refresh(str(user.pk), sid, iat, exp, auth_time, jkt)
    access, access_token = _access(user, sid, iat, auth_time, exp, jkt)
    return TokenPair(access, refresh, access_token, refresh_token)


def _ended(why: str) -> TokenExpired:
    if why == LIFETIME:
        return TokenExpired(_("The session reached its maximum lifetime; log in again."))
    return TokenExpired(_("The session was unused for too long; log in again."))


def start(
    user: Any, *, user_agent: str = "", ip_address: str | None = None, proof: Proof | None = None
) -> TokenPair:
    """Start a session for ``user`` and return its first token pair.

    With the login's verified DPoP ``proof``, the session is bound to the proof's key. Past
    ``JWTAUTH_MAX_SESSIONS_PER_USER`` live sessions, the least recently used are revoked.
    """
    moment = now()
    sid = new_jti()
    jkt = proof.jkt if proof is not None else None
    pair = _pair(user, sid, moment, _timestamp(moment), jkt)
    TokenSession.objects.create(
        sid=sid,
        user=user,
        created_at=moment,
        expires_at=_moment(pair.refresh_token.exp),
        refresh_jti=pair.refresh_token.jti,
        user_agent=user_agent[:MAX_USER_AGENT],
        ip_address=ip_address,
        dpop_jkt=jkt or "",
    )
    enforce_cap(user)
    return pair


def enforce_cap(user: Any) -> int:
    """Revoke ``user``'s least recently used live sessions past the cap; return how many.

    Run after the new session is written (committed, outside a transaction): of two logins
    racing, the later check sees both sessions, so the cap holds once both have answered.
    """
    cap = conf.MAX_SESSIONS_PER_USER
    if cap is None:
        return 0
    surplus = list(
        for_user(user)
        .order_by("-last_used", "-created_at", "-pk")
        .values_list("sid", flat=True)[int(cap) :]
    )
    return revocation.revoke_sessions(surplus, reason=CAP_REASON) if surplus else 0


def _auth_time(token: Token) -> int:
    value = token.claims.get("auth_time")
    if type(value) is not int or not 0 <= value <= token.iat:
        raise TokenError(_("The token claim '%(name)s' is not valid.") % {"name": "auth_time"})
    return value


def rotate(
    refresh: Token,
    *,
    proof: Proof | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> TokenPair:
    """Spend ``refresh`` and return a new pair; answer a retry; revoke the family on reuse.

    ``proof`` is the request's verified DPoP proof, which a bound refresh token needs (from its
    key) and a bearer one must not have; the new pair keeps the binding. ``ip_address`` and
    ``user_agent`` describe the client, for the reuse warning only.
    """
    # Checked before anything is read or written: a refused key spends nothing.
    jkt = dpop.check_grant(refresh.claims, proof)
    moment = now()
    # One transaction for everything the rotation reads and writes: the revocation check (a
    # fresh refresh jti is never cached yet, so it reads the database), the user, and the
    # compare-and-set UPDATE, which also holds the session to its policy.
    with transaction.atomic(using=router.db_for_write(TokenSession)):
        revocation.check(refresh)
        user = active.user_of(refresh)
        pair = _pair(user, refresh.sid, moment, _auth_time(refresh), jkt)
        won = (
            TokenSession.objects.filter(
                sid=refresh.sid,
                user_id=user.pk,
                refresh_jti=refresh.jti,
                revoked_at__isnull=True,
            )
            .filter(within_policy(moment))
            .update(
                refresh_jti=pair.refresh_token.jti,
                previous_refresh_jti=refresh.jti,
                refreshed_at=moment,
                expires_at=_moment(pair.refresh_token.exp),
            )
        )
    if won:
        return pair
    return _spent(refresh, user, moment, ip_address, user_agent)


def _spent(
    refresh: Token, user: Any, moment: datetime, ip_address: str | None, user_agent: str
) -> TokenPair:
    """Answer a refresh token the compare-and-set did not match: a retry, or reuse."""
    # The primary, as for every revocation read: a lagging replica would call a retry reuse.
    row = (
        TokenSession.objects.using(router.db_for_write(TokenSession))
        .with_state(moment)
        .filter(sid=refresh.sid, user_id=user.pk)
        .values(
            "state",
            "refresh_jti",
            "previous_refresh_jti",
            "created_at",
            "refreshed_at",
            "last_used",
            "expires_at",
            "dpop_jkt",
        )
        .first()
    )
    if row is None or row["state"] == REVOKED:
        raise TokenRevoked()
    if row["state"] == EXPIRED:
        raise _ended(session_end(row["created_at"], row["last_used"], row["expires_at"])[1])
    if _is_retry(row, refresh.jti, moment):
        return _retry(row, user, refresh.sid, moment)
    if revocation.revoke_session(refresh.sid, reason=REUSE_REASON):
        _report_reuse(refresh, user, ip_address, user_agent)
    raise TokenReused()


def _is_retry(row: dict[str, Any], jti: str, moment: datetime) -> bool:
    interval = timedelta(seconds=conf.REFRESH_REUSE_INTERVAL)
    rotated = row["refreshed_at"]
    return (
        rotated is not None
        and moment - rotated <= interval
        and interval > timedelta(0)
        and secrets.compare_digest(row["previous_refresh_jti"].encode(), jti.encode())
    )


def _retry(row: dict[str, Any], user: Any, sid: str, moment: datetime) -> TokenPair:
    """Answer a retry: the family's current refresh token, re-derived, and a new access token.

    The stored ``jti``, ``iat`` (the rotation), ``exp``, ``auth_time`` (the login) and DPoP
    key are the whole of the successor's claims, so signing them again yields the very token
    the rotation answered (byte for byte with HMAC, RS256 and EdDSA; an equally valid signature
    with ES256), bound to the same key as before.
    """
    auth_time = _timestamp(row["created_at"])
    exp = _timestamp(row["expires_at"])
    iat = _timestamp(row["refreshed_at"])
    jkt = row["dpop_jkt"] or None
    refresh, refresh_token = _refresh(
        str(user.pk), sid, iat, exp, auth_time, jkt, row["refresh_jti"]
    )
    # An administrator may have revoked the successor by its id: a retry must not revive it.
    revocation.check(refresh_token)
    end, _why = session_end(row["created_at"], row["last_used"], row["expires_at"])
    access, access_token = _access(user, sid, _timestamp(moment), auth_time, _timestamp(end), jkt)
    return TokenPair(access, refresh, access_token, refresh_token)


def _report_reuse(refresh: Token, user: Any, ip_address: str | None, user_agent: str) -> None:
    # Operators alert on this line: a spent refresh token came back, so one of its holders may
    # be a thief. The family, user and client are named; the token never is.
    logger.warning(
        "refresh token reuse: session revoked sid=%s user=%s jti=%s ip=%s user_agent=%r",
        refresh.sid,
        user.pk,
        refresh.jti,
        ip_address or "-",
        user_agent,
    )
    signals.refresh_reused.send(
        TokenSession,
        sid=refresh.sid,
        user_id=user.pk,
        jti=refresh.jti,
        ip_address=ip_address,
        user_agent=user_agent,
    )


def end(token: Token, reason: str = "logout") -> None:
    """End the session ``token`` belongs to, revoking ``token`` itself too.

    Both rows are written in one transaction: a failure (a dropped connection, say) leaves
    neither, never a revoked token in a session that lives on. Their tombstones reach the
    cache only once that transaction has committed.
    """
    with transaction.atomic(using=router.db_for_write(TokenSession)):
        revocation.revoke(token, reason=reason)
        revocation.revoke_session(token.sid, reason=reason)


def for_user(user: Any) -> Any:
    """Return ``user``'s live sessions (the rule of ``TokenSession.objects.live``), newest first."""
    return TokenSession.objects.live().filter(user=user).order_by("-created_at", "-pk")


def set_label(session: TokenSession, label: str) -> None:
    """Give ``session`` the user's ``label`` for it (an empty one removes it)."""
    TokenSession.objects.filter(pk=session.pk).update(label=label)
    session.label = label
