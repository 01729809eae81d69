"""Answer "is this token dead?" in one cache round trip, and write revocations that hold.

The database is the truth; :mod:`jwtauth.cachestate` keeps Redis in front of it. A lookup is one
MGET of the token's ``jti`` flag, its session and its user's cutoff (plus the user itself when
``JWTAUTH_USER_CACHE`` is on); only misses, or a cache that cannot be trusted at that moment,
read the database (always the primary: a lagging replica would answer "alive" for a token just
revoked), and what was read is added back unless a revocation happened meanwhile.

A revocation writes its rows and its cache entries so that answering success means every
process refuses the token from its next request: the entries are deleted before the database
commits (a cache that refuses that aborts the revocation) and written as tombstones after it.
When that cannot be made true, the revocation raises
:class:`~jwtauth.exceptions.RevocationUnavailable` (a 503), and logs an error, rather than
answering success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Exists, Max, OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from . import cachestate, signals, users
from .cachestate import DEAD, cutoff_key, micros, session_key, token_key, user_key
from .clock import now
from .conf import conf
from .exceptions import RevocationUnavailable, TokenError, TokenRevoked
from .models import DeletedUser, RevokedToken, TokenSession, UserCutoff
from .tokens import Token

logger = logging.getLogger("jwtauth")

T = TypeVar("T")
Entries = Mapping[str, tuple[int | None, int]]
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Names:
    """The cache entries that say whether one token is dead."""

    token: str
    session: str
    cutoff: str
    user: str

    @classmethod
    def of(cls, token: Token) -> _Names:
        return cls(
            token_key(token.jti),
            session_key(token.sid, token.sub),
            cutoff_key(token.sub),
            user_key(token.sub),
        )

    def state(self) -> list[str]:
        return [self.token, self.session, self.cutoff]


@dataclass(slots=True)
class _State:
    """A token's revocation state; ``None`` where it is not known (yet)."""

    revoked: int | None = None  # the token's own flag: 1 revoked, 0 not
    session: int | None = None  # its session's start in µs, or DEAD
    cutoff: int | None = None  # its user's cutoff in µs, 0 for none

    def dead(self) -> bool:
        if self.revoked == 1 or self.session == DEAD:
            return True
        # A session that started before the user's cutoff is dead with all its tokens.
        return self.session is not None and self.cutoff is not None and self.cutoff > self.session

    def values(self) -> tuple[int | None, int | None, int | None]:
        return self.revoked, self.session, self.cutoff

    def known(self) -> bool:
        return None not in self.values()


def _primary() -> str:
    # Revocation state is read where it is written: a read replica may lag behind a revocation.
    return router.db_for_write(TokenSession)


