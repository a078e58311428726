"""A durable queue per network output: readings wait here, in order, until delivered.

One SQLite file, one table; a row is one reading (JSON) for one output. The service appends
every reading for every network output as it arrives and deletes rows only after the output
confirmed them, so an output that is down, or a service that restarts, loses nothing.

Bound: at most ``max_readings`` rows per output. Beyond that the *oldest* rows are dropped
(the newest data is what a returning dashboard wants first) and counted in ``dropped``;
at one push per second the default of 1,000,000 covers more than eleven days of outage.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from ..reading import Reading

__all__ = ["Outbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_sink ON outbox (sink, id);
"""


class Outbox:
    def __init__(self, path: str | Path, *, max_readings: int = 1_000_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.max_readings = max_readings
        self.dropped: dict[str, int] = {}
        self._counts: dict[str, int] = dict(
            self._db.execute("SELECT sink, count(*) FROM outbox GROUP BY sink").fetchall())

    def append(self, sinks: Sequence[str], readings: Sequence[Reading]) -> None:
        rows = [(sink, json.dumps(r.to_dict(full=True), ensure_ascii=False))
                for r in readings for sink in sinks]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO outbox (sink, data) VALUES (?, ?)", rows)
            for sink in sinks:
                count = self._counts.get(sink, 0) + len(readings)
                excess = count - self.max_readings
                if excess > 0:
                    self._db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sink = ? "
                        "ORDER BY id LIMIT ?)", (sink, excess))
                    self.dropped[sink] = self.dropped.get(sink, 0) + excess
                    count -= excess
                self._counts[sink] = count

    def peek(self, sink: str, limit: int) -> list[tuple[int, Reading]]:
        with self._lock:
            rows = self._db.execute("SELECT id, data FROM outbox WHERE sink = ? ORDER BY id "
                                    "LIMIT ?", (sink, limit)).fetchall()
        return [(row_id, Reading.from_dict(json.loads(data))) for row_id, data in rows]

    def remove(self, sink: str, up_to: int) -> None:
        """Forget the rows of ``sink`` up to and including id ``up_to`` (delivered)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            gone = self._db.execute("DELETE FROM outbox WHERE sink = ? AND id <= ?",
                                    (sink, up_to)).rowcount
            self._counts[sink] = max(0, self._counts.get(sink, 0) - gone)

    def backlog(self, sink: str) -> int:
        return self._counts.get(sink, 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()
