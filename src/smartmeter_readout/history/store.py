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
    prices(start INTEGER, end INTEGER, price REAL)
        spot prices per kWh for dynamic tariffs, as fetched (``history.prices``).
    costs(meter, start, import_wh, export_wh, energy_rate, grid_rate, feed_in_rate, cost,
          revenue, measured, whole)
        each finished quarter hour's cost and feed-in revenue, settled once with the tariff
        of the time (``history.costs``); ``measured`` 0: the service was down, estimated;
        ``whole`` 0: only part of it was seen (never the month's peak).
    counter_resets(meter, obis, name, time, before, after, at_start)
        where a counter went back (a meter replaced): a new series starts there, the step
        across it counts nothing (``history.query``).
    cost_months(meter, start, currency, base_fee, peak_price)
        the monthly charges as they were when the month was first settled.

Writes are batched: one transaction per batch; the aggregates of a batch are merged in
memory first, so a batch touches each (meter, value, interval) row once. The database is in
WAL mode, so ``history`` and the page read (``history.query``) while the service writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..i18n import _
from ..reading import Reading
from .query import COUNTER_UNITS, CounterReset, HistoryError, HistoryQuery
from .spill import private_file

__all__ = ["HistoryStore"]

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
CREATE TABLE IF NOT EXISTS prices (
    start INTEGER PRIMARY KEY,
    end INTEGER NOT NULL,
    price REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS costs (
    meter TEXT NOT NULL,
    start INTEGER NOT NULL,
    import_wh REAL NOT NULL,
    export_wh REAL NOT NULL,
    energy_rate REAL,
    grid_rate REAL NOT NULL,
    feed_in_rate REAL,
    cost REAL NOT NULL,
    revenue REAL NOT NULL,
    measured INTEGER NOT NULL,
    whole INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (meter, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cost_months (
    meter TEXT NOT NULL,
    start INTEGER NOT NULL,
    currency TEXT NOT NULL,
    base_fee REAL NOT NULL,
    peak_price REAL NOT NULL,
    PRIMARY KEY (meter, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter_resets (
    meter TEXT NOT NULL,
    obis TEXT NOT NULL,
    name TEXT NOT NULL,
    time REAL NOT NULL,
    before REAL NOT NULL,
    after REAL NOT NULL,
    at_start INTEGER NOT NULL,
    PRIMARY KEY (meter, obis, time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counter_resets_time ON counter_resets (time);
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
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class HistoryStore(HistoryQuery):
    """The writer: creates the schema and stores readings (synchronous: the SQLite output
    runs it in a worker thread); it answers the queries of ``HistoryQuery`` too."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        #: what opening found and did (a damaged file set aside), for the log
        self.notes: list[str] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            private_file(path)  # 0600 before SQLite makes its -wal and -shm beside it
            db = self._checked(path)
            db.executescript(_SCHEMA)
            if "whole" not in {row[1] for row in db.execute("PRAGMA table_info(costs)")}:
                # a database of an older version: its quarter hours count as seen whole
                db.execute("ALTER TABLE costs ADD COLUMN whole INTEGER NOT NULL DEFAULT 1")
            if db.execute("SELECT count(*) FROM series").fetchone()[0] == 0:
                db.execute("INSERT OR IGNORE INTO series SELECT DISTINCT meter, obis,"
                           " name, unit FROM aggregates WHERE step = 900")
            for made in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if made.exists():
                    made.chmod(0o600)  # readings are personal data
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(_("cannot open the database {path}: {reason}", path=path,
                                 reason=exc)) from None
        super().__init__(path, _db=db)
        self._known = set(self._series(None))  # the write path only upserts what is new
        #: each counter's last value and its quarter hour, to see it go back
        self._counters: dict[tuple[str, str], tuple[int, float]] = {}

    def _checked(self, path: Path) -> sqlite3.Connection:
        """Open ``path``; a file that fails SQLite's quick check (it stops at the first
        problem) is set aside and a fresh database started, so the meter is still read."""
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            damaged = db.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
        except sqlite3.OperationalError:
            db.close()
            raise  # disk full, no permission: not damage
        except sqlite3.DatabaseError:
            damaged = True
        if not damaged:
            return db
        db.close()
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        path.rename(aside)
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        self.notes.append(_(
            "the history database {path} is damaged: it is kept as {aside} and a fresh one "
            "started. To recover what it holds: sqlite3 {aside} .recover | sqlite3 "
            "{recovered} (or restore a backup copy)", path=path, aside=aside,
            recovered=path.parent / "recovered.sqlite"))
        private_file(path)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def write(self, readings: Sequence[Reading]) -> list[CounterReset]:
        """Store a batch; returns the counters that went back in it (each once)."""
        rows = []
        resets: list[CounterReset] = []
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
                if measurement.unit in COUNTER_UNITS:
                    reset = self._went_back(meter, obis, measurement.name, stamp,
                                              float(value))
                    if reset is not None:
                        resets.append(reset)
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
                self._db.executemany("INSERT OR IGNORE INTO counter_resets VALUES "
                                     "(?, ?, ?, ?, ?, ?, ?)", resets)
        except sqlite3.Error as exc:
            self._counters.clear()  # not stored: what the database holds counts again
            raise HistoryError(_("cannot write to {path}: {reason}", path=self.path,
                                 reason=exc)) from None
        self._known |= series
        return resets

    def missing(self, readings: Sequence[Reading]) -> list[Reading]:
        """Those of ``readings`` not stored yet (no raw reading of the meter has their time
        and frame counter): a replay after a stop that stored them after all does not count
        them twice."""
        found = []
        for reading in readings:
            moment = reading.time or reading.received
            if moment is None:
                found.append(reading)
                continue
            with self._lock:
                row = self._db.execute("SELECT 1 FROM readings WHERE time = ? AND meter = ? "
                                       "AND frame_counter IS ? LIMIT 1",
                                       (moment.timestamp(), reading.meter_key,
                                        reading.frame_counter)).fetchone()
            if row is None:
                found.append(reading)
        return found

    def _went_back(self, meter: str, obis: str, name: str, stamp: float,
                   value: float) -> CounterReset | None:
        """A counter reading lower than the one before starts a new series."""
        key = (meter, obis)
        quarter = int(stamp // 900) * 900
        known = self._counters.get(key)
        if known is None:  # the first since start: what the database last holds
            with self._lock:
                row = self._db.execute(
                    "SELECT start, last FROM aggregates WHERE step = 900 AND meter = ? AND"
                    " obis = ? ORDER BY start DESC LIMIT 1", key).fetchone()
            known = (row[0], row[1]) if row else None
        self._counters[key] = (quarter, value)
        if known is None or value >= known[1]:
            return None
        return CounterReset(meter, obis, name, stamp, known[1], value, quarter != known[0])

    def add_aggregates(self, rows: Sequence[tuple[Any, ...]],
                       series: Sequence[tuple[str, str, str, str | None]] = ()) -> None:
        """Store ready-made aggregate rows (the history filler), replacing what is there."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO aggregates VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(_SERIES, series)
        self._known |= set(series)

    def add_prices(self, prices: Sequence[tuple[int, int, float]]) -> None:
        """Store spot prices (start, end, price per kWh), replacing those of the same start."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO prices VALUES (?, ?, ?)", prices)

    def add_costs(self, rows: Sequence[tuple[Any, ...]],
                  months: Sequence[tuple[str, int, str, float, float]]) -> None:
        """Settled quarter hours; a month's charges are kept as first stored."""
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO costs VALUES "
                                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.executemany("INSERT OR IGNORE INTO cost_months VALUES "
                                     "(?, ?, ?, ?, ?)", months)
        except sqlite3.Error as exc:
            raise HistoryError(_("cannot write to {path}: {reason}", path=self.path,
                                 reason=exc)) from None

    def forget_costs(self, since: float = 0.0) -> int:
        """Drop settled costs from ``since`` on (and the charges of months from there), so
        they are settled again with the tariff as it is now."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            gone = self._db.execute("DELETE FROM costs WHERE start >= ?", (since,)).rowcount
            self._db.execute("DELETE FROM cost_months WHERE start >= ?", (since,))
        return int(gone)

    def prune(self, keep_days: float) -> int:
        """Drop raw readings older than ``keep_days``; aggregates stay."""
        cutoff = time.time() - keep_days * 86400
        with self._lock, self._db:
            return self._db.execute("DELETE FROM readings WHERE time < ?", (cutoff,)).rowcount
