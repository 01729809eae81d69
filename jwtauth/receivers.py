"""Revoke a user's tokens when the stored password changes or the user is deactivated or deleted."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from . import revocation

WATCHED = ("password", "is_active")
PENDING_ATTR = "_jwtauth_revoke_reason"


def _watched_fields(model: Any, update_fields: Any) -> list[str]:
    names = [name for name in WATCHED if update_fields is None or name in update_fields]
    concrete = []
    for name in names:
        try:
            if model._meta.get_field(name).concrete:
                concrete.append(name)
        except FieldDoesNotExist:
            continue  # a custom user model without is_active, say
    return concrete


def _reason(stored: dict[str, Any], instance: Any) -> str | None:
    # Whatever changed the hash (set_password, set_unusable_password, an assigned hash, the
    # admin's password form), the tokens of the old credential die, as Django's own sessions
    # do when their auth hash stops matching.
    if "password" in stored and stored["password"] != instance.password:
        return "password changed"
    if stored.get("is_active") and instance.is_active is False:
        return "user deactivated"
    return None


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def note_credential_change(
    sender: Any, instance: Any, raw: bool, using: str, update_fields: Any, **kwargs: Any
) -> None:
    """Compare the password hash and ``is_active`` being saved with the stored ones."""
    if raw or instance._state.adding or instance.pk is None:
        return
    fields = _watched_fields(sender, update_fields)
    if not fields:  # e.g. update_last_login's save(update_fields=["last_login"])
        return
    stored = sender._default_manager.using(using).filter(pk=instance.pk).values(*fields).first()
    if stored is not None:
        setattr(instance, PENDING_ATTR, _reason(stored, instance))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def revoke_on_user_change(
    sender: Any, instance: Any, created: bool, using: str, **kwargs: Any
) -> None:
    """Revoke every token of the user once a password change or deactivation is committed."""
    reason = instance.__dict__.pop(PENDING_ATTR, None)
    if created:
        return
    if reason is None:
        revocation.forget_user(instance.pk)
        return
    pk = instance.pk
    # After the commit: a login that read the old hash before it must not start a session
    # after the cutoff. A failure then raises RevocationUnavailable to the saver, loudly; the
    # password change itself stands (it must not wait for the cache to come back).
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(lambda: revocation.revoke_user(pk, reason=reason), using=using)
    else:
        revocation.revoke_user(pk, reason=reason)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def revoke_on_user_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Kill every token of a deleted user; a cache that cannot be told aborts the deletion."""
    revocation.revoke_deleted_user(instance.pk)
