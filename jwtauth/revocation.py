"""Answer "is this token dead?" in one cache round trip, and write revocations.

Layered like Django's ``cached_db`` sessions: the database is the truth and the cache sits in
front of it. A lookup is one ``get_many`` (MGET) of three keys, the token's ``jti``, its session
and its user's cutoff (plus the user itself when ``JWTAUTH_USER_CACHE`` is on); only misses
read the database, in one query, and fill the cache with ``add`` so that a stale "not revoked"
can never overwrite a revocation written meanwhile. Revocations write the database first and
then ``set`` the cache. The cache's keys, and the gate that routes around a failing cache and
catches it up afterwards, are in :mod:`jwtauth.cachestate`; a per-process cache is never used
at all, since it cannot carry a revocation to the other workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import BaseCache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from . import lookup, signals, users
from .cachestate import (
    DEAD,
    cutoff_key,
    gate,
    get_cache,
    micros,
    session_key,
    token_key,
    user_key,
    write,
)
from .conf import conf
from .exceptions import TokenError, TokenRevoked
from .models import RevokedToken, TokenSession, UserCutoff
from .tokens import Token, now

logger = logging.getLogger("jwtauth")

_MICROSECOND = timedelta(microseconds=1)


def _remaining(token: Token) -> int:
    return max(1, token.exp - int(now().timestamp()))


def _keys(token: Token, with_user: bool) -> list[str]:
    keys = [token_key(token.jti), session_key(token.sid, token.sub), cutoff_key(token.sub)]
    if with_user:
        keys.append(user_key(token.sub))
    return keys


def _is_dead(t: Any, s: Any, c: Any) -> bool:
    if t == 1 or s == DEAD:
        return True
    # A session that started before the user's cutoff is dead with all its tokens.
    return s is not None and c is not None and c > s


def _state_from_db(token: Token) -> tuple[int | None, int, int | None]:
    """Return the token's (revoked flag, session start or ``DEAD``, user cutoff) from the DB.

    ``None`` stands for "not read": without the token's session row, the jti flag and the
    cutoff this query sees are not the token's own, and must not be cached as if they were.
    """
    cutoff = UserCutoff.objects.filter(user_id=OuterRef("user_id")).values("cutoff")[:1]
    rows = list(
        TokenSession.objects.filter(sid=token.sid)
        .annotate(
            jti_revoked=Exists(RevokedToken.objects.filter(jti=token.jti)),
            user_cutoff=Subquery(cutoff),
        )
        .values_list("user_id", "created_at", "revoked_at", "jti_revoked", "user_cutoff")[:1]
    )
    if not rows or str(rows[0][0]) != token.sub:
        return None, DEAD, None
    _, created_at, revoked_at, jti_revoked, user_cutoff = rows[0]
    return (
        1 if jti_revoked else 0,
        DEAD if revoked_at is not None else micros(created_at),
        micros(user_cutoff) if user_cutoff else 0,
    )


def _pk(user_id: object) -> Any:
    # A token's ``sub`` is a string; signals and queries get the primary key's own type.
    return get_user_model()._meta.pk.to_python(user_id)


def load_user(user_id: str) -> Any | None:
    """Return the user with primary key ``user_id`` (a token's ``sub``), or ``None``."""
    try:
        pk = _pk(user_id)
    except (ValidationError, ValueError, TypeError) as e:
        raise TokenError(_("The token subject is not valid.")) from e
    return users.by_pk(pk)


def _fill(cache: BaseCache | None, token: Token, keys: list[str], found: dict[str, Any]) -> None:
    state_keys = keys[:3]
    if any(key not in found for key in state_keys):
        fresh = dict(zip(state_keys, _state_from_db(token), strict=True))
        for key, value in fresh.items():
            if key not in found:
                found[key] = value
                if value is not None:
                    _add(cache, key, value, token, conf.NEGATIVE_CACHE_TIMEOUT)
    if len(keys) == 4 and keys[3] not in found:
        user = load_user(token.sub)
        found[keys[3]] = user
        if user is not None:
            _add(cache, keys[3], user, token, conf.USER_CACHE_TIMEOUT)


def _add(cache: BaseCache | None, key: str, value: Any, token: Token, cap: float) -> None:
    # Never cache past the token's own death (a shorter TTL only costs a refill), and add
    # rather than set: a revocation written since our DB read must win (cache-aside race).
    ttl = min(_remaining(token), int(cap))
    if cache is None or ttl <= 0 or gate.bypassing():
        return
    try:
        cache.add(key, value, ttl)
    except Exception as e:
        gate.trip(e, "a cache fill")


def check(token: Token, *, with_user: bool = False) -> Any | None:
    """Raise :class:`TokenRevoked` if ``token`` is dead; return its user when ``with_user``.

    In steady state this is one cache round trip and no database query. ``with_user`` (used
    when ``JWTAUTH_USER_CACHE`` is on) folds the user object into the same round trip.
    """
    keys = _keys(token, with_user)
    cache = get_cache()
    found: dict[str, Any] = {}
    if cache is not None:
        try:
            found = lookup.get_many(cache, keys)
        except Exception as e:
            gate.trip(e, "a revocation lookup")
            cache = None
    get = found.get
    if _is_dead(get(keys[0]), get(keys[1]), get(keys[2])):
        raise TokenRevoked()
    if len(found) < len(keys):
        _fill(cache, token, keys, found)
        if _is_dead(found[keys[0]], found[keys[1]], found[keys[2]]):
            raise TokenRevoked()
    return found.get(keys[3]) if with_user else None


def is_revoked(token: Token) -> bool:
    """Tell whether ``token`` has been revoked (by jti, session or user cutoff)."""
    try:
        check(token)
    except TokenRevoked:
        return True
    return False


def _ttl_until(moment: datetime) -> int:
    return max(1, int((moment - now()).total_seconds()))


def revoke_token(
    *,
    jti: str,
    token_type: str,
    expires_at: datetime,
    user_id: Any = None,
    reason: str = "",
    revoked_by: Any = None,
) -> None:
    """Revoke one token by ``jti`` until ``expires_at``, when it would have died anyway."""
    RevokedToken.objects.bulk_create(
        [
            RevokedToken(
                jti=jti,
                token_type=token_type,
                expires_at=expires_at,
                user_id=user_id,
                revoked_at=now(),
                reason=reason[:200],
                revoked_by=revoked_by,
            )
        ],
        ignore_conflicts=True,
    )
    write(get_cache(), token_key(jti), 1, _ttl_until(expires_at))
    logger.info("token revoked jti=%s user=%s reason=%s", jti, user_id, reason)
    signals.token_revoked.send(
        RevokedToken,
        jti=jti,
        token_type=token_type,
        user_id=user_id,
        reason=reason,
        revoked_by=revoked_by,
    )


def revoke(token: Token, reason: str = "", revoked_by: Any = None) -> None:
    """Revoke one verified token."""
    revoke_token(
        jti=token.jti,
        token_type=token.type,
        expires_at=datetime.fromtimestamp(token.exp, UTC),
        user_id=_pk(token.sub),
        reason=reason,
        revoked_by=revoked_by,
    )


def _forget(key: str) -> None:
    write(get_cache(), key, None, 1)
    if transaction.get_connection().in_atomic_block:
        # Clear again after commit: a reader may have refilled the key from the old,
        # still-committed row between our delete and the commit.
        transaction.on_commit(lambda: write(get_cache(), key, None, 1))


def unrevoke_token(jti: str) -> int:
    """Delete the revocation of ``jti`` and clear its cache entry; return rows deleted."""
    deleted, _ = RevokedToken.objects.filter(jti=jti).delete()
    _forget(token_key(jti))
    logger.info("token un-revoked jti=%s", jti)
    return deleted


def revoke_sessions(sids: Iterable[str], reason: str = "", revoked_by: Any = None) -> int:
    """Revoke the sessions ``sids`` with every token they hold; return how many were live."""
    sids = list(sids)
    rows = list(
        TokenSession.objects.filter(sid__in=sids).values_list("sid", "user_id", "revoked_at")
    )
    live = [(sid, user_id) for sid, user_id, revoked_at in rows if revoked_at is None]
    TokenSession.objects.filter(sid__in=sids, revoked_at__isnull=True).update(
        revoked_at=now(), revoke_reason=reason[:200]
    )
    cache = get_cache()
    for sid, user_id, _revoked_at in rows:
        write(cache, session_key(sid, user_id), DEAD, conf.refresh_lifetime)
    for sid, user_id in live:
        logger.info("session revoked sid=%s user=%s reason=%s", sid, user_id, reason)
        signals.session_revoked.send(
            TokenSession, sid=sid, user_id=user_id, reason=reason, revoked_by=revoked_by
        )
    return len(live)


def revoke_session(sid: str, reason: str = "", revoked_by: Any = None) -> bool:
    """Revoke one session (a login and every token rotated from it)."""
    return revoke_sessions([sid], reason, revoked_by) > 0


def _new_cutoff(user_id: Any) -> datetime:
    # Cover every session that exists now even when another server's clock runs ahead, or
    # when a login fell in the same clock tick: a cutoff equal to a start would spare it.
    rows = TokenSession.objects.filter(user_id=user_id)
    newest: datetime | None = rows.aggregate(newest=Max("created_at"))["newest"]
    moment = now()
    if newest is not None and newest >= moment:
        return newest + _MICROSECOND
    return moment


def revoke_user(user_id: Any, reason: str = "", revoked_by: Any = None) -> datetime:
    """Revoke every token ``user_id`` holds now, by moving the user's cutoff past them."""
    user_id = _pk(user_id)
    cutoff = _new_cutoff(user_id)
    UserCutoff.objects.update_or_create(
        user_id=user_id, defaults={"cutoff": cutoff, "reason": reason[:200]}
    )
    write(get_cache(), cutoff_key(user_id), micros(cutoff), conf.refresh_lifetime)
    _forget(user_key(user_id))
    _announce_cutoff(user_id, cutoff, reason, revoked_by)
    return cutoff


def _announce_cutoff(user_id: Any, cutoff: datetime, reason: str, revoked_by: Any) -> None:
    logger.info("all tokens revoked user=%s reason=%s", user_id, reason)
    signals.user_tokens_revoked.send(
        UserCutoff, user_id=user_id, cutoff=cutoff, reason=reason, revoked_by=revoked_by
    )


def forget_user(user_id: Any) -> None:
    """Drop a cached user object after the user changed."""
    if conf.USER_CACHE:
        _forget(user_key(user_id))


def revoke_deleted_user(user_id: Any) -> None:
    """Kill the cached state of a deleted user, whose rows the database already dropped."""
    # The sessions and cutoff rows went with the user (CASCADE), so a cache miss already reads
    # "dead"; cached "live" session entries are overruled by a cutoff kept in the cache alone,
    # one tick past now so that a session started in this very tick is covered too.
    cutoff = now() + _MICROSECOND
    write(get_cache(), cutoff_key(user_id), micros(cutoff), conf.refresh_lifetime)
    _forget(user_key(user_id))
    _announce_cutoff(user_id, cutoff, "user deleted", None)
