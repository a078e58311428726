"""A durable queue per network output: readings wait here, in order, until delivered.

One SQLite file, one table; a row is one reading (JSON) for one output. The service appends
every reading for every network output as it arrives and deletes rows only after the output
confirmed them, so an output that is down, or a service that restarts, loses nothing.

Bound: at most ``max_readings`` rows per output. Beyond that the *oldest* rows are dropped
(the newest data is what a returning dashboard wants first) and counted in ``dropped``;
at one push per second the default of 1,000,000 covers more than eleven days of outage.

When the file cannot take rows (disk full, a read-only directory) the readings wait in memory,
at most ``memory_readings`` of them (the oldest go first, counted as dropped), and every later
append tries to store them again, in order: ``append`` raises ``OutboxError`` naming the
cause, which the service shows as the outputs' state while reading goes on. A file that is
damaged is set aside (``outbox.sqlite.damaged-<time>``) and a fresh one started; ``damaged``
says so, for the log (a warning) and the outputs' state.

What still waits in memory at ``close`` is written to a spill file (``history.spill``: space
for it is held back while the disk has room) and stored again at the next opening; what does
not fit is counted in ``lost``. Sharing a disk with the history (``history``), the outbox
leaves it room: below ``keep_free`` bytes free it stores nothing and readings wait in memory,
so a disk that frees a little goes to the history first.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..history.spill import Spill, private_file
from ..i18n import _
from ..reading import Reading

__all__ = ["Outbox", "OutboxError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_sink ON outbox (sink, id);
"""


_CHUNK = 100
_KEEP_FREE = 64 << 20  # at most; an eighth of a smaller disk


class OutboxError(Exception):
    """The outbox cannot store or read rows now (disk full, read-only, damaged)."""


