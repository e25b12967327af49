"""Database helpers the ORM does not offer cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model


def update_rows(
    model: type[Model], rows: Sequence[Model], fields: Sequence[str]
) -> int:
    """Write ``fields`` of each of ``rows`` to its row, by primary key; return
    how many rows were updated (a row deleted meanwhile counts none).

    For plain values, what ``model.objects.bulk_update(rows, fields)`` does,
    without its cost: ``bulk_update`` builds one ``CASE WHEN pk = … THEN …`` expression
    per row and field, which for a batch of a hundred receipts took more CPU
    than signing and encrypting them (bench/exchange.py). Here one ``UPDATE …
    WHERE pk = %s`` is run for every row with ``executemany`` (psycopg sends
    them in one pipeline on PostgreSQL), the values prepared by each field as
    a ``save()`` would (JSON, UUIDs, times).

    Args:
        model: the model of the rows.
        rows: saved instances of ``model`` (their ``pk`` set).
        fields: names of concrete, non-primary-key fields of ``model``'s own
            table to write.

    Raises:
        django.core.exceptions.FieldDoesNotExist: an unknown field name.
        ValueError: a row without a primary key; a field that is the primary
            key, not a column, or a column of a parent model's table
            (multi-table inheritance); a value that is an expression
            (``F()``, ``Value()``…: use ``bulk_update`` or ``update``).
    """
    if not rows:
        return 0
    opts = model._meta
    columns: list[Field[Any, Any]] = []
    for name in fields:
        field = opts.get_field(name)
        if (
            not isinstance(field, Field)
            or field.primary_key
            or not field.concrete
            or field.column is None
            or field.model._meta.db_table != opts.db_table
        ):
            raise ValueError(f"{opts.label}.{name} cannot be updated by row")
        columns.append(field)
    alias = router.db_for_write(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)
    sql = (
        f"UPDATE {quote(opts.db_table)} SET {assignments} "  # noqa: S608 - names only
        f"WHERE {quote(opts.pk.column)} = %s"
    )
    params = []
    for row in rows:
        if row.pk is None:
            raise ValueError(f"{opts.label}: a row without a primary key")
        values = []
        for field in columns:
            value = getattr(row, field.attname)
            if hasattr(value, "resolve_expression"):
                raise ValueError(
                    f"{opts.label}.{field.name}: an expression, not a value"
                )
            values.append(field.get_db_prep_save(value, connection))
        values.append(opts.pk.get_db_prep_value(row.pk, connection))
        params.append(values)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return max(int(cursor.rowcount), 0)
