"""Receivers: a password change, deactivation or deletion revokes the user's tokens by itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import caches

from jwtauth import revocation, sessions
from jwtauth.cachestate import user_key
from jwtauth.exceptions import RevocationUnavailable
from jwtauth.models import DeletedUser, UserCutoff

pytestmark = pytest.mark.django_db


def dead(pair: Any) -> bool:
    """Tell whether both tokens of ``pair`` are revoked."""
    return revocation.is_revoked(pair.access_token) and revocation.is_revoked(pair.refresh_token)


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """Return a context manager that runs the on-commit callbacks of what it wraps.

    The test's own transaction never commits; user changes revoke on commit.
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_password_change_revokes_every_session(clock: Any, user: Any, committed: Any) -> None:
    first, second = sessions.start(user), sessions.start(user)
    with committed():
        user.set_password("a brand new passphrase")
        user.save()
    assert dead(first)
    assert dead(second)
    assert UserCutoff.objects.get(user=user).reason == "password changed"
    clock.shift(1)
    assert not revocation.is_revoked(sessions.start(user).access_token)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda u: u.set_password("a brand new passphrase"), id="set_password"),
        pytest.param(lambda u: u.set_unusable_password(), id="set_unusable_password"),
        pytest.param(
            lambda u: setattr(u, "password", make_password("another passphrase")),
            id="hash-assigned",
        ),
    ],
)
@pytest.mark.parametrize("update_fields", [None, ["password"], ["password", "email"]])
def test_any_change_of_the_stored_hash_revokes(
    user: Any, pair: Any, committed: Any, change: Any, update_fields: Any
) -> None:
    change(user)
    with committed():
        user.save(update_fields=update_fields)
    assert dead(pair)
    assert UserCutoff.objects.get(user=user).reason == "password changed"


def test_a_changed_hash_left_out_of_update_fields_is_not_saved_and_revokes_nothing(
    user: Any, pair: Any, committed: Any
) -> None:
    user.set_password("a brand new passphrase")
    with committed():
        user.save(update_fields=["email"])  # the hash stays as stored
    assert not revocation.is_revoked(pair.access_token)


@pytest.mark.parametrize("usable", ["true", "false"])
def test_the_admin_password_form_revokes(
    client: Any, admin_user: Any, user: Any, pair: Any, committed: Any, usable: str
) -> None:
    # Django 5.1+: "Password-based authentication: disabled" calls set_unusable_password().
    client.force_login(admin_user)
    form = {"usable_password": usable, "password1": "x7!long passphrase", "password2": ""}
    form["password2"] = form["password1"]
    if usable == "false":
        form["unset-password"] = "1"  # the button the admin shows for it
    with committed():
        response = client.post(f"/admin/auth/user/{user.pk}/password/", form)
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.has_usable_password() is (usable == "true")
    assert dead(pair)


def test_a_revocation_the_cache_cannot_take_fails_loudly_after_the_change(
    settings: Any, user: Any, pair: Any, committed: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nobody listens: refused at once
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }
    user.set_password("a brand new passphrase")
    with pytest.raises(RevocationUnavailable), committed():
        user.save()
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase"), "the change itself stands"


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


def test_deactivation_revokes_and_reactivation_does_not_resurrect(
    user: Any, pair: Any, committed: Any
) -> None:
    user.is_active = False
    with committed():
        user.save()
    assert dead(pair)
    assert UserCutoff.objects.get(user=user).reason == "user deactivated"
    user.is_active = True
    with committed():
        user.save()
    assert dead(pair)


def test_other_changes_and_creation_revoke_nothing(
    user: Any, pair: Any, committed: Any, django_assert_num_queries: Any
) -> None:
    user.email = "alice@elsewhere.test"
    with committed():
        user.save()
    user.refresh_from_db()
    with committed(), django_assert_num_queries(1):  # no read of the stored hash
        user.save(update_fields=["last_login"])
    assert not revocation.is_revoked(pair.access_token)
    assert not UserCutoff.objects.exists()


def test_deletion_revokes_every_token(user: Any, pair: Any) -> None:
    user.delete()
    assert dead(pair)
    assert DeletedUser.objects.get(user_id=str(pair.access_token.sub))


@pytest.mark.redis
def test_a_deleted_users_token_stays_dead_after_the_cache_is_flushed(
    user: Any, pair: Any, committed: Any, django_assert_num_queries: Any
) -> None:
    # What the middleware checks before setting request.auth, without loading the user.
    revocation.check(pair.access_token)  # cached as alive
    with committed():
        user.delete()
    caches["default"].delete_pattern("*")  # type: ignore[attr-defined]  # our prefix only
    assert revocation.is_revoked(pair.access_token)  # the flushed cache is not trusted
    assert revocation.is_revoked(pair.access_token)  # repaired, then filled "dead"
    with django_assert_num_queries(0):  # and the cache now says so too
        assert revocation.is_revoked(pair.access_token)


@pytest.mark.redis
def test_deletion_overrules_live_entries_already_in_the_cache(
    user: Any, pair: Any, committed: Any, django_assert_num_queries: Any
) -> None:
    revocation.check(pair.access_token)  # the session is cached as live
    with committed():
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
    settings: Any, user: Any, pair: Any, committed: Any
) -> None:
    settings.JWTAUTH_USER_CACHE = True
    with committed():
        user.first_name = "Alice"
        user.save()
        # Another process would refill the cache from the old row until the commit; this
        # refill stands in for it.
        revocation.check(pair.access_token, with_user=True)
        assert caches["default"].get(user_key(user.pk)) is not None
    assert caches["default"].get(user_key(user.pk)) is None
    assert revocation.check(pair.access_token, with_user=True).first_name == "Alice"
