"""PostgreSQL (psycopg 3): one row per value, batched, idempotent; a hypertable on TimescaleDB.

Schema (created on start, ``[postgres] table`` defaults to ``readings``)::

    CREATE TABLE readings (
        time          timestamptz      NOT NULL,  -- the meter's clock, else the receive time
        meter         text             NOT NULL,  -- meter number, else system title
        obis          text             NOT NULL,  -- as the meter sent it, e.g. 1.0.1.8.0.255
        name          text             NOT NULL,  -- registry name, e.g. active_energy_import
        value         double precision NOT NULL,  -- in base units (Wh, W, V, A, ...)
        unit          text,
        frame_counter bigint,
        PRIMARY KEY (meter, obis, time)
    );

The primary key makes a batch sent twice (the connection broke after the commit, before the
acknowledgement) land once: ``ON CONFLICT DO NOTHING``. A batch is one transaction. With the
timescaledb extension available, the table becomes a hypertable on ``time``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from ..i18n import _
from ..masking import hide_secrets, url_secrets
from ..reading import Reading
from .base import SinkBase, SinkError

__all__ = ["PostgresSink", "ensure_table", "reason"]

_TIMEOUT = 10


class PostgresSink(SinkBase):
    durable = True

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.name = "postgres"
        self.dsn = settings["dsn"]
        table = settings["table"]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(_("[postgres] table = {table!r} is not a plain SQL name",
                               table=table))
        self.table = table
        self._connection: psycopg.AsyncConnection[Any] | None = None
        # never show a password, nor the piece after an @ in it that libpq takes for the host
        self._where = f"PostgreSQL {hide_secrets(self.dsn, url_secrets(self.dsn))}"

    async def start(self) -> None:
        await self._connect()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = await psycopg.AsyncConnection.connect(self.dsn,
                                                               connect_timeout=_TIMEOUT)
            async with connection.transaction():
                await ensure_table(connection, self.table)
        except psycopg.Error as exc:
            raise SinkError(f"{self._where}: {reason(exc, self.dsn)}") from None
        self._connection = connection
        return connection

    async def write(self, readings: Sequence[Reading]) -> None:
        rows = [(reading.time or reading.received, reading.meter_key, obis, m.name,
                 float(m.value), m.unit, reading.frame_counter)
                for reading in readings for obis, m in reading.values.items()
                if isinstance(m.value, int | float) and not isinstance(m.value, bool)]
        if not rows:
            return
        connection = await self._connect()
        try:
            async with connection.transaction(), connection.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO {self.table} (time, meter, obis, name, value, unit, "
                    "frame_counter) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING", rows)
        except psycopg.Error as exc:
            await self.close()
            raise SinkError(f"{self._where}: {reason(exc, self.dsn)}") from None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()


async def ensure_table(connection: psycopg.AsyncConnection[Any], table: str) -> None:
    """The per-value table (a hypertable where TimescaleDB is installed); idempotent. The
    fleet's collectors write the same table."""
    await connection.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "time timestamptz NOT NULL, meter text NOT NULL, obis text NOT NULL, "
        "name text NOT NULL, value double precision NOT NULL, unit text, "
        "frame_counter bigint, PRIMARY KEY (meter, obis, time))")
    row = await (await connection.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).fetchone()
    if row is not None:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await connection.execute(
            "SELECT create_hypertable(%s, 'time', if_not_exists => TRUE, "
            "migrate_data => TRUE)", (table,))


def reason(exc: BaseException, dsn: str) -> str:
    """PostgreSQL's first line of an error, without the password of ``dsn``."""
    return hide_secrets((str(exc).strip().splitlines() or [type(exc).__name__])[0],
                        [dsn, *url_secrets(dsn)])