def _state_from_db(token: Token) -> _State:
    """Return the token's state as the primary database has it.

    Without the token's session row the jti flag and the cutoff this query sees are not the
    token's own; they stay unknown, and are not cached as if they were.
    """
    cutoff = UserCutoff.objects.filter(user_id=OuterRef("user_id")).values("cutoff")[:1]
    rows = list(
        TokenSession.objects.using(_primary())
        .filter(sid=token.sid)
        .annotate(
            jti_revoked=Exists(RevokedToken.objects.filter(jti=token.jti)),
            user_cutoff=Subquery(cutoff),
        )
        .values_list("user_id", "created_at", "revoked_at", "jti_revoked", "user_cutoff")[:1]
    )
    if not rows or str(rows[0][0]) != token.sub:
        return _State(session=DEAD)
    _, created_at, revoked_at, jti_revoked, user_cutoff = rows[0]
    return _State(
        revoked=1 if jti_revoked else 0,
        session=DEAD if revoked_at is not None else micros(created_at),
        cutoff=micros(user_cutoff) if user_cutoff else 0,
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


def _remaining(token: Token) -> int:
    return max(1, token.exp - int(now().timestamp()))


def _cached(names: _Names, snapshot: cachestate.Snapshot | None) -> tuple[_State, Any]:
    if snapshot is None:
        return _State(), None
    values = snapshot.values
    ints = [int(values[n]) if n in values else None for n in names.state()]
    user = values.get(names.user)
    return _State(*ints), None if user is None else cachestate.decode_user(user)


def _fill(
    token: Token,
    names: _Names,
    snapshot: cachestate.Snapshot,
    state: _State,
    user: Any | None,
    missing_user: bool,
) -> None:
    # Never cache past the token's own death (a shorter TTL only costs a refill).
    ttl = min(_remaining(token), conf.NEGATIVE_CACHE_TIMEOUT)
    entries: dict[str, tuple[bytes, int]] = {}
    if ttl > 0:
        for name, value in zip(names.state(), state.values(), strict=True):
            if value is not None and name not in snapshot.values:
                entries[name] = (str(value).encode(), ttl)
    if missing_user and user is not None:
        user_ttl = min(_remaining(token), conf.USER_CACHE_TIMEOUT)
        entries[names.user] = (cachestate.encode_user(user), user_ttl)
    cachestate.fill(snapshot, entries)


def check(
    token: Token, *, with_user: bool = False, claim: cachestate.Claim | None = None
) -> Any | None:
    """Raise :class:`TokenRevoked` if ``token`` is dead; return its user when ``with_user``.

    In steady state this is one cache round trip and no database query. ``with_user`` (used
    when ``JWTAUTH_USER_CACHE`` is on) folds the user object into the same round trip, and so
    does ``claim`` (a DPoP proof to record once).
    """
    names = _Names.of(token)
    wanted = [*names.state(), names.user] if with_user else names.state()
    snapshot = cachestate.read(wanted, claim)
    state, user = _cached(names, snapshot)
    if state.dead():
        raise TokenRevoked()
    missing_user = with_user and user is None
    if state.known() and not missing_user:
        return user
    if not state.known():
        state = _state_from_db(token)
    if missing_user and not state.dead():
        user = load_user(token.sub)
    if snapshot is not None:
        _fill(token, names, snapshot, state, user, missing_user)
    if state.dead():
        raise TokenRevoked()
    return user


def is_revoked(token: Token) -> bool:
    """Tell whether ``token`` has been revoked (by jti, session or user cutoff)."""
    try:
        check(token)
    except TokenRevoked:
        return True
    return False


# Writing revocations ---------------------------------------------------------------------


def _confirm(entries: Entries, what: str) -> None:
    try:
        cachestate.write(entries)
    except cachestate.CacheWriteFailed as e:
        logger.error(
            "revocation recorded in the database but not confirmed in the cache: %s (%s); "
            "it holds where the cache misses, and everywhere once the entries expire or the "
            "cache is repaired",
            what,
            e,
        )
        raise RevocationUnavailable(RevocationUnavailable.unconfirmed) from e


def _in_force(alias: str, entries: Entries, what: str, write_rows: Callable[[], T]) -> T:
    """Run ``write_rows`` and put ``entries`` in force so that returning means refused everywhere.

    Before the transaction commits, the entries are deleted from the cache: a cache that
    refuses even that aborts the revocation, so nothing is half-done; and a delete that lands
    late, or a rollback after it, is harmless (a miss reads the database). After the commit,
    and only then, the tombstones are written: a tombstone always stands for a committed row,
    and it overwrites any alive entry filled from a read made before the commit.
    """
    nested = transaction.get_connection(alias).in_atomic_block
    try:
        with transaction.atomic(using=alias):
            result = write_rows()
            cachestate.write(dict.fromkeys(entries, (None, 1)))
    except cachestate.CacheWriteFailed as e:
        logger.error("revocation refused, the cache cannot be made to refuse %s (%s)", what, e)
        raise RevocationUnavailable() from e
    if nested:
        transaction.on_commit(lambda: _confirm(entries, what), using=alias)
    else:
        _confirm(entries, what)
    return result


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
    row = RevokedToken(
        jti=jti,
        token_type=token_type,
        expires_at=expires_at,
        user_id=user_id,
        revoked_at=now(),
        reason=reason[:200],
        revoked_by=revoked_by,
    )
    alias = router.db_for_write(RevokedToken)
    entries = {token_key(jti): (1, _ttl_until(expires_at))}
    _in_force(
        alias,
        entries,
        f"token jti={jti}",
        lambda: RevokedToken.objects.using(alias).bulk_create([row], ignore_conflicts=True),
    )
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


def _forget_after_commit(names: list[str], alias: str) -> None:
    # A reader may refill an entry from the old row between the delete and the commit; the
    # write after the commit clears it again and moves the generation past such fills.
    cachestate.forget(names)
    if transaction.get_connection(alias).in_atomic_block:
        transaction.on_commit(lambda: cachestate.forget(names), using=alias)


def unrevoke_token(jti: str) -> int:
    """Delete the revocation of ``jti`` and clear its cache entry; return rows deleted."""
    alias = router.db_for_write(RevokedToken)
    deleted, _ = RevokedToken.objects.using(alias).filter(jti=jti).delete()
    _forget_after_commit([token_key(jti)], alias)
    logger.info("token un-revoked jti=%s", jti)
    return deleted


def revoke_sessions(sids: Iterable[str], reason: str = "", revoked_by: Any = None) -> int:
    """Revoke the sessions ``sids`` with every token they hold; return how many were live."""
    sids = list(sids)
    alias = router.db_for_write(TokenSession)
    sessions = TokenSession.objects.using(alias)
    rows = list(sessions.filter(sid__in=sids).values_list("sid", "user_id", "expires_at"))
    if not rows:
        return 0
    entries = {
        session_key(sid, user_id): (DEAD, _ttl_until(expires_at))
        for sid, user_id, expires_at in rows
    }

    def write_rows() -> list[tuple[str, Any]]:
        live = list(
            sessions.select_for_update()
            .filter(sid__in=sids, revoked_at__isnull=True)
            .values_list("sid", "user_id")
        )
        sessions.filter(sid__in=[sid for sid, _ in live]).update(
            revoked_at=now(), revoke_reason=reason[:200]
        )
        return live

    live = _in_force(alias, entries, f"{len(rows)} sessions", write_rows)
    for sid, user_id in live:
        logger.info("session revoked sid=%s user=%s reason=%s", sid, user_id, reason)
        signals.session_revoked.send(
            TokenSession, sid=sid, user_id=user_id, reason=reason, revoked_by=revoked_by
        )
    return len(live)


def revoke_session(sid: str, reason: str = "", revoked_by: Any = None) -> bool:
    """Revoke one session (a login and every token rotated from it)."""
    return revoke_sessions([sid], reason, revoked_by) > 0


def _new_cutoff(user_id: Any, alias: str) -> datetime:
    # Cover every session that exists now even when another server's clock runs ahead, or
    # when a login fell in the same clock tick: a cutoff equal to a start would spare it.
    rows = TokenSession.objects.using(alias).filter(user_id=user_id)
    newest: datetime | None = rows.aggregate(newest=Max("created_at"))["newest"]
    moment = now()
    if newest is not None and newest >= moment:
        return newest + _MICROSECOND
    return moment


def _cutoff_entries(user_id: Any, cutoff: datetime) -> Entries:
    # A cutoff entry is "alive" for the sessions started after it, so it lives no longer than
    # a fill (see cachestate.recently_revoked); the cached user object is stale now.
    window = conf.NEGATIVE_CACHE_TIMEOUT
    return {cutoff_key(user_id): (micros(cutoff), window), user_key(user_id): (None, 1)}


def revoke_user(user_id: Any, reason: str = "", revoked_by: Any = None) -> datetime:
    """Revoke every token ``user_id`` holds now, by moving the user's cutoff past them."""
    user_id = _pk(user_id)
    alias = router.db_for_write(UserCutoff)
    cutoff = _new_cutoff(user_id, alias)

    def write_rows() -> None:
        UserCutoff.objects.using(alias).update_or_create(
            user_id=user_id, defaults={"cutoff": cutoff, "reason": reason[:200]}
        )

    _in_force(alias, _cutoff_entries(user_id, cutoff), f"the tokens of user={user_id}", write_rows)
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
        _forget_after_commit([user_key(user_id)], router.db_for_write(get_user_model()))


def revoke_deleted_user(user_id: Any) -> None:
    """Kill every token of a user being deleted, durably: the user's own rows go with it."""
    # The sessions and the cutoff row go with the user (CASCADE), so a cache miss already reads
    # "dead". The DeletedUser row lets a cache repair (after a restart or failover) overrule
    # alive entries cached before; its time, one tick past now, covers a login in this tick.
    moment = now() + _MICROSECOND
    alias = router.db_for_write(DeletedUser)

    def write_rows() -> None:
        DeletedUser.objects.using(alias).create(user_id=str(user_id), deleted_at=moment)

    _in_force(alias, _cutoff_entries(user_id, moment), f"deleted user={user_id}", write_rows)
    _announce_cutoff(user_id, moment, "user deleted", None)
