"""Load a user by primary key with one precompiled SELECT, the per-request read of request.user.

Building and compiling an ORM query costs several times the database round trip itself (about
570 of 690 µs here). When the user model's default manager adds nothing to the query (Django's
``Manager``/``UserManager`` as shipped), the SQL the ORM would send is compiled once per
database alias and reused: same SQL, same parameter preparation, same value converters and
``Model.from_db`` as Django's own model iterator. Any other manager goes through the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, models, router

from .conf import derived


@dataclass(frozen=True)
class _Select:
    sql: str
    compiler: Any
    converters: Any
    fields: list[str]


def _plain(manager: Any) -> bool:
    """Tell whether ``manager`` hands out an unfiltered queryset (nothing to honour per query)."""
    return type(manager).get_queryset is models.Manager.get_queryset


def _prepare(model: Any, pk: Any, alias: str) -> Any:
    field = model._meta.pk
    return field.get_db_prep_value(field.get_prep_value(pk), connections[alias], prepared=True)


@derived
def _select(alias: str) -> _Select | None:
    model = get_user_model()
    if not _plain(model._default_manager):
        return None
    probe = 1 if isinstance(model._meta.pk, models.AutoField) else None
    if probe is None:
        return None
    compiler = model._default_manager.filter(pk=probe)[:1].query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    fields = [f.attname for f in model._meta.concrete_fields]
    selected = [
        getattr(getattr(column, "target", None), "attname", None)
        for column, _, _ in compiler.select
    ]
    # Only the plain shape is reused: every concrete column in order, the pk the sole parameter.
    if list(params) != [_prepare(model, probe, alias)] or selected != fields:
        return None
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return _Select(sql, compiler, converters, fields)


def by_pk(pk: Any) -> Any | None:
    """Return the user whose primary key is ``pk`` (already of the pk's type), or ``None``."""
    model = get_user_model()
    alias = router.db_for_read(model)
    select = _select(alias)
    if select is None:
        for user in model._default_manager.using(alias).filter(pk=pk)[:1]:
            return user
        return None
    # As the ORM does: a key outside the column's range matches nothing (and SQLite would
    # overflow on it).
    low, high = connections[alias].ops.integer_field_range(model._meta.pk.get_internal_type())
    if (low is not None and pk < low) or (high is not None and pk > high):
        return None
    with connections[alias].cursor() as cursor:
        cursor.execute(select.sql, [_prepare(model, pk, alias)])
        row = cursor.fetchone()
    if row is None:
        return None
    if select.converters:
        row = next(iter(select.compiler.apply_converters([row], select.converters)))
    return model.from_db(alias, select.fields, row)
