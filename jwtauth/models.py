"""Store what the cache fronts: revoked tokens, login sessions and per-user cutoffs.

The database is the truth; ``revocation.py`` keeps a cache in front of it. No raw token is
ever stored, only its ``jti`` (RFC 8725 §3.12 spirit: a database leak must not leak tokens).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from .clock import now
from .conf import conf

TOKEN_TYPES = [("access", _("access")), ("refresh", _("refresh"))]

# A session's state, and why a live one will end (or an expired one ended).
LIVE, REVOKED, EXPIRED = "live", "revoked", "expired"
IDLE, LIFETIME = "idle", "lifetime"
MAX_LABEL = 100


def _duration(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def session_end(
    created_at: datetime, last_used: datetime, expires_at: datetime
) -> tuple[datetime, str]:
    """Return when a session ends unless refreshed first, and why (``IDLE`` or ``LIFETIME``).

    The earliest of its refresh token's expiry, the idle timeout counted from its last use,
    and the absolute lifetime counted from its login. Only a refresh moves the first two.
    """
    idle = _duration(conf.SESSION_IDLE_TIMEOUT)
    lifetime = _duration(conf.SESSION_ABSOLUTE_LIFETIME)
    end = expires_at if idle is None else min(expires_at, last_used + idle)
    if lifetime is not None and created_at + lifetime <= end:
        return created_at + lifetime, LIFETIME
    return end, IDLE


def within_policy(moment: datetime) -> Q:
    """Match the sessions neither idle nor past their absolute lifetime at ``moment``.

    The same bounds as :func:`session_end`, as a filter on the columns (no arithmetic in SQL).
    """
    idle = _duration(conf.SESSION_IDLE_TIMEOUT)
    lifetime = _duration(conf.SESSION_ABSOLUTE_LIFETIME)
    condition = Q(expires_at__gt=moment)
    if idle is not None:
        condition &= Q(refreshed_at__gt=moment - idle) | Q(
            refreshed_at__isnull=True, created_at__gt=moment - idle
        )
    if lifetime is not None:
        condition &= Q(created_at__gt=moment - lifetime)
    return condition


# Neither revoked itself nor started before its user's cutoff (``with_state`` annotates it).
_NOT_REVOKED = Q(revoked_at__isnull=True) & (
    Q(user_cutoff__isnull=True) | Q(user_cutoff__lte=F("created_at"))
)


class TokenSessionQuerySet(models.QuerySet["TokenSession"]):
    """Sessions, with the one rule deciding whether each is live, revoked or expired."""

    def with_state(self, moment: datetime | None = None) -> models.QuerySet[Any]:
        """Annotate ``state``, ``last_used`` and the user's cutoff (instant and reason).

        A session is revoked when revoked itself or when it started before its user's cutoff
        (logout everywhere, a password change, an admin's "revoke all"), expired when past its
        refresh token's expiry, idle timeout or absolute lifetime, and live otherwise. The
        revocation lookup (``revocation._is_dead``) applies the same revocation rule.
        """
        moment = now() if moment is None else moment
        cutoffs = UserCutoff.objects.filter(user_id=OuterRef("user_id"))
        return self.annotate(
            last_used=Coalesce("refreshed_at", "created_at"),
            user_cutoff=Subquery(cutoffs.values("cutoff")[:1]),
            cutoff_reason=Subquery(cutoffs.values("reason")[:1]),
        ).annotate(
            state=Case(
                When(~_NOT_REVOKED, then=Value(REVOKED)),
                When(within_policy(moment), then=Value(LIVE)),
                default=Value(EXPIRED),
            )
        )

    def live(self, moment: datetime | None = None) -> models.QuerySet[Any]:
        """Return only the sessions that are live at ``moment`` (default: now).

        The conditions of ``state == LIVE`` spelt as plain filters, which the database can
        match against its indexes.
        """
        moment = now() if moment is None else moment
        return self.with_state(moment).filter(_NOT_REVOKED, within_policy(moment))


class RevokedToken(models.Model):
    """One revoked token, by ``jti``, kept until it would have expired anyway."""

    jti = models.CharField(_("token id (jti)"), max_length=64, unique=True)
    token_type = models.CharField(_("type"), max_length=16, choices=TOKEN_TYPES)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jwtauth_revoked_tokens",
        verbose_name=_("user"),
    )
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    # Indexed: after a cache outage each worker re-reads the recent revocations by this column.
    revoked_at = models.DateTimeField(_("revoked at"), db_index=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    class Meta:
        verbose_name = _("revoked token")
        verbose_name_plural = _("revoked tokens")
        ordering = ["-revoked_at"]

    def __str__(self) -> str:
        return f"{self.token_type} {self.jti[:8]}…"


class TokenSession(models.Model):
    """One login: the family of every token descended from it by refresh rotation."""

    sid = models.CharField(_("session id"), max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="jwtauth_sessions",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(_("created at"))
    refreshed_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    # The only refresh token of this family that may still be used (RFC 9700 §4.14.2).
    refresh_jti = models.CharField(max_length=64)
    previous_refresh_jti = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, db_index=True)
    revoke_reason = models.CharField(_("revoke reason"), max_length=200, blank=True)
    user_agent = models.CharField(_("device"), max_length=256, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # A name the user gives the session ("work laptop"); shown beside the device.
    label = models.CharField(_("label"), max_length=MAX_LABEL, blank=True)
    # The RFC 7638 thumbprint of the DPoP key the session's tokens are bound to (RFC 9449 §6),
    # empty for bearer tokens. Its refresh tokens carry it too; a retry is answered with it.
    dpop_jkt = models.CharField(_("DPoP key thumbprint"), max_length=43, blank=True)

    objects = TokenSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="jwtauth_session_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.sid[:8]}…"

    @property
    def last_used_at(self) -> datetime:
        """Return when the session last logged in or refreshed."""
        return self.refreshed_at or self.created_at

    @property
    def ends(self) -> tuple[datetime, str]:
        """Return when this session ends unless refreshed first, and why (see session_end)."""
        return session_end(self.created_at, self.last_used_at, self.expires_at)


class UserCutoff(models.Model):
    """Every token of ``user`` from a session started before ``cutoff`` is revoked."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="jwtauth_cutoff",
        verbose_name=_("user"),
    )
    cutoff = models.DateTimeField(_("cutoff"), db_index=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("user token cutoff")
        verbose_name_plural = _("user token cutoffs")

    def __str__(self) -> str:
        return f"{self.user_id} < {self.cutoff.isoformat()}"


class DeletedUser(models.Model):
    """A user deleted lately, kept until every token they held has expired.

    Their sessions and cutoff went with them (CASCADE), so the database already refuses their
    tokens; this row lets the cache repair refuse them too after a restart or failover.
    """

    user_id = models.CharField(_("user id"), max_length=255, db_index=True)
    deleted_at = models.DateTimeField(_("deleted at"), db_index=True)

    class Meta:
        verbose_name = _("deleted user")
        verbose_name_plural = _("deleted users")
        ordering = ["-deleted_at"]

    def __str__(self) -> str:
        return f"{self.user_id} deleted {self.deleted_at.isoformat()}"
