"""Loading a user by primary key: the precompiled SELECT gives exactly what the ORM gives."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import UserManager
from django.db import connection, models

from jwtauth import revocation, users
from jwtauth.exceptions import TokenError

pytestmark = pytest.mark.django_db


def values(user: Any) -> dict[str, Any]:
    return {f.attname: getattr(user, f.attname) for f in type(user)._meta.concrete_fields}


def test_the_stock_user_manager_takes_the_precompiled_path() -> None:
    assert users._select("default") is not None


def test_precompiled_load_equals_the_orm(user: Any, django_user_model: Any) -> None:
    django_user_model.objects.filter(pk=user.pk).update(last_login=user.date_joined)
    loaded = users.by_pk(user.pk)
    orm = django_user_model.objects.get(pk=user.pk)
    assert values(loaded) == values(orm)
    assert loaded.last_login == user.date_joined  # converters applied (SQLite returns text)
    assert (loaded._state.adding, loaded._state.db) == (False, "default")
    assert loaded.check_password("correct horse battery staple")


def test_postgresql_rows_go_straight_to_from_db(django_user_model: Any) -> None:
    # PostgreSQL's backend and the stock user model's fields convert nothing; SQLite converts
    # datetimes and booleans, so its rows go through Manager.raw().
    select = users._select("default")
    assert select is not None
    assert select.direct == (connection.vendor == "postgresql")
    assert users._converts_nothing(django_user_model, connection) == select.direct


def test_a_field_that_converts_its_value_takes_manager_raw() -> None:
    # JSONField has from_db_value; DurationField adds a converter where the backend lacks the
    # type (taken conservatively on every backend).
    plain = SimpleNamespace(_meta=SimpleNamespace(concrete_fields=[models.IntegerField()]))
    assert users._converts_nothing(plain, connection) == (connection.vendor == "postgresql")
    for field in (models.JSONField(), models.DurationField()):
        model = SimpleNamespace(
            _meta=SimpleNamespace(concrete_fields=[models.IntegerField(), field])
        )
        assert not users._converts_nothing(model, connection)


def test_the_manager_raw_path_equals_the_orm(
    user: Any, django_user_model: Any, monkeypatch: Any
) -> None:
    django_user_model.objects.filter(pk=user.pk).update(last_login=user.date_joined)
    select = users._select("default")
    assert select is not None
    monkeypatch.setattr(users, "_select", lambda alias: dataclasses.replace(select, direct=False))
    loaded = users.by_pk(user.pk)
    assert values(loaded) == values(django_user_model.objects.get(pk=user.pk))
    assert (loaded._state.adding, loaded._state.db) == (False, "default")
    assert users.by_pk(user.pk + 1000) is None


def test_one_query_and_none_for_a_missing_user(user: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert users.by_pk(user.pk).pk == user.pk
    with django_assert_num_queries(1):
        assert users.by_pk(user.pk + 1000) is None


def test_a_manager_that_filters_is_honoured_through_the_orm() -> None:
    class ActiveOnly(models.Manager[Any]):
        def get_queryset(self) -> Any:
            return super().get_queryset().filter(is_active=True)

    assert users._plain(UserManager())
    assert users._plain(models.Manager())
    assert not users._plain(ActiveOnly())


def test_the_orm_path_gives_the_same_user(user: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(users, "_select", lambda alias: None)
    assert values(users.by_pk(user.pk)) == values(user.__class__.objects.get(pk=user.pk))
    assert users.by_pk(user.pk + 1000) is None


@pytest.mark.parametrize("sub", ["abc", "", "1.5"])
def test_a_subject_that_is_not_a_primary_key_is_a_token_error(sub: str) -> None:
    with pytest.raises(TokenError):
        revocation.load_user(sub)


def test_a_primary_key_beyond_the_column_range_finds_nobody() -> None:
    assert revocation.load_user("9" * 40) is None
