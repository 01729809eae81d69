"""JWTBackend: Django's authentication-backend contract for access tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate

from jwtauth import revocation, sessions
from jwtauth.backends import JWTBackend, user_for, verify_access
from jwtauth.conf import conf
from jwtauth.exceptions import TokenError, TokenRevoked
from tests.conftest import PASSWORD, bound_access

pytestmark = pytest.mark.django_db


def test_a_valid_token_authenticates_its_user(pair: Any, user: Any) -> None:
    assert JWTBackend().authenticate(None, token=pair.access) == user
    assert JWTBackend().authenticate(None, token=pair.access.encode()) == user


def test_djangos_authenticate_reaches_the_backend_beside_modelbackend(
    pair: Any, user: Any, rf: Any
) -> None:
    found = authenticate(rf.get("/"), token=pair.access)
    assert found == user
    assert found.backend == "jwtauth.backends.JWTBackend"
    # Username and password still go to ModelBackend; JWTBackend declines them.
    assert authenticate(None, username="alice", password=PASSWORD) == user
    assert JWTBackend().authenticate(None, username="alice", password=PASSWORD) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda p: None,
        lambda p: "",
        lambda p: "a.b.c",
        lambda p: p.refresh,  # a refresh token is not an access token
        lambda p: p.access[:-4] + "AAAA",
        lambda p: "é" * 10,
        lambda p: b"\xff.\xfe.\xfd",
    ],
)
def test_unusable_tokens_authenticate_nobody(pair: Any, make: Any) -> None:
    assert JWTBackend().authenticate(None, token=make(pair)) is None


def test_a_revoked_token_authenticates_nobody(pair: Any) -> None:
    revocation.revoke(pair.access_token)
    assert JWTBackend().authenticate(None, token=pair.access) is None


def test_an_expired_token_authenticates_nobody(user: Any, clock: Any) -> None:
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    assert JWTBackend().authenticate(None, token=pair.access) is None


def test_an_inactive_users_token_authenticates_nobody(
    pair: Any, user: Any, django_user_model: Any
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)  # no signal, no cutoff
    assert JWTBackend().authenticate(None, token=pair.access) is None


def test_a_deleted_users_token_authenticates_nobody(pair: Any, user: Any) -> None:
    user.delete()
    assert JWTBackend().authenticate(None, token=pair.access) is None


def test_get_user(user: Any, django_user_model: Any) -> None:
    backend = JWTBackend()
    assert backend.get_user(user.pk) == user
    assert backend.get_user(str(user.pk)) == user
    assert backend.get_user(user.pk + 1000) is None
    assert backend.get_user("not-a-pk") is None
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(user.pk) is None


def test_verify_access_returns_the_token_and_no_user_without_the_user_cache(pair: Any) -> None:
    token, user = verify_access(pair.access)
    assert token.jti == pair.access_token.jti
    assert user is None
    with pytest.raises(TokenError):
        verify_access(pair.refresh)


def test_verify_access_returns_the_cached_user_with_the_user_cache(
    pair: Any, user: Any, settings: Any
) -> None:
    settings.JWTAUTH_USER_CACHE = True
    _, found = verify_access(pair.access)
    assert found == user


def test_verify_access_refuses_an_inactive_user_from_the_user_cache(
    pair: Any, user: Any, settings: Any, django_user_model: Any
) -> None:
    settings.JWTAUTH_USER_CACHE = True
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TokenRevoked):
        verify_access(pair.access)


def test_user_for_skips_inactive_users(pair: Any, user: Any, django_user_model: Any) -> None:
    assert user_for(pair.access_token) == user
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert user_for(pair.access_token) is None


def test_a_dpop_bound_token_authenticates_nobody_without_its_proof(pair: Any) -> None:
    # The backend takes a bare token: a bound one would be a downgrade to Bearer (§7.1).
    raw = bound_access(pair)
    assert verify_access(raw)[0].claims["cnf"] == {"jkt": "A" * 43}  # a valid token...
    assert JWTBackend().authenticate(None, token=raw) is None  # ...refused without a proof
    assert authenticate(None, token=raw) is None
