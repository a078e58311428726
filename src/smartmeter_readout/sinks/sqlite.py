"""The embedded history: every reading, plus 1-minute and 15-minute aggregates, in SQLite.

Schema (version 1)::

    readings(time REAL, meter TEXT, frame_counter INTEGER, data TEXT)
        time: the reading's time as Unix seconds; data: the reading as JSON (the contract,
        plus layout, security and meter_time). Kept ``keep_raw_days`` days.
    aggregates(step INTEGER, start INTEGER, meter TEXT, obis TEXT, name TEXT, unit TEXT,
               count INTEGER, sum REAL, min REAL, max REAL, first REAL, last REAL)
        step: 60 or 900 seconds; start: Unix seconds, a multiple of step. Kept forever.

Writes are batched: one transaction per batch; the aggregates of a batch are merged in
memory first, so a batch touches each (meter, value, interval) row once. The database is in
WAL mode, so ``history`` can read while the service writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ..reading import Reading
from .base import SinkError

__all__ = ["STEPS", "SqliteSink", "SqliteStore"]

STEPS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}
_STORED = (60, 900)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    time REAL NOT NULL,
    meter TEXT NOT NULL,
    frame_counter INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_time ON readings (time);
CREATE TABLE IF NOT EXISTS aggregates (
    step INTEGER NOT NULL,
    start INTEGER NOT NULL,
    meter TEXT NOT NULL,
    obis TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    first REAL NOT NULL,
    last REAL NOT NULL,
    PRIMARY KEY (step, meter, obis, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta VALUES ('schema', '1');
"""
_UPSERT = """
INSERT INTO aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (step, meter, obis, start) DO UPDATE SET
    count = count + excluded.count, sum = sum + excluded.sum,
    min = min(min, excluded.min), max = max(max, excluded.max), last = excluded.last
"""
_COUNTER_UNITS = {"Wh", "varh", "VAh"}
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class SqliteStore:
    """Synchronous store (the sink runs it in a worker thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"cannot open the database {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def write(self, readings: Sequence[Reading]) -> None:
        rows = []
        buckets: dict[tuple[int, int, str, str], list[Any]] = {}
        dumps = _COMPACT.encode
        for reading in readings:
            moment = reading.time or reading.received or datetime.now(UTC)
            stamp = moment.timestamp()
            meter = reading.meter_key
            rows.append((stamp, meter, reading.frame_counter, dumps(reading.to_dict(full=True))))
            starts = [(step, int(stamp // step) * step) for step in _STORED]
            for obis, measurement in reading.values.items():
                value = measurement.value
                if type(value) is str or type(value) is bool:
                    continue
                for step, start in starts:
                    key = (step, start, meter, obis)
                    bucket = buckets.get(key)
                    if bucket is None:
                        buckets[key] = [measurement.name, measurement.unit, 1, value, value,
                                        value, value, value]
                    else:
                        bucket[2] += 1
                        bucket[3] += value
                        bucket[4] = min(bucket[4], value)
                        bucket[5] = max(bucket[5], value)
                        bucket[7] = value
        upserts = [(*key[:2], key[2], key[3], *bucket) for key, bucket in buckets.items()]
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
                self._db.executemany(_UPSERT, upserts)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write to {self.path}: {exc}") from None

    def prune(self, keep_days: float) -> int:
        """Drop raw readings older than ``keep_days``; aggregates stay."""
        cutoff = time.time() - keep_days * 86400
        with self._lock, self._db:
            return self._db.execute("DELETE FROM readings WHERE time < ?", (cutoff,)).rowcount

    def readings(self, since: datetime | None = None, until: datetime | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        low, high = _range(since, until)
        sql = "SELECT data FROM readings WHERE time >= ? AND time < ? ORDER BY time"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, (low, high)).fetchall()
        return [_contract(json.loads(data)) for (data,) in rows]

    def intervals(self, step: str, since: datetime | None = None,
                  until: datetime | None = None, tz: tzinfo = UTC) -> list[dict[str, Any]]:
        """Aggregated intervals: mean, min, max, last, and for counters the delta."""
        seconds = STEPS[step]
        stored = 60 if seconds == 60 else 900
        low, high = _range(since, until)
        with self._lock:
            rows = self._db.execute(
                "SELECT start, meter, obis, name, unit, count, sum, min, max, first, last "
                "FROM aggregates WHERE step = ? AND start >= ? AND start < ? "
                "ORDER BY meter, obis, start", (stored, low - stored, high)).fetchall()
        grouped: dict[tuple[int, str], dict[str, Any]] = {}
        previous: dict[tuple[str, str], float] = {}  # counter value at the end of the last
        for start, meter, obis, name, unit, count, total, low_v, high_v, first, last in rows:
            bucket_start = _bucket(start, seconds, tz)
            if bucket_start < low:  # only there to know where the counter stood before
                previous[(meter, obis)] = last
                continue
            interval = grouped.setdefault((bucket_start, meter), {
                "start": _local(bucket_start, tz), "end": _local(
                    _bucket_end(bucket_start, seconds, tz), tz), "meter": meter, "values": {}})
            value = interval["values"].get(obis)
            if value is None:
                base = previous.get((meter, obis), first)
                value = interval["values"][obis] = {
                    "name": name, "unit": unit, "count": 0, "sum": 0.0, "min": low_v,
                    "max": high_v, "last": last, "_base": base}
            value["count"] += count
            value["sum"] += total
            value["min"] = min(value["min"], low_v)
            value["max"] = max(value["max"], high_v)
            value["last"] = last
            previous[(meter, obis)] = last
        result = []
        for (_, _), interval in sorted(grouped.items()):
            for value in interval["values"].values():
                base = value.pop("_base")
                value["mean"] = _tidy(value.pop("sum") / value["count"])
                for name in ("min", "max", "last"):
                    value[name] = _tidy(value[name])
                if value["unit"] in _COUNTER_UNITS:
                    value["delta"] = _tidy(value["last"] - base)
            result.append(interval)
        return result

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _range(since: datetime | None, until: datetime | None) -> tuple[float, float]:
    return (since.timestamp() if since else 0.0,
            until.timestamp() if until else float("inf"))


def _contract(data: dict[str, Any]) -> dict[str, Any]:
    for extra in ("layout", "security", "meter_time"):
        data.pop(extra, None)
    return data


def _bucket(start: int, seconds: int, tz: tzinfo) -> int:
    if seconds < 3600:
        return start
    local = datetime.fromtimestamp(start, tz)
    if seconds == 3600:
        local = local.replace(minute=0, second=0)
    else:
        local = local.replace(hour=0, minute=0, second=0)
    return int(local.timestamp())


def _bucket_end(start: int, seconds: int, tz: tzinfo) -> int:
    if seconds < 86400:
        return start + seconds
    day = datetime.fromtimestamp(start, tz).date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _local(stamp: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(stamp, tz).isoformat()


def _tidy(number: float) -> float | int:
    rounded = round(number, 6)
    return int(rounded) if rounded == int(rounded) else rounded


class SqliteSink:
    """The store as an output of the service (writes run off the event loop)."""

    durable = False

    def __init__(self, path: str | Path, keep_raw_days: float = 90) -> None:
        self.name = "sqlite"
        self.path = Path(path)
        self.keep_raw_days = keep_raw_days
        self.store: SqliteStore | None = None
        self._pruned = 0.0

    async def start(self) -> None:
        import asyncio

        self.store = await asyncio.to_thread(SqliteStore, self.path)

    async def write(self, readings: Sequence[Reading]) -> None:
        import asyncio

        assert self.store is not None
        await asyncio.to_thread(self.store.write, readings)
        if self.keep_raw_days and time.monotonic() - self._pruned > 3600:
            self._pruned = time.monotonic()
            await asyncio.to_thread(self.store.prune, self.keep_raw_days)

    async def close(self) -> None:
        if self.store is not None:
            self.store.close()


