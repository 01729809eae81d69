"""The one active-user rule: every entry point refuses an inactive user alike."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from jwtauth import active
from jwtauth.backends import JWTBackend
from jwtauth.exceptions import TokenError, TokenRevoked

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (SimpleNamespace(is_active=True), True),
        (SimpleNamespace(is_active=False), False),
        (SimpleNamespace(is_active=0), False),
        # Django's ModelBackend rule: a user model without the flag counts as active.
        (SimpleNamespace(), True),
        (SimpleNamespace(is_active=None), True),
        (None, False),
    ],
)
def test_is_active_follows_djangos_rule(user: Any, expected: bool) -> None:
    assert active.is_active(user) is expected
    assert JWTBackend().user_can_authenticate(user) is expected


def test_require_refuses_with_the_one_message() -> None:
    assert active.require(SimpleNamespace()) is not None
    for user in (None, SimpleNamespace(is_active=False)):
        with pytest.raises(TokenRevoked) as refused:
            active.require(user)
        assert refused.value.code == "token_revoked"
        assert str(refused.value.detail) == "The user of this token is no longer active."


def test_user_of_loads_the_tokens_user(pair: Any, user: Any, django_user_model: Any) -> None:
    assert active.user_of(pair.access_token) == user
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TokenRevoked):
        active.user_of(pair.access_token)
    user.delete()
    with pytest.raises(TokenRevoked):
        active.user_of(pair.access_token)


def test_user_of_refuses_a_subject_that_is_no_primary_key(pair: Any) -> None:
    with pytest.raises(TokenError):
        active.user_of(replace(pair.access_token, sub="not-a-pk"))
