"""Bulk insert of :class:`~trm.statistics.models.HistoricalRecord` rows.

Published datasets are large (the CTDC subset: 48,773 rows) and coarse: their
rows take few distinct value combinations (936 in that subset). The ORM's
``bulk_create`` prepares every value of every row in Python; here each distinct
combination is prepared once, by the model's own fields
(``Field.get_db_prep_save``, so JSON lists are stored exactly as the
``JSONField`` stores them: JSON text on SQLite, ``jsonb`` on PostgreSQL), into
a temporary table, and each row is sent as just its ``row_key`` and the number
of its combination:

* SQLite: one ``INSERT … SELECT`` per batch over ``json_each`` of the batch,
  run by a thread on the same connection (sqlite3 releases the GIL while it
  inserts, so the caller reads the next batch meanwhile);
* PostgreSQL: one ``INSERT … SELECT`` per batch over ``unnest`` of two arrays
  (bound on the server, in binary), sent in psycopg's pipeline mode so that the
  server inserts a batch while the caller reads the next one.

Both end in ``ON CONFLICT (row_key) DO NOTHING``: a row whose key is already
stored is counted as present, not inserted. Rows are inserted in the order
given (so primary keys follow the file). Use inside a transaction.
"""

from __future__ import annotations

import json
import queue
import threading
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import psycopg
from django.db import connection

from trm.statistics.models import HistoricalRecord

#: The record fields a combination holds (all but ``source``, ``release``,
#: ``row_key`` and the primary key), in table order.
FIELDS = (
    "year_of_registration",
    "data_source",
    "gender",
    "age_group",
    "is_child",
    "is_child_at_exploitation",
    "citizenship",
    "country_of_exploitation",
    "exploitation_types",
    "means_of_control",
    "types_of_labour",
    "types_of_sexual_exploitation",
    "is_abduction",
    "recruiter_relations",
)
_TEMP = "trm_bulk_combination"


class _SQLiteInserter(threading.Thread):
    """Runs statements, in order, on the caller's SQLite connection.

    Django opens SQLite connections with ``check_same_thread=False``. The
    caller should leave the connection alone until :meth:`finish` returns (the
    CTDC import only reads its file meanwhile); if it does not, its statements
    run between these, in the same transaction (sqlite3 is built serialized,
    ``sqlite3.threadsafety == 3``). Counts the rows of the counted statements.
    """

    def __init__(self, raw: Any):
        super().__init__(name="trm-bulk-insert", daemon=True)
        self.raw = raw
        self.jobs: queue.Queue[tuple[str, Any, bool] | None] = queue.Queue(maxsize=4)
        self.inserted = 0
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is None:
                sql, params, counted = job
                try:
                    if counted:
                        self.inserted += self.raw.execute(sql, params).rowcount
                    else:
                        self.raw.executemany(sql, params)
                except BaseException as exc:  # raised by finish()
                    self.error = exc

    def put(self, sql: str, params: Any, *, counted: bool) -> None:
        self.raise_error()
        self.jobs.put((sql, params, counted))

    def finish(self, *, raise_error: bool) -> None:
        self.jobs.put(None)
        self.join()
        if raise_error:
            self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            with connection.wrap_database_errors:  # as Django's own cursors
                raise self.error


