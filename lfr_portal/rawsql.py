"""Hand-written SELECTs on the per-frame path, read back into model instances by Django's own converters.

The live path runs a handful of statements for every frame. Compiling them through the ORM cost several times the
database work (docs/benchmarks.md), so those few statements are written as SQL, built once per process from the
models' metadata, and on PostgreSQL run as prepared statements (`cursor`). Everything else uses the ORM.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, models


class Columns:
    """Some or all of one model's columns in a hand-written SELECT, and its instance from a slice of the row.

    Values pass through the converters the ORM would apply (SQLite returns datetimes as text). With `names`, only
    those attributes are read (the primary key always is); the others are deferred, as with `.only()`.
    """

    def __init__(self, model: type[models.Model], alias: str, names: Sequence[str] | None = None) -> None:
        fields = [f for f in model._meta.concrete_fields if names is None or f.primary_key or f.attname in names]
        if names is not None and (unknown := set(names) - {f.attname for f in fields}):
            raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
        quote = connection.ops.quote_name
        self.model = model
        self.sql = ", ".join(f"{alias}.{quote(f.column)}" for f in fields)
        self.names = [f.attname for f in fields]
        self.width = len(fields)
        self.pk_index = next(i for i, f in enumerate(fields) if f.primary_key)
        columns = [f.get_col(model._meta.db_table) for f in fields]
        self.converters = [
            (column, connection.ops.get_db_converters(column) + f.get_db_converters(connection))
            for f, column in zip(fields, columns, strict=True)
        ]

    def instance(self, values: Sequence[Any]) -> Any:
        """The model instance of `values` (this model's slice of a row), or None for a missing LEFT JOIN row."""
        if values[self.pk_index] is None:
            return None
        converted = []
        for value, (column, converters) in zip(values, self.converters, strict=True):
            for convert in converters:
                value = convert(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, self.names, converted)


def table(model: type[models.Model]) -> str:
    """The model's quoted table name."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], attname: str) -> str:
    """One column's quoted name, by attribute name (`deployment_id`, `status`)."""
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return connection.ops.quote_name(field.column)


def adapt_datetime(value: Any) -> Any:
    """A datetime as the database driver expects it in a hand-written statement."""
    return connection.ops.adapt_datetimefield_value(value)


def adapt_date(value: Any) -> Any:
    return connection.ops.adapt_datefield_value(value)


def relaxed_commit() -> str:
    """A FROM clause for a per-frame counter UPDATE that runs on its own: on PostgreSQL its transaction then
    commits without waiting for the write-ahead log to reach the disk (asynchronous commit, for that one transaction
    only: `set_config(..., true)` ends with it).

    A durable commit waits for a disk flush: 0.2 ms on one machine, 2–4 ms on another (docs/benchmarks.md), for
    every frame. The counters (frames accepted and processed, faces seen, latency) are statistics; the report calls
    faces seen an estimate. What the trade costs: if PostgreSQL or its machine crashes, or it fails over to a
    standby, the counter updates of its last moments (at most about three `wal_writer_delay`s, 0.6 s by default)
    can be lost; the counts then trail what happened by those frames (a frame accepted just before the crash may
    be counted as processed only). Nothing else is: the write-ahead log is replayed in order, and every durable
    commit (an alert, an audit event, a stop) flushes the counter updates before it too. Visibility is unchanged:
    other sessions see the update once it commits.

    Empty inside a transaction, where it would relax the whole transaction (alert rows and their audit events
    commit durably, always), and on other databases.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return ""
    return " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed_commit"


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    """A cursor for the statements built here: on PostgreSQL with `LFR_DB_PREPARED_STATEMENTS`, one that binds
    parameters on the server, so psycopg prepares each statement on a connection once and PostgreSQL plans it once
    (planning the gate statement took 0.5 ms of its 0.6 ms). Django's own cursors bind on the client and never
    prepare, so nothing else changes. It is wrapped like any Django cursor (errors, connection handling).

    While queries are logged (DEBUG, `CaptureQueriesContext`) the statement runs unprepared: psycopg keeps no text
    of a prepared run, and Django's query log reads it from there."""
    if connection.vendor != "postgresql" or not settings.LFR_DB_PREPARED_STATEMENTS or connection.queries_logged:
        with connection.cursor() as plain:
            yield plain
        return
    from django.db.backends.postgresql.base import ServerBindingCursor  # Django's own, with its time-zone handling

    with connection.cursor() as wrapped:  # Django's checks and connection handling, then a binding cursor inside
        client_side = wrapped.cursor
        with connection.wrap_database_errors:
            wrapped.cursor = ServerBindingCursor(connection.connection)
        try:
            yield wrapped
        finally:
            binding, wrapped.cursor = wrapped.cursor, client_side
            binding.close()