class Outbox:
    def __init__(self, path: str | Path, *, max_readings: int = 1_000_000,
                 memory_readings: int = 10_000, history: str | Path | None = None) -> None:
        self.path = Path(path)
        self.max_readings = max_readings
        self.dropped: dict[str, int] = {}
        self.lost: dict[str, int] = {}  # readings neither stored nor spilled at close
        self.notes: list[str] = []  # what went wrong at opening, for the log (warnings)
        self.news: list[str] = []  # what else happened at opening, for the log
        self.damaged = ""  # the file was damaged and set aside at opening
        self.history = Path(history) if history is not None else None
        self._shares_disk: bool | None = None  # with the history: found at the first store
        self.spill = Spill(self.path.with_name(self.path.name + ".spill"))
        self._spilled = False  # the spill's readings wait in memory, not yet in the file
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._counts: dict[str, int] = {}
        # delivered but not yet deleted (a full disk refuses even a DELETE): never sent again
        self._delivered: dict[str, int] = {}
        self._waiting: collections.deque[tuple[tuple[str, ...], Reading]] = \
            collections.deque(maxlen=memory_readings)
        try:
            self._open()
        except OutboxError as exc:
            self.notes.append(_("outbox: {reason}; readings wait in memory until it opens")
                              .format(reason=exc))
        earlier = self.spill.load()
        if earlier:
            self._waiting.extend(earlier)
            self._spilled = True
            self.news.append(_("outbox: {count} readings kept at the last stop are sent "
                               "first").format(count=len(earlier)))
            with contextlib.suppress(OutboxError):  # else they wait for a later append
                self.append((), ())
        if self._db is not None:
            self.spill.hold()

    # ------------------------------------------------------------ opening

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the quick check found damage")
        except sqlite3.DatabaseError as exc:
            if not self.path.exists() or isinstance(exc, sqlite3.OperationalError):
                raise OutboxError(_("cannot open {path}: {reason}").format(
                    path=self.path, reason=exc)) from None
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            try:
                self.path.rename(aside)
            except OSError as moved:
                raise OutboxError(_("{path} is damaged and cannot be set aside: {reason}").format(
                    path=self.path, reason=moved.strerror)) from None
            self.damaged = _("outbox: {path} was damaged ({reason}); it is kept as {aside} "
                             "and a fresh outbox started (readings in it were not sent)"
                             ).format(path=self.path, reason=exc, aside=aside)
            self.notes.append(self.damaged)
            try:
                db = self._connect()
            except sqlite3.Error as again:
                raise OutboxError(_("cannot open {path}: {reason}").format(
                    path=self.path, reason=again)) from None
        except OSError as exc:
            raise OutboxError(_("cannot open {path}: {reason}").format(
                path=self.path, reason=exc.strerror)) from None
        self._counts = dict(db.execute("SELECT sink, count(*) FROM outbox GROUP BY sink")
                            .fetchall())
        self._db = db
        return db

    def _connect(self) -> sqlite3.Connection:
        private_file(self.path)  # 0600 before SQLite makes its -wal and -shm beside it
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        for made in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if made.exists():
                made.chmod(0o600)  # readings are personal data
        return db

    # ------------------------------------------------------------ the queue

    def append(self, sinks: Sequence[str], readings: Sequence[Reading]) -> None:
        """Store ``readings`` for ``sinks`` behind what waits already; OutboxError: they wait
        in memory (bounded) and are stored by a later append."""
        with self._lock:
            for reading in readings:
                if len(self._waiting) == self._waiting.maxlen:
                    for sink in self._waiting[0][0]:
                        self.dropped[sink] = self.dropped.get(sink, 0) + 1
                self._waiting.append((tuple(sinks), reading))
            try:
                db = self._open()
                if self._waiting:
                    self._leave_room()
                while self._waiting:  # in chunks: a disk that frees a little takes a little
                    chunk = [self._waiting[at] for at in range(min(_CHUNK, len(self._waiting)))]
                    self._store(db, chunk)
                    for _stored in chunk:
                        self._waiting.popleft()
                if self._spilled:
                    self._spilled = False
                    self.spill.clear()
            except (sqlite3.Error, OutboxError) as exc:
                reason = str(exc) if isinstance(exc, OutboxError) else _(
                    "cannot store readings in {path}: {reason}").format(path=self.path,
                                                                        reason=exc)
                raise OutboxError(_("{reason}; {count} wait in memory").format(
                    reason=reason, count=len(self._waiting))) from None

    def _leave_room(self) -> None:
        """OutboxError where storing would take the space the history on the same disk
        needs to catch up."""
        if self.history is None:
            return
        try:
            if self._shares_disk is None:  # a folder does not change its disk while we run
                self._shares_disk = (os.stat(self.history.parent).st_dev
                                     == os.stat(self.path.parent).st_dev)
            if not self._shares_disk:
                return
            usage = shutil.disk_usage(self.path.parent)
        except OSError:
            return
        keep = min(_KEEP_FREE, usage.total // 8)
        if usage.free < keep:
            raise OutboxError(_("the disk is nearly full ({free} kB free): the outbox leaves "
                                "{keep} kB to the history").format(free=usage.free // 1024,
                                                                  keep=keep // 1024))

    def _store(self, db: sqlite3.Connection,
               chunk: Sequence[tuple[tuple[str, ...], Reading]]) -> None:
        rows = [(sink, json.dumps(reading.to_dict(full=True), ensure_ascii=False))
                for names, reading in chunk for sink in names]
        counts = dict(self._counts)
        with db:
            db.execute("BEGIN")
            db.executemany("INSERT INTO outbox (sink, data) VALUES (?, ?)", rows)
            for sink, more in collections.Counter(sink for sink, _ in rows).items():
                count = counts.get(sink, 0) + more
                excess = count - self.max_readings
                if excess > 0:
                    db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                               "WHERE sink = ? ORDER BY id LIMIT ?)", (sink, excess))
                    self.dropped[sink] = self.dropped.get(sink, 0) + excess
                    count -= excess
                counts[sink] = count
        self._counts = counts

    def peek(self, sink: str, limit: int) -> list[tuple[int, Reading]]:
        with self._lock:
            if self._db is None:
                return []
            try:
                rows = self._db.execute("SELECT id, data FROM outbox WHERE sink = ? AND id > ? "
                                        "ORDER BY id LIMIT ?",
                                        (sink, self._delivered.get(sink, 0), limit)).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(_("cannot read {path}: {reason}").format(
                    path=self.path, reason=exc)) from None
        return [(row_id, Reading.from_dict(json.loads(data))) for row_id, data in rows]

    def remove(self, sink: str, up_to: int) -> None:
        """Forget the rows of ``sink`` up to and including id ``up_to`` (delivered). Where
        the file refuses the DELETE, they are only marked delivered (never sent again) and
        deleted by a later call."""
        with self._lock:
            self._delivered[sink] = max(up_to, self._delivered.get(sink, 0))
            if self._db is None:
                return
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    gone = self._db.execute("DELETE FROM outbox WHERE sink = ? AND id <= ?",
                                            (sink, self._delivered[sink])).rowcount
            except sqlite3.Error:
                return  # the DELETE waits for space; the mark keeps them from going twice
            self._counts[sink] = max(0, self._counts.get(sink, 0) - gone)

    def backlog(self, sink: str) -> int:
        waiting = sum(1 for names, _ in self._waiting if sink in names)
        return self._counts.get(sink, 0) + waiting

    def close(self) -> None:
        """Close the file; what waits in memory goes to the spill (counted in ``lost``
        where it does not fit)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._waiting:
                waiting = list(self._waiting)
                self.spill.clear()  # its readings are in ``waiting`` too, at the front
                kept = self.spill.save(waiting)
                for names, _reading in waiting[kept:]:
                    for sink in names:
                        self.lost[sink] = self.lost.get(sink, 0) + 1
                self._waiting.clear()
