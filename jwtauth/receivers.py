"""Revoke a user's tokens when the password changes or the account is deactivated or deleted."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import revocation


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def revoke_on_user_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Move the user's cutoff when the password changed or the user was deactivated."""
    if created:
        return
    # AbstractBaseUser.set_password() keeps the raw password in _password until save() ends,
    # which is the one reliable "password changed in this save" marker without a query.
    if getattr(instance, "_password", None) is not None:
        revocation.revoke_user(instance.pk, reason="password changed")
    elif getattr(instance, "is_active", True) is False:
        revocation.revoke_user(instance.pk, reason="user deactivated")
    else:
        revocation.forget_user(instance.pk)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def revoke_on_user_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Kill every token of a deleted user, including entries already in the cache."""
    revocation.revoke_deleted_user(instance.pk)
