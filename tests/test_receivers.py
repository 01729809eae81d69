"""Receivers: a password change, deactivation or deletion revokes the user's tokens by itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import caches

from jwtauth import revocation, sessions
from jwtauth.models import UserCutoff
from jwtauth.revocation import user_key

pytestmark = pytest.mark.django_db


def dead(pair: Any) -> bool:
    """Tell whether both tokens of ``pair`` are revoked."""
    return revocation.is_revoked(pair.access_token) and revocation.is_revoked(pair.refresh_token)


def test_password_change_revokes_every_session(clock: Any, user: Any) -> None:
    first, second = sessions.start(user), sessions.start(user)
    user.set_password("a brand new passphrase")
    user.save()
    assert dead(first)
    assert dead(second)
    assert UserCutoff.objects.get(user=user).reason == "password changed"
    clock.shift(1)
    assert not revocation.is_revoked(sessions.start(user).access_token)


def test_password_change_saved_with_update_fields_revokes(user: Any, pair: Any) -> None:
    user.set_password("a brand new passphrase")
    user.save(update_fields=["password"])
    assert dead(pair)


def test_password_hash_upgrade_on_login_keeps_the_sessions(
    settings: Any, django_user_model: Any, password: str
) -> None:
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    legacy = make_password(password, hasher="md5")
    user = django_user_model.objects.create(username="carol", password=legacy)
    pair = sessions.start(user)
    assert user.check_password(password)  # re-hashes with scrypt and saves
    assert user.password.startswith("scrypt$")
    assert not revocation.is_revoked(pair.access_token)
    assert not UserCutoff.objects.filter(user=user).exists()


def test_deactivation_revokes_and_reactivation_does_not_resurrect(user: Any, pair: Any) -> None:
    user.is_active = False
    user.save()
    assert dead(pair)
    assert UserCutoff.objects.get(user=user).reason == "user deactivated"
    user.is_active = True
    user.save()
    assert dead(pair)


def test_other_changes_and_creation_revoke_nothing(user: Any, pair: Any) -> None:
    user.email = "alice@elsewhere.test"
    user.save()
    user.refresh_from_db()
    user.save(update_fields=["last_login"])
    assert not revocation.is_revoked(pair.access_token)
    assert not UserCutoff.objects.exists()


def test_deletion_revokes_every_token(user: Any, pair: Any) -> None:
    user.delete()
    assert dead(pair)


@pytest.mark.redis
def test_deletion_overrules_live_entries_already_in_the_cache(
    user: Any, pair: Any, django_assert_num_queries: Any
) -> None:
    revocation.check(pair.access_token)  # the session is cached as live
    user.delete()
    with django_assert_num_queries(0):
        assert revocation.is_revoked(pair.access_token)


@pytest.mark.redis
def test_profile_change_drops_the_cached_user(settings: Any, user: Any, pair: Any) -> None:
    settings.JWTAUTH_USER_CACHE = True
    assert revocation.check(pair.access_token, with_user=True).email == "alice@example.test"
    user.email = "alice@elsewhere.test"
    user.save()
    assert caches["default"].get(user_key(user.pk)) is None
    assert revocation.check(pair.access_token, with_user=True).email == "alice@elsewhere.test"


@pytest.mark.redis
def test_user_cache_is_refreshed_after_commit(
    settings: Any, user: Any, pair: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.JWTAUTH_USER_CACHE = True
    with django_capture_on_commit_callbacks(execute=True):
        user.first_name = "Alice"
        user.save()
        # Another process would refill the cache from the old row until the commit; this
        # refill stands in for it.
        revocation.check(pair.access_token, with_user=True)
        assert caches["default"].get(user_key(user.pk)) is not None
    assert caches["default"].get(user_key(user.pk)) is None
