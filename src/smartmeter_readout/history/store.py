"""The embedded history: every reading, plus 1-minute and 15-minute aggregates, in SQLite.

Schema (version 1)::

    readings(time REAL, meter TEXT, frame_counter INTEGER, data TEXT)
        time: the reading's time as Unix seconds; data: the reading as JSON (the contract,
        plus layout, security and meter_time). Kept ``keep_raw_days`` days.
    aggregates(step INTEGER, start INTEGER, meter TEXT, obis TEXT, name TEXT, unit TEXT,
               count INTEGER, sum REAL, min REAL, max REAL, first REAL, last REAL)
        step: 60 or 900 seconds; start: Unix seconds, a multiple of step. Kept forever.
    series(meter TEXT, obis TEXT, name TEXT, unit TEXT)
        which values each meter has sent, so a query can go straight to their rows.

Writes are batched: one transaction per batch; the aggregates of a batch are merged in
memory first, so a batch touches each (meter, value, interval) row once. The database is in
WAL mode, so ``history`` can read while the service writes.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ..reading import Reading
from ..sinks.base import SinkError

__all__ = ["STEPS", "SqliteSink", "SqliteStore"]

STEPS = ("1m", "15m", "1h", "1d", "1mo")
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
CREATE TABLE IF NOT EXISTS series (
    meter TEXT NOT NULL,
    obis TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT,
    PRIMARY KEY (meter, obis)
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
_SERIES = """
INSERT INTO series VALUES (?, ?, ?, ?)
ON CONFLICT (meter, obis) DO UPDATE SET name = excluded.name, unit = excluded.unit
WHERE name IS NOT excluded.name OR unit IS NOT excluded.unit
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
            if self._db.execute("SELECT count(*) FROM series").fetchone()[0] == 0:
                self._db.execute("INSERT OR IGNORE INTO series SELECT DISTINCT meter, obis,"
                                 " name, unit FROM aggregates WHERE step = 900")
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"cannot open the database {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._known = set(self._series(None))  # the write path only upserts what is new

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
        series = {(key[2], key[3], bucket[0], bucket[1]) for key, bucket in buckets.items()
                  if key[0] == 900} - self._known
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
                self._db.executemany(_UPSERT, upserts)
                self._db.executemany(_SERIES, series)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write to {self.path}: {exc}") from None
        self._known |= series

    def add_aggregates(self, rows: Sequence[tuple[Any, ...]],
                       series: Sequence[tuple[str, str, str, str | None]] = ()) -> None:
        """Store ready-made aggregate rows (the history filler), replacing what is there."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO aggregates VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(_SERIES, series)
        self._known |= set(series)

    def prune(self, keep_days: float) -> int:
        """Drop raw readings older than ``keep_days``; aggregates stay."""
        cutoff = time.time() - keep_days * 86400
        with self._lock, self._db:
            return self._db.execute("DELETE FROM readings WHERE time < ?", (cutoff,)).rowcount

    def readings(self, since: datetime | None = None, until: datetime | None = None,
                 limit: int | None = None, meter: str | None = None) -> list[dict[str, Any]]:
        low, high = _range(since, until)
        sql = "SELECT data FROM readings WHERE time >= ? AND time < ?"
        args: tuple[Any, ...] = (low, high)
        if meter is not None:
            sql, args = sql + " AND meter = ?", (*args, meter)
        sql += " ORDER BY time"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_contract(json.loads(data)) for (data,) in rows]

    def series(self, meter: str | None = None) -> list[dict[str, Any]]:
        """What the store holds: one row per meter and value, with its name and unit."""
        with self._lock:
            rows = sorted(self._series(meter))
        return [{"meter": m, "obis": o, "name": n, "unit": u} for m, o, n, u in rows]

    def intervals(self, step: str, since: datetime | None = None,
                  until: datetime | None = None, tz: tzinfo = UTC, *,
                  obis: Sequence[str] | None = None,
                  meter: str | None = None) -> list[dict[str, Any]]:
        """Aggregated intervals: mean, min, max, last, and for counters the delta.

        1m and 15m are stored as they are; 1h, 1d and 1mo are summed up from the 15-minute
        rows inside SQLite, one indexed range per interval and value, so a year of history
        is a few thousand rows of work instead of hundreds of thousands in Python.
        """
        if step not in STEPS:
            raise ValueError(f"step {step!r}: use one of {', '.join(STEPS)}")
        low, high = _range(since, until)
        wanted = set(obis) if obis is not None else None
        grouped: dict[tuple[int, str], dict[str, Any]] = {}
        with self._lock:
            pairs = [row for row in self._series(meter) if wanted is None or row[1] in wanted]
            stored = 60 if step == "1m" else 900
            if step in ("1m", "15m"):
                bounds = None
            else:
                span = self._span(pairs, low, high)
                if span is None:
                    return []
                bounds = _boundaries(step, max(low, span[0]), min(high, span[1] + 900), tz)
            for pair_meter, pair_obis, name, unit in pairs:
                rows = self._pair_rows(stored, pair_meter, pair_obis, low, high, bounds)
                if not rows:
                    continue
                counter = unit in _COUNTER_UNITS
                previous = self._base(stored, pair_meter, pair_obis, rows[0][0]) \
                    if counter else 0.0
                for start, end, count, total, low_v, high_v, last in rows:
                    interval = grouped.setdefault((start, pair_meter), {
                        "start": _local(start, tz), "end": _local(end, tz),
                        "meter": pair_meter, "values": {}})
                    value = {"name": name, "unit": unit, "count": count,
                             "mean": _tidy(total / count), "min": _tidy(low_v),
                             "max": _tidy(high_v), "last": _tidy(last)}
                    if counter:
                        value["delta"] = _tidy(last - previous)
                        previous = last
                    interval["values"][pair_obis] = value
        return [grouped[key] for key in sorted(grouped)]

    def _span(self, pairs: list[tuple[str, str, str, str | None]], low: float,
              high: float) -> tuple[int, int] | None:
        """First and last 15-minute row in range, by index seeks (a scan took 40 ms a year)."""
        starts: list[int] = []
        for meter, obis, _, _ in pairs:
            for order in ("", " DESC"):
                row = self._db.execute(
                    "SELECT start FROM aggregates WHERE step = 900 AND meter = ? AND obis = ?"
                    f" AND start >= ? AND start < ? ORDER BY start{order} LIMIT 1",
                    (meter, obis, low, high)).fetchone()
                if row is not None:
                    starts.append(row[0])
        return (min(starts), max(starts)) if starts else None

    def _series(self, meter: str | None) -> list[tuple[str, str, str, str | None]]:
        sql = "SELECT meter, obis, name, unit FROM series"
        if meter is None:
            return self._db.execute(sql).fetchall()
        return self._db.execute(sql + " WHERE meter = ?", (meter,)).fetchall()

    def _pair_rows(self, stored: int, meter: str, obis: str, low: float, high: float,
                   bounds: list[int] | None) -> list[tuple[Any, ...]]:
        if bounds is None:
            return self._db.execute(
                "SELECT start, start + step, count, sum, min, max, last"
                " FROM aggregates WHERE step = ? AND meter = ? AND obis = ?"
                " AND start >= ? AND start < ? ORDER BY start",
                (stored, meter, obis, low, high)).fetchall()
        if len(bounds) < 2:
            return []
        spans = ",".join("(?,?)" for _ in bounds[1:])
        edges = [edge for pair in itertools.pairwise(bounds) for edge in pair]
        return self._db.execute(
            f"WITH b(lo, hi) AS (VALUES {spans}) "
            "SELECT b.lo, b.hi, sum(a.count), sum(a.sum), min(a.min), max(a.max),"
            " (SELECT last FROM aggregates WHERE step = 900 AND meter = ? AND obis = ?"
            "  AND start < b.hi ORDER BY start DESC LIMIT 1)"
            " FROM b JOIN aggregates a ON a.step = 900 AND a.meter = ? AND a.obis = ?"
            " AND a.start >= b.lo AND a.start < b.hi GROUP BY b.lo ORDER BY b.lo",
            (*edges, meter, obis, meter, obis)).fetchall()

    def _base(self, stored: int, meter: str, obis: str, start: int) -> float:
        """Where a counter stood before ``start``: the last value before, else the first."""
        row = self._db.execute(
            "SELECT last FROM aggregates WHERE step = ? AND meter = ? AND obis = ?"
            " AND start < ? ORDER BY start DESC LIMIT 1", (stored, meter, obis, start)).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT first FROM aggregates WHERE step = ? AND meter = ? AND obis = ?"
                " AND start >= ? ORDER BY start LIMIT 1", (stored, meter, obis, start)).fetchone()
        return float(row[0])

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


def _boundaries(step: str, low: float, high: float, tz: tzinfo) -> list[int]:
    """Local hour, day or month edges from the one holding ``low`` past ``high``."""
    moment = datetime.fromtimestamp(low, tz)
    if step == "1h":
        edge = int(moment.replace(minute=0, second=0, microsecond=0).timestamp())
        return list(range(edge, int(high) + 3600, 3600))
    day = moment.date().replace(day=1) if step == "1mo" else moment.date()
    edges = []
    while True:
        edge = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
        edges.append(edge)
        if edge >= high:
            return edges
        if step == "1d":
            day += timedelta(days=1)
        else:
            day = (day + timedelta(days=32)).replace(day=1)


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


