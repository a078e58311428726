"""A collector's PostgreSQL: batches go in with COPY and land once.

A batch is copied straight into the per-value table, in a savepoint. That is the fast way
(about 25,000 readings/s on the test machine, against 8,000 through a staging table), and
it is the way nearly every batch takes. A batch that comes again (a collector killed after
its commit, before its acknowledgements reached the broker) hits the ``(meter, obis, time)``
key: the savepoint is rolled back and that batch goes the slow way, copied into a temporary
staging table and moved with ``INSERT … ON CONFLICT DO NOTHING``, so every row lands once.

The 15-minute and daily aggregates (count, sum, min, max, first and last value per meter,
value and bucket) are views over the table, so they are right at every moment and cost the
ingest nothing. Keeping them as tables in the ingest transaction cut one collector's rate to
a quarter (benchmarks/bench_fleet.py). Where TimescaleDB is installed the readings table is a
hypertable.

Two small tables serve the fleet's page (``fleet.view``), written in the same transaction as
the rows they come from, but only when they change, so they cost the ingest little:

- ``<table>_quarters``: per meter, energy counter and quarter hour the counter's first value
  in it. A quarter hour's energy is the next one's first value minus its own (the counter
  between the start of two quarter hours, as the operator bills; readings a second apart put
  the edge within a second). A collector writes a quarter hour's row on the first reading of
  it it sees, and again only for an earlier one; of several collectors the earliest wins.
- ``<table>_latest``: per meter the time and values of its newest reading, written at most
  every ``LATEST_EVERY`` seconds per meter: the list of meters with their age, without a
  scan of the readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
import psycopg

from ..masking import hide_secrets
from ..sinks.postgres import ensure_table, reason
from .rows import Row, copy_binary, micros

__all__ = ["AGGREGATES", "COUNTERS", "LATEST_EVERY", "BadBatch", "FleetStore", "Prepared",
           "StoreUnavailable"]

_TIMEOUT = 10
#: aggregate table suffix -> bucket width
AGGREGATES = {"15min": "15 minutes", "1day": "1 day"}
#: the counters whose quarter hours a group adds up (by registry name: the OBIS code may
#: carry a channel, e.g. Kamstrup's 1.1.1.8.0.255)
COUNTERS = ("active_energy_import", "active_energy_export")
LATEST_EVERY = 10.0  # seconds between two updates of a meter's newest reading
_QUARTER = 900
_REMEMBERED = 6 * 3600  # seconds of quarter hours a collector remembers having written


class Prepared(NamedTuple):
    """A batch ready to write: its rows, in COPY's binary format, and the small tables'
    changes."""

    rows: list[Row]
    data: bytes
    firsts: dict[tuple[str, str, int], tuple[float, str, float]]
    latest: dict[str, tuple[float, str, dict[str, float]]]


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached or went away: keep the batch and try again."""


class BadBatch(Exception):
    """PostgreSQL refused the batch's data: retrying the same batch cannot help."""


#: what PostgreSQL says of data it will never take; ProgramLimitExceeded (an index row or a
#: value beyond its limits, e.g. a name of a megabyte) is an OperationalError to psycopg, but
#: taking it for an outage would retry the batch without end, holding everything behind it
_REFUSED = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
            psycopg.errors.ProgramLimitExceeded)


def _bucket(width: str, column: str = "time") -> str:
    if width == "1 day":  # calendar days in UTC; the page shifts to the meter's zone
        return f"date_trunc('day', {column})"
    return f"date_bin('{width}', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


