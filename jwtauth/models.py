"""Store what the cache fronts: revoked tokens, login sessions and per-user cutoffs.

The database is the truth; ``revocation.py`` keeps a cache in front of it. No raw token is
ever stored, only its ``jti`` (RFC 8725 §3.12 spirit: a database leak must not leak tokens).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

TOKEN_TYPES = [("access", _("access")), ("refresh", _("refresh"))]


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

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="jwtauth_session_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.sid[:8]}…"

    @property
    def last_used_at(self) -> object:
        """Return when the session last logged in or refreshed."""
        return self.refreshed_at or self.created_at


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