class RecordWriter:
    """Inserts records of one source and release, skipping stored row keys.

    Usage (inside ``transaction.atomic``)::

        with RecordWriter(source="ctdc", release="2020-04-14") as writer:
            number = writer.combination({"gender": "Feminine", ...})
            writer.insert([(row_key, number), ...])
        writer.inserted, writer.sent  # counts, known once the block is left
    """

    def __init__(self, *, source: str, release: str):
        self.source = source
        self.release = release
        by_name = {f.name: f for f in HistoricalRecord._meta.concrete_fields}
        self.fields = [by_name[name] for name in FIELDS]
        self.pending: list[tuple[Any, ...]] = []
        self.count = 0
        #: rows given to :meth:`insert`; rows inserted (when the block is left).
        self.sent = 0
        self.inserted = 0
        self._cursors: list[psycopg.Cursor[Any]] = []
        self._stack = ExitStack()
        self._thread: _SQLiteInserter | None = None
        self.vendor = connection.vendor

    def __enter__(self) -> RecordWriter:
        # Identifiers only (the model's table and columns), no values.
        table = HistoricalRecord._meta.db_table
        names = ", ".join(FIELDS)
        into = f"INSERT INTO {table} (source, release, row_key, {names}) "
        pick = ", ".join(f"c.{name}" for name in FIELDS)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
            if self.vendor == "postgresql":
                # The real column types (jsonb, varchar(n), …), no constraints.
                cursor.execute(
                    f"CREATE TEMP TABLE {_TEMP} ON COMMIT DROP AS "  # noqa: S608
                    f"SELECT 0 AS id, {names} FROM {table} WITH NO DATA"
                )
                cursor.execute(f"ALTER TABLE {_TEMP} ADD PRIMARY KEY (id)")
                self.insert_sql = (
                    into + f"SELECT %s, %s, r.row_key, {pick} "  # noqa: S608
                    "FROM unnest(%b::text[], %b::integer[]) WITH ORDINALITY "
                    "AS r(row_key, combination, n) "
                    f"JOIN {_TEMP} AS c ON c.id = r.combination ORDER BY r.n "
                    "ON CONFLICT (row_key) DO NOTHING"
                )
                # Django's cursors bind on the client (text); a plain psycopg
                # cursor binds on the server (%b: binary arrays). The pipeline
                # lets the server insert a batch while the next one is read.
                self._raw = connection.connection
                self._stack.enter_context(self._raw.pipeline())
            else:
                cursor.execute(
                    f"CREATE TEMP TABLE {_TEMP} (id INTEGER PRIMARY KEY, {names})"
                )
                # Run by sqlite3 itself: "?" placeholders.
                self.insert_sql = (
                    into + f"SELECT ?, ?, json_extract(r.value, '$[0]'), {pick} "  # noqa: S608
                    f"FROM json_each(?) AS r JOIN {_TEMP} AS c "
                    "ON c.id = json_extract(r.value, '$[1]') "
                    # The plan scans r in array order (no sort needed).
                    "WHERE true "
                    "ON CONFLICT (row_key) DO NOTHING"
                )
                self._thread = _SQLiteInserter(connection.connection)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.__exit__(kind, exc, traceback)  # waits for the pipeline
        if self._thread:
            self._thread.finish(raise_error=kind is None)
            self.inserted += self._thread.inserted
        if kind is None:
            self.inserted += sum(c.rowcount for c in self._cursors)
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")

    def combination(self, values: dict[str, Any]) -> int:
        """Register a combination of field values; return its number.

        ``values`` maps names of :data:`FIELDS` to model values (a missing
        name takes the field's default).
        """
        self.count += 1
        prepared = [
            field.get_db_prep_save(
                values[field.name] if field.name in values else field.get_default(),
                connection,
            )
            for field in self.fields
        ]
        self.pending.append((self.count, *prepared))
        return self.count

    def insert(self, rows: list[tuple[str, int]]) -> None:
        """Insert ``(row_key, combination number)`` rows, unless their key is
        already stored (counted in :attr:`inserted` when the block is left)."""
        if not rows:
            return
        self.sent += len(rows)
        if self._thread:
            if self.pending:
                sql = self._combinations_sql("?")
                self._thread.put(sql, self.pending, counted=False)
                self.pending = []
            params = [self.source, self.release, json.dumps(rows)]
            self._thread.put(self.insert_sql, params, counted=True)
            return
        if self.pending:
            with psycopg.Cursor(self._raw) as cursor:
                cursor.executemany(self._combinations_sql("%s"), self.pending)
            self.pending = []
        keys, numbers = zip(*rows, strict=True)
        cursor = psycopg.Cursor(self._raw)
        cursor.execute(
            self.insert_sql, [self.source, self.release, list(keys), list(numbers)]
        )
        self._cursors.append(cursor)

    @staticmethod
    def _combinations_sql(mark: str) -> str:
        marks = ", ".join([mark] * (len(FIELDS) + 1))
        return f"INSERT INTO {_TEMP} (id, {', '.join(FIELDS)}) VALUES ({marks})"  # noqa: S608
