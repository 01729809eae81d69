"""Load a user by primary key, the per-request read of ``request.user``, with public APIs only.

When the user model's default manager adds nothing to the query (Django's ``Manager`` and
``UserManager`` as shipped), the SELECT is written once per database alias from the model's
``_meta`` rather than built and compiled as a queryset on every request. Where the ORM would
convert none of the row's values (no backend converter, no field's ``from_db_value``: PostgreSQL
and the stock user model), the row goes from the cursor straight to ``Model.from_db``, as the
ORM hands it; elsewhere it runs through ``Manager.raw()``, which converts values as the ORM
does. Any other manager goes through the ORM, so that what it filters (soft deletion, tenancy)
is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, models, router
from django.db.backends.base.operations import BaseDatabaseOperations

from .conf import cached_until_settings_change


@dataclass(frozen=True)
class _Select:
    sql: str
    # The concrete fields' attribute names, in the SELECT's column order (Model.from_db's).
    names: list[str]
    # The cursor's row is what the ORM would pass to Model.from_db: no converter applies.
    direct: bool


def _plain(manager: Any) -> bool:
    """Tell whether ``manager`` hands out an unfiltered queryset (nothing to honour per query)."""
    return type(manager).get_queryset is models.Manager.get_queryset


def _converts_nothing(model: Any, connection: Any) -> bool:
    """Tell whether the ORM would leave every column of ``model`` as ``connection`` returns it.

    The ORM converts a value with the backend's converters, then the field's (its
    ``from_db_value``). Where neither class adds one, the row needs no conversion.
    """
    backend = type(connection.ops).get_db_converters
    if backend is not BaseDatabaseOperations.get_db_converters:
        return False
    return all(
        type(field).get_db_converters is models.Field.get_db_converters
        and not hasattr(field, "from_db_value")
        for field in model._meta.concrete_fields
    )


@cached_until_settings_change
def _select(alias: str) -> _Select | None:
    model = get_user_model()
    if not _plain(model._default_manager):
        return None
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(str(field.column)) for field in fields)
    table, pk = quote(model._meta.db_table), quote(str(model._meta.pk.column))
    # Identifiers from the model's _meta, quoted by the backend; the key is a parameter.
    sql = f"SELECT {columns} FROM {table} WHERE {pk} = %s"  # noqa: S608  # nosec B608
    return _Select(sql, [field.attname for field in fields], _converts_nothing(model, connection))


def by_pk(pk: Any) -> Any | None:
    """Return the user whose primary key is ``pk`` (already of the pk's type), or ``None``."""
    model = get_user_model()
    alias = router.db_for_read(model)
    select = _select(alias)
    if select is None:
        return model._default_manager.using(alias).filter(pk=pk).first()
    field = model._meta.pk
    try:
        # As the ORM does: a key outside the column's range matches nothing (SQLite would
        # overflow on it).
        field.run_validators(pk)
    except ValidationError:
        return None
    connection = connections[alias]
    prepared = field.get_db_prep_value(pk, connection, prepared=False)
    if not select.direct:
        for user in model._default_manager.raw(select.sql, [prepared]).using(alias):
            return user
        return None
    with connection.cursor() as cursor:
        cursor.execute(select.sql, [prepared])
        row = cursor.fetchone()
    return None if row is None else model.from_db(alias, select.names, row)
