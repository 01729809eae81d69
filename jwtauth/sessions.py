"""Start login sessions, rotate their refresh tokens, and end them.

A session is the family of every token descended from one login. Rotation is a single
conditional ``UPDATE`` (compare-and-set on the family's current refresh ``jti``), so two
concurrent refreshes with the same token cannot both win; the loser is treated as reuse and
the whole family is revoked (RFC 9700 §4.14.2), unless it arrives inside the optional
``JWTAUTH_REFRESH_REUSE_GRACE`` window, where it is refused without killing the family.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from django.db import router, transaction
from django.utils.translation import gettext_lazy as _

from . import revocation
from .conf import conf
from .exceptions import TokenError, TokenReused, TokenRevoked
from .models import TokenSession
from .tokens import Token, TokenPair, issue_pair, new_jti, now

MAX_USER_AGENT = 256


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def start(user: Any, *, user_agent: str = "", ip_address: str | None = None) -> TokenPair:
    """Start a session for ``user`` and return its first token pair."""
    sid = new_jti()
    pair = issue_pair(user, sid)
    TokenSession.objects.create(
        sid=sid,
        user=user,
        created_at=now(),
        expires_at=_moment(pair.refresh_token.exp),
        refresh_jti=pair.refresh_token.jti,
        user_agent=user_agent[:MAX_USER_AGENT],
        ip_address=ip_address,
    )
    return pair


def _active_user(token: Token) -> Any:
    user = revocation.load_user(token.sub)
    if user is None or not getattr(user, "is_active", True):
        raise TokenRevoked(_("The user of this token is no longer active."))
    return user


def rotate(refresh: Token) -> TokenPair:
    """Spend ``refresh`` and return a new pair; refuse and revoke the family on reuse."""
    moment = now()
    # One transaction for everything the rotation reads and writes: the revocation check (a
    # fresh refresh jti is never cached yet, so it reads the database), the user, and the
    # compare-and-set UPDATE.
    with transaction.atomic(using=router.db_for_write(TokenSession)):
        revocation.check(refresh)
        user = _active_user(refresh)
        pair = issue_pair(user, refresh.sid)
        won = TokenSession.objects.filter(
            sid=refresh.sid,
            user_id=user.pk,
            refresh_jti=refresh.jti,
            revoked_at__isnull=True,
        ).update(
            refresh_jti=pair.refresh_token.jti,
            previous_refresh_jti=refresh.jti,
            refreshed_at=moment,
            expires_at=_moment(pair.refresh_token.exp),
        )
    if not won:
        _refuse_spent(refresh, moment)
    return pair


def _refuse_spent(refresh: Token, moment: datetime) -> NoReturn:
    row = (
        TokenSession.objects.filter(sid=refresh.sid)
        .values("revoked_at", "previous_refresh_jti", "refreshed_at")
        .first()
    )
    if row is None or row["revoked_at"] is not None:
        raise TokenRevoked()
    grace = timedelta(seconds=int(conf.REFRESH_REUSE_GRACE))
    if (
        grace
        and row["previous_refresh_jti"] == refresh.jti
        and row["refreshed_at"] is not None
        and moment - row["refreshed_at"] <= grace
    ):
        raise TokenError(_("The refresh token was just rotated; use the newest one."))
    revocation.revoke_session(refresh.sid, reason="refresh token reuse")
    raise TokenReused()


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
    """Return ``user``'s live sessions, newest first."""
    return TokenSession.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=now()
    ).order_by("-created_at")
