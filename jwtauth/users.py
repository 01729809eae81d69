"""Load a user by primary key, the per-request read of ``request.user``, with public APIs only.

When the user model's default manager adds nothing to the query (Django's ``Manager`` and
``UserManager`` as shipped), the SELECT is written once per database alias from the model's
``_meta`` and run through ``Manager.raw()``, which converts values and builds the instance as
the ORM would, without building and compiling a queryset on every request. Any other manager
goes through the ORM, so that what it filters (soft deletion, tenancy) is honoured.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, models, router

from .conf import cached_until_settings_change


def _plain(manager: Any) -> bool:
    """Tell whether ``manager`` hands out an unfiltered queryset (nothing to honour per query)."""
    return type(manager).get_queryset is models.Manager.get_queryset


@cached_until_settings_change
def _select(alias: str) -> str | None:
    model = get_user_model()
    if not _plain(model._default_manager):
        return None
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in model._meta.concrete_fields)
    table, pk = quote(model._meta.db_table), quote(str(model._meta.pk.column))
    # Identifiers from the model's _meta, quoted by the backend; the key is a parameter.
    return f"SELECT {columns} FROM {table} WHERE {pk} = %s"  # noqa: S608  # nosec B608


def by_pk(pk: Any) -> Any | None:
    """Return the user whose primary key is ``pk`` (already of the pk's type), or ``None``."""
    model = get_user_model()
    alias = router.db_for_read(model)
    manager = model._default_manager
    sql = _select(alias)
    if sql is None:
        return manager.using(alias).filter(pk=pk).first()
    field = model._meta.pk
    try:
        # As the ORM does: a key outside the column's range matches nothing (SQLite would
        # overflow on it).
        field.run_validators(pk)
    except ValidationError:
        return None
    prepared = field.get_db_prep_value(pk, connections[alias], prepared=False)
    for user in manager.raw(sql, [prepared]).using(alias):
        return user
    return None