class FleetStore:
    def __init__(self, dsn: str, table: str = "readings") -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"table = {table!r} is not a plain SQL name")
        self.dsn = dsn
        self.table = table
        self.where = f"PostgreSQL {hide_secrets(dsn)}"  # never show a password
        self._connection: psycopg.AsyncConnection[Any] | None = None
        # what this collector has written to the small tables (only after the commit)
        self._firsts: dict[tuple[str, str, int], float] = {}  # (meter, name, quarter) -> time
        self._latest: dict[str, float] = {}  # meter -> time of the newest reading written
        self._pruned = 0.0

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = await psycopg.AsyncConnection.connect(
                self.dsn, connect_timeout=_TIMEOUT, options="-c timezone=UTC")
            await ensure_schema(connection, self.table)
            await connection.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS fleet_staging (LIKE {self.table}) "
                "ON COMMIT DELETE ROWS")
            await connection.commit()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"{self.where}: {self._said(exc)}") from None
        self._connection = connection
        return connection

    def prepare(self, rows: Sequence[Row], copied: bytes | None = None) -> Prepared:
        """What ``write`` sends of ``rows``, made ahead (while the batch before is in
        PostgreSQL); ``copied``: the rows in COPY's binary format, where made already.
        Small-table rows that a batch still under way also writes are written twice then,
        to the same end (an upsert only where earlier or newer)."""
        batch = list(rows)
        return Prepared(batch, copy_binary(batch) if copied is None else copied,
                        *self._changes(batch))

    async def write(self, rows: Sequence[Row], sent: asyncio.Event | None = None,
                    prepared: Prepared | None = None) -> int:
        """One transaction; the number of rows that were new. ``sent`` is set once the rows
        are on their way, so the caller can prepare the next batch while PostgreSQL takes
        these; ``prepared``: what ``prepare`` made of these rows."""
        connection = await self.connect()
        batch, data, firsts, latest = prepared or self.prepare(rows)
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                try:
                    async with connection.transaction(), cursor.copy(  # in a savepoint
                            f"COPY {self.table} {_COLUMNS} FROM STDIN {_BINARY}") as copy:
                        await copy.write(data)
                        if sent is not None:
                            sent.set()
                    landed = len(batch)
                except psycopg.errors.UniqueViolation:  # a batch that comes again
                    landed = await self._merge(cursor, data)
                await self._small_tables(cursor, firsts, latest)
        except _REFUSED as exc:
            raise BadBatch(f"{self.where}: {self._said(exc)}") from None
        except psycopg.Error as exc:
            await self.close()
            raise StoreUnavailable(f"{self.where}: {self._said(exc)}") from None
        self._firsts.update((key, stamp) for key, (stamp, _time, _value) in firsts.items())
        self._latest.update((meter, stamp) for meter, (stamp, _time, _values) in latest.items())
        return landed

    async def _merge(self, cursor: psycopg.AsyncCursor[Any], data: bytes) -> int:
        async with cursor.copy(f"COPY fleet_staging {_COLUMNS} FROM STDIN {_BINARY}") as copy:
            await copy.write(data)
        await cursor.execute(_MOVE.format(table=self.table))
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    def _changes(self, batch: list[Row]) -> tuple[dict[tuple[str, str, int], tuple[float, str,
                                                                                  float]],
                                                 dict[str, tuple[float, str, dict[str, float]]]]:
        """What the batch changes in the small tables: quarter hours of a counter whose first
        value this collector has not written yet (or only a later one), and meters whose
        newest reading it wrote more than ``LATEST_EVERY`` seconds of reading time ago. The
        rows of one reading are next to each other: its time is parsed once."""
        firsts: dict[tuple[str, str, int], tuple[float, str, float]] = {}
        latest: dict[str, tuple[float, str, dict[str, float]]] = {}
        previous: tuple[str, str] | None = None
        stamp = 0.0
        values: dict[str, float] | None = None
        for row in batch:
            if (row.meter, row.time) != previous:
                previous = (row.meter, row.time)
                stamp = micros(row.time) / 1_000_000
                values = None
                newest = latest.get(row.meter)
                written = self._latest.get(row.meter)
                if (newest is None or newest[0] < stamp) and (
                        written is None or stamp - written >= LATEST_EVERY):
                    values = {}
                    latest[row.meter] = (stamp, row.time, values)
            if values is not None:
                values[row.obis] = row.value
            if row.name in COUNTERS:
                key = (row.meter, row.name, int(stamp // _QUARTER) * _QUARTER)
                known = firsts.get(key, (self._firsts.get(key, math.inf), "", 0.0))[0]
                if stamp < known:
                    firsts[key] = (stamp, row.time, row.value)
        if stamp - self._pruned > _QUARTER:  # forget quarter hours long past
            self._pruned = stamp
            self._firsts = {key: seen for key, seen in self._firsts.items()
                            if key[2] > stamp - _REMEMBERED}
        return firsts, latest

    async def _small_tables(self, cursor: psycopg.AsyncCursor[Any],
                            firsts: dict[tuple[str, str, int], tuple[float, str, float]],
                            latest: dict[str, tuple[float, str, dict[str, float]]]) -> None:
        # rows in key order: collectors that upsert the same rows at once (every quarter
        # hour's first readings) then wait for each other instead of deadlocking. Each
        # goes as one JSON document: psycopg dumps arrays of texts element by element in
        # Python (a tenth of a collector's time when a batch brings thousands of meters)
        if firsts:
            await cursor.execute(_FIRSTS.format(table=self.table), (_encode([
                (key[0], key[1], key[2], time, value)
                for key, (_stamp, time, value) in sorted(firsts.items())]).decode(),))
        if latest:
            await cursor.execute(_LATEST.format(table=self.table), (_encode([
                (meter, time, values)
                for meter, (_stamp, time, values) in sorted(latest.items())]).decode(),))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    def _said(self, exc: BaseException) -> str:
        return reason(exc, self.dsn)


#: staging -> table; what was new is counted
_MOVE = ("WITH landed AS (INSERT INTO {table} SELECT * FROM fleet_staging "
         "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM landed")


_COLUMNS = "(time, meter, obis, name, value, unit, frame_counter)"

_BINARY = "(FORMAT BINARY)"
_encode = msgspec.json.Encoder().encode

#: a meter's newest reading, where newer than the one kept
_LATEST = ("INSERT INTO {table}_latest (meter, time, \"values\") "
           "SELECT e->>0, (e->>1)::timestamptz, (e->2)::jsonb "
           "FROM json_array_elements(%s::json) e "
           "ON CONFLICT (meter) DO UPDATE SET time = excluded.time, "
           "\"values\" = excluded.\"values\" WHERE {table}_latest.time < excluded.time")
#: a counter's first value in a quarter hour, where earlier than the one kept
_FIRSTS = ("INSERT INTO {table}_quarters (meter, name, start, first_time, first) "
           "SELECT e->>0, e->>1, to_timestamp((e->>2)::bigint), (e->>3)::timestamptz, "
           "(e->>4)::float8 FROM json_array_elements(%s::json) e "
           "ON CONFLICT (meter, name, start) DO UPDATE SET first_time = excluded.first_time, "
           "first = excluded.first WHERE {table}_quarters.first_time > excluded.first_time")


async def ensure_schema(connection: psycopg.AsyncConnection[Any], table: str) -> None:
    """The reader's per-value table and the aggregate views over it; idempotent, so every
    collector may call it at start."""
    async with connection.transaction():
        # one collector at a time: the workers of ``collect --workers`` start together, and
        # two CREATE TABLE IF NOT EXISTS at once can both find no table (a unique violation)
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                 (f"smartmeter-readout schema {table}",))
        await ensure_table(connection, table)
        for suffix, width in AGGREGATES.items():
            bucket = _bucket(width)
            await connection.execute(
                f"CREATE OR REPLACE VIEW {table}_{suffix} AS SELECT {bucket} AS bucket, "
                "meter, obis, min(name) AS name, min(unit) AS unit, count(*) AS count, "
                "sum(value) AS sum, min(value) AS min, max(value) AS max, "
                "min(time) AS first_time, (array_agg(value ORDER BY time))[1] AS first, "
                "max(time) AS last_time, (array_agg(value ORDER BY time DESC))[1] AS last "
                f"FROM {table} GROUP BY 1, meter, obis")
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table}_latest (meter text PRIMARY KEY, "
            "time timestamptz NOT NULL, \"values\" jsonb NOT NULL)")
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table}_quarters (meter text NOT NULL, "
            "name text NOT NULL, start timestamptz NOT NULL, first_time timestamptz NOT NULL, "
            "first double precision NOT NULL, PRIMARY KEY (meter, name, start))")
