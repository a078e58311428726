"""A collector's PostgreSQL: batches go in with COPY and land once.

COPY cannot skip rows that are already there, and redelivery (a collector killed after the
commit, before its acknowledgements reached the broker) sends rows again. So a batch is
copied into a temporary staging table and moved with ``INSERT … ON CONFLICT DO NOTHING``:
the ``(meter, obis, time)`` key makes a row land once.

The 15-minute and daily aggregates (count, sum, min, max, first and last value per meter,
value and bucket) are views over the table, so they are right at every moment and cost the
ingest nothing; a query for some meters reads their rows through the key's index. Keeping
them as tables in the ingest transaction (an upsert per meter, value and bucket) cut one
collector's rate to a quarter (benchmarks/bench_fleet.py). Where TimescaleDB is installed the
readings table is a hypertable.

Two small tables serve the fleet's page (``fleet.view``), filled set-wise from the staging
table in the same transaction, so they are never behind the readings:

- ``<table>_latest``: per meter the time and values of its newest reading (the list of meters
  with their age, without a scan of the readings);
- ``<table>_quarters``: per meter, energy counter and quarter hour the counter's last value in
  it (a group's import and export per quarter hour are differences of these, as the operator
  bills; reading them back from the raw rows would mean every push of every member).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import psycopg

from ..masking import hide_secrets
from ..sinks.postgres import ensure_table, reason
from .rows import Row, copy_text

__all__ = ["AGGREGATES", "COUNTERS", "BadBatch", "FleetStore", "StoreUnavailable"]

_TIMEOUT = 10
#: aggregate table suffix -> bucket width
AGGREGATES = {"15min": "15 minutes", "1day": "1 day"}
#: the counters whose quarter hours a group adds up (by registry name: the OBIS code may
#: carry a channel, e.g. Kamstrup's 1.1.1.8.0.255)
COUNTERS = ("active_energy_import", "active_energy_export")


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached or went away: keep the batch and try again."""


class BadBatch(Exception):
    """PostgreSQL refused the batch's data: retrying the same batch cannot help."""


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

    async def write(self, rows: Sequence[Row]) -> int:
        """One transaction; the number of rows that were new."""
        connection = await self.connect()
        table = self.table
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                async with cursor.copy(
                        "COPY fleet_staging (time, meter, obis, name, value, unit, "
                        "frame_counter) FROM STDIN") as copy:
                    await copy.write(copy_text(list(rows)))
                await cursor.execute(_MOVE.format(table=table))
                row = await cursor.fetchone()
                landed = int(row[0]) if row else 0
                await cursor.execute(_LATEST.format(table=table))
                await cursor.execute(_QUARTERS.format(table=table), (list(COUNTERS),))
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
            raise BadBatch(f"{self.where}: {self._said(exc)}") from None
        except psycopg.Error as exc:
            await self.close()
            raise StoreUnavailable(f"{self.where}: {self._said(exc)}") from None
        return landed

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


#: the newest reading of each meter in the batch, where newer than the one kept
_LATEST = ("INSERT INTO {table}_latest (meter, time, \"values\") "
           "SELECT meter, time, jsonb_object_agg(obis, value) FROM ("
           " SELECT meter, time, obis, value, rank() OVER (PARTITION BY meter ORDER BY time DESC)"
           " AS newest FROM fleet_staging) AS batch WHERE newest = 1 GROUP BY meter, time "
           "ON CONFLICT (meter) DO UPDATE SET time = excluded.time, "
           "\"values\" = excluded.\"values\" WHERE {table}_latest.time < excluded.time")
#: each counter's last value in each quarter hour of the batch, where later than the kept one
_QUARTERS = ("INSERT INTO {table}_quarters (meter, name, start, last_time, last) "
             "SELECT DISTINCT ON (meter, name, start) meter, name, "
             + _bucket("15 minutes") + " AS start, time, value FROM fleet_staging "
             "WHERE name = ANY(%s) ORDER BY meter, name, start, time DESC "
             "ON CONFLICT (meter, name, start) DO UPDATE SET last_time = excluded.last_time, "
             "last = excluded.last WHERE {table}_quarters.last_time < excluded.last_time")


async def ensure_schema(connection: psycopg.AsyncConnection[Any], table: str) -> None:
    """The reader's per-value table and the aggregate views over it; idempotent, so every
    collector may call it at start."""
    async with connection.transaction():
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
            "name text NOT NULL, start timestamptz NOT NULL, last_time timestamptz NOT NULL, "
            "last double precision NOT NULL, PRIMARY KEY (meter, name, start))")
