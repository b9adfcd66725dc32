"""Two things several domains ask of the database beyond the ORM: one writer at a time, and
rows copied by the database itself."""

from collections.abc import Mapping
from typing import Any

from django.db import connection, models


def one_writer_at_a_time(name: str) -> None:
    """Hold PostgreSQL's advisory lock `name` until the transaction ends: another transaction
    asking for it waits, so two writers of the same rows take turns rather than each writing
    what the other cannot see yet. SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def insert_selected(
    model: type[models.Model], rows: "models.QuerySet[Any]", columns: Mapping[str, str]
) -> int:
    """INSERT INTO the model's table SELECT from `rows` (a values() query): `columns` maps each
    column written to the query's column it takes. The database copies the rows in one
    statement, none read into Python and back. Returns how many it wrote."""
    select, params = rows.query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(str(model._meta.db_table))
    into = ", ".join(quote(column) for column in columns)
    values = ", ".join(f"selected.{quote(name)}" for name in columns.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({into}) SELECT {values} FROM ({select}) selected",  # noqa: S608
            params,
        )
        return cursor.rowcount
