"""Reading the history: raw readings, the series a meter sends, and aggregated intervals.

``HistoryQuery`` opens an existing database and never changes it (``PRAGMA query_only``, no
schema statements), so the page and the ``history`` command read beside the writing service
(WAL mode) and a damaged or missing file is a ``HistoryError`` with a reason, never a write.
``history.store.HistoryStore`` is the writer; it answers the same queries.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from ..i18n import _

__all__ = ["COUNTER_UNITS", "EXPORT", "IMPORT", "STEPS", "CounterReset", "HistoryError",
           "HistoryQuery", "QuarterHour", "spans"]

STEPS = ("1m", "15m", "1h", "1d", "1mo")
IMPORT = "1.0.1.8.0.255"  # active energy from the grid, all tariffs
EXPORT = "1.0.2.8.0.255"  # active energy into the grid
COUNTER_UNITS = frozenset({"Wh", "varh", "VAh"})
_QUARTER = 900


class QuarterHour(NamedTuple):
    start: int  # Unix seconds
    wh: float  # energy in the quarter hour (the counter's unit: Wh, varh)
    measured: bool  # False: the service was down, the gap's energy spread evenly
    #: the energy is the counter's movement over the whole quarter hour; False for the
    #: first one of a series and for one cut by a gap or a counter drop: never the peak
    whole: bool = True


class CounterReset(NamedTuple):
    """A counter that went back (a meter replaced or reset): a new series starts there."""

    meter: str
    obis: str
    name: str
    time: float  # Unix seconds of the first reading of the new series
    before: float  # the last value of the old series
    after: float  # the first value of the new one
    at_start: bool  # that reading was the first of its quarter hour


class HistoryError(Exception):
    """The history cannot be read or written now; the message says why."""


class HistoryQuery:
    """Read-only queries on the history database (synchronous: callers use a thread)."""

    def __init__(self, path: str | Path, *, _db: sqlite3.Connection | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if _db is not None:  # the writer's own connection
            self._db = _db
            return
        if not self.path.is_file():
            raise HistoryError(_("no history at {path}", path=self.path))
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA query_only = ON")
            self._db.execute("SELECT count(*) FROM series").fetchone()
        except sqlite3.Error as exc:
            raise HistoryError(_("cannot read the history {path}: {reason}", path=self.path,
                                 reason=exc)) from None

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
        with self._reading():
            rows = self._db.execute(sql, args).fetchall()
        return [_contract(json.loads(data)) for (data,) in rows]

    def readings_after(self, since: datetime, until: datetime, limit: int,
                       meter: str | None = None, after: tuple[float, int] | None = None
                       ) -> tuple[list[dict[str, Any]], tuple[float, int] | None]:
        """Up to ``limit`` stored readings in time order, from the one after ``after`` on,
        and the cursor for the next call (None: no more): a long answer read in pieces, each
        holding the connection only briefly."""
        low, high = _range(since, until)
        sql = "SELECT time, rowid, data FROM readings WHERE time >= ? AND time < ?"
        args: tuple[Any, ...] = (low, high)
        if meter is not None:
            sql, args = sql + " AND meter = ?", (*args, meter)
        if after is not None:
            sql += " AND (time > ? OR (time = ? AND rowid > ?))"
            args = (*args, after[0], after[0], after[1])
        sql += f" ORDER BY time, rowid LIMIT {int(limit)}"
        with self._reading():
            rows = self._db.execute(sql, args).fetchall()
        cursor = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
        return [_contract(json.loads(data)) for _time, _row, data in rows], cursor

    def series(self, meter: str | None = None) -> list[dict[str, Any]]:
        """What the store holds: one row per meter and value, with its name and unit."""
        with self._reading():
            rows = sorted(self._series(meter))
        return [{"meter": m, "obis": o, "name": n, "unit": u} for m, o, n, u in rows]

    def quarter_hours(self, obis: str, since: datetime, until: datetime,
                      meter: str | None = None) -> list[QuarterHour]:
        """The energy of a counter in each quarter hour from ``since`` to ``until``, from
        counter differences (what the operator bills), gaps included.

        A quarter hour's energy is its last reading minus the one before it. Where the
        service was down, the counter still moved: that energy is spread evenly over the
        quarter hours of the gap (``measured`` false), so the quarters add up to the counter
        difference over any span and a gap never shows as one huge quarter hour. Where the
        counter went back (``CounterReset``) a new series starts: nothing is subtracted and
        nothing guessed for the step across the drop.
        """
        low, high = _range(since, until)
        with self._reading():
            meter = meter or self._newest_meter(obis)
            if meter is None:
                return []
            return self._quarters(meter, obis, low, high)

    def _quarters(self, meter: str, obis: str, low: float, high: float) -> list[QuarterHour]:
        """``quarter_hours`` on the held connection."""
        before = self._db.execute(
            "SELECT start, first, last FROM aggregates WHERE step = 900 AND meter = ?"
            " AND obis = ? AND start < ? ORDER BY start DESC LIMIT 1",
            (meter, obis, low)).fetchone()
        rows = self._db.execute(
            "SELECT start, first, last FROM aggregates WHERE step = 900 AND meter = ?"
            " AND obis = ? AND start >= ? AND start < ? ORDER BY start",
            (meter, obis, low, high)).fetchall()
        beyond = self._db.execute(  # a gap that goes on past ``high`` has its share before
            "SELECT start, first, last FROM aggregates WHERE step = 900 AND meter = ?"
            " AND obis = ? AND start >= ? ORDER BY start LIMIT 1",
            (meter, obis, high)).fetchone() if high != float("inf") else None
        if not rows and (before is None or beyond is None):
            return []
        if beyond is not None:
            rows.append(beyond)
        drops = self._drops(meter, obis, before[0] if before else rows[0][0], rows[-1][0])
        quarters: list[QuarterHour] = []
        previous = before
        for index, (start, first, last) in enumerate(rows):
            at_start, inside = drops.get(start, (0.0, 0.0))
            following = rows[index + 1][0] if index + 1 < len(rows) else None
            # cut at its end: the next quarter hour has no row (the service went down)
            cut = start + _QUARTER != following and start + _QUARTER < high
            if previous is None:  # the first of the history: its start was not seen
                quarters.append(QuarterHour(start, last - first + inside, True, False))
            else:
                missing = (start - previous[0]) // _QUARTER - 1
                if missing > 0:
                    spread = (first - previous[2] + at_start) / missing
                    for gap in range(1, missing + 1):
                        moment = previous[0] + _QUARTER * gap
                        if low <= moment < high:
                            quarters.append(QuarterHour(moment, spread, False, False))
                    if start >= high:
                        break
                    quarters.append(QuarterHour(start, last - first + inside, True, False))
                elif start >= high:
                    break
                else:
                    quarters.append(QuarterHour(
                        start, last - previous[2] + at_start + inside, True,
                        not (cut or at_start or inside)))
                    previous = (start, first, last)
                    continue
            previous = (start, first, last)
        return quarters

    def _drops(self, meter: str, obis: str, low: float, high: float,
               step: int = _QUARTER) -> dict[int, tuple[float, float]]:
        """What the counter lost at drops, by quarter hour (or ``step``): (at its first
        reading, later in it); added back, so the step across a drop counts nothing."""
        if not self._has("counter_resets"):
            return {}
        found: dict[int, tuple[float, float]] = {}
        for stamp, lost, at_start in self._db.execute(
                "SELECT time, before - after, at_start FROM counter_resets WHERE meter = ?"
                " AND obis = ? AND time >= ? AND time < ?", (meter, obis, low, high + step)):
            start = int(stamp // step) * step
            first, later = found.get(start, (0.0, 0.0))
            found[start] = (first + lost, later) if at_start else (first, later + lost)
        return found

    def counter_resets(self, limit: int = 10) -> list[CounterReset]:
        """The newest counter drops first (none in a database older than the table)."""
        with self._reading():
            if not self._has("counter_resets"):
                return []
            rows = self._db.execute(
                "SELECT meter, obis, name, time, before, after, at_start FROM counter_resets"
                " ORDER BY time DESC LIMIT ?", (limit,)).fetchall()
        return [CounterReset(m, o, n, t, b, a, bool(s)) for m, o, n, t, b, a, s in rows]

    def prices(self, since: float, until: float) -> list[tuple[int, int, float]]:
        """Stored spot prices overlapping [since, until) (none before the table exists)."""
        with self._reading():
            if not self._has("prices"):
                return []
            return self._db.execute("SELECT start, end, price FROM prices WHERE end > ? AND"
                                    " start < ? ORDER BY start", (since, until)).fetchall()

    def costs(self, meter: str, since: float, until: float) -> list[tuple[Any, ...]]:
        """Settled quarter hours in [since, until): start, import_wh, export_wh, cost,
        revenue, measured, whole."""
        with self._reading():
            if not self._has("costs"):
                return []
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(costs)")}
            whole = "whole" if "whole" in columns else "measured"  # an older database
            return self._db.execute(
                f"SELECT start, import_wh, export_wh, cost, revenue, measured, {whole} FROM"
                " costs WHERE meter = ? AND start >= ? AND start < ? ORDER BY start",
                (meter, since, until)).fetchall()

    def cost_months(self, meter: str) -> dict[int, tuple[str, float, float]]:
        """The monthly charges as stored: month start -> (currency, base fee, peak price)."""
        with self._reading():
            if not self._has("cost_months"):
                return {}
            rows = self._db.execute("SELECT start, currency, base_fee, peak_price FROM"
                                    " cost_months WHERE meter = ?", (meter,)).fetchall()
        return {start: (currency, fee, peak) for start, currency, fee, peak in rows}

    def last_costed(self, meter: str) -> int | None:
        with self._reading():
            if not self._has("costs"):
                return None
            row = self._db.execute("SELECT max(start) FROM costs WHERE meter = ?",
                                   (meter,)).fetchone()
        return row[0] if row else None

    def _has(self, table: str) -> bool:
        """A database written by an older version lacks the newer tables."""
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND"
                                " name = ?", (table,)).fetchone() is not None

    def meters(self) -> list[str]:
        """The meters the history holds, the one read most recently first."""
        with self._reading():
            rows = self._db.execute("SELECT meter, max(start) FROM aggregates WHERE step = 900"
                                    " GROUP BY meter ORDER BY 2 DESC").fetchall()
        return [meter for meter, _ in rows]

    def _newest_meter(self, obis: str) -> str | None:
        row = self._db.execute("SELECT meter FROM aggregates WHERE step = 900 AND obis = ?"
                               " ORDER BY start DESC LIMIT 1", (obis,)).fetchone()
        return row[0] if row else None

    def extent(self) -> tuple[datetime, datetime] | None:
        """When the oldest and newest stored reading or aggregate fall (None: nothing yet);
        what ``history`` tells a user whose range holds nothing."""
        with self._reading():
            raw = self._db.execute("SELECT min(time), max(time) FROM readings").fetchone()
            rolled = self._db.execute("SELECT min(start), max(start + step) FROM aggregates"
                                      ).fetchone()
        stamps = [stamp for stamp in (*raw, *rolled) if stamp is not None]
        if not stamps:
            return None
        return (datetime.fromtimestamp(min(stamps), UTC),
                datetime.fromtimestamp(max(stamps), UTC))

    def intervals(self, step: str, since: datetime | None = None,
                  until: datetime | None = None, tz: tzinfo = UTC, *,
                  obis: Sequence[str] | None = None,
                  meter: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Aggregated intervals: mean, min, max, last, and for counters the delta.

        1m and 15m are stored as they are; 1h, 1d and 1mo are summed up from the 15-minute
        rows inside SQLite, one indexed range per interval and value, so a year of history
        is a few thousand rows of work instead of hundreds of thousands in Python.
        ``meter``: one meter (default: all, each on its own), or several added up.
        """
        if meter is not None and not isinstance(meter, str):
            return _added([self.intervals(step, since, until, tz, obis=obis, meter=one)
                           for one in meter], list(meter))
        if step not in STEPS:
            raise ValueError(_("step {step!r}: use one of {valid}", step=step,
                               valid=", ".join(STEPS)))
        low, high = _range(since, until)
        wanted = set(obis) if obis is not None else None
        grouped: dict[tuple[int, str], dict[str, Any]] = {}
        with self._reading():
            pairs = [row for row in self._series(meter) if wanted is None or row[1] in wanted]
            stored = 60 if step == "1m" else 900
            if step in ("1m", "15m"):
                bounds = None
            else:
                span = self._span(pairs, low, high)
                if span is None and (low <= 0 or high == float("inf")):
                    return []
                span = span or (int(low), int(high) - 900)  # perhaps all of it in a gap
                bounds = _boundaries(step, max(low, span[0]), min(high, span[1] + 900), tz)
            for pair_meter, pair_obis, name, unit in pairs:
                rows = self._pair_rows(stored, pair_meter, pair_obis, low, high, bounds)
                counter = unit in COUNTER_UNITS
                if not rows and (not counter or step == "1m"):
                    continue
                energy = self._energies(step, pair_meter, pair_obis, low, high, rows,
                                        bounds, tz) if counter else {}
                for start, end, count, total, low_v, high_v, last in rows:
                    interval = grouped.setdefault((start, pair_meter), {
                        "start": _local(start, tz), "end": _local(end, tz),
                        "meter": pair_meter, "values": {}})
                    value = {"name": name, "unit": unit, "count": count,
                             "mean": _tidy(total / count), "min": _tidy(low_v),
                             "max": _tidy(high_v), "last": _tidy(last)}
                    if counter:
                        value["delta"] = _tidy(energy.pop(start, 0.0))
                    interval["values"][pair_obis] = value
                for start, wh in energy.items():  # the service was down all of it
                    end = start + stored if bounds is None else bounds[
                        bisect.bisect_right(bounds, start)]
                    grouped.setdefault((start, pair_meter), {
                        "start": _local(start, tz), "end": _local(end, tz),
                        "meter": pair_meter, "values": {}})["values"][pair_obis] = {
                        "name": name, "unit": unit, "count": 0, "delta": _tidy(wh)}
        return [grouped[key] for key in sorted(grouped)]

    def _energies(self, step: str, meter: str, obis: str, low: float, high: float,
                  rows: list[tuple[Any, ...]], bounds: list[int] | None,
                  tz: tzinfo) -> dict[int, float]:
        """A counter's energy per interval: from 15 minutes on, the quarter hours' (gaps
        spread, drops counted as nothing), so every step adds up to the next; a minute's is
        its last reading minus the one before, drops added back."""
        if step == "1m":
            previous = self._base(60, meter, obis, rows[0][0])
            drops = self._drops(meter, obis, rows[0][0], high, 60)
            found = {}
            for start, _end, _count, _total, _low, _high, last in rows:
                found[start] = last - previous + sum(drops.get(start, (0.0, 0.0)))
                previous = last
            return found
        energy: dict[int, float] = {}
        quarters = self._quarters(meter, obis, low, high)
        if bounds is not None and quarters and quarters[0].start < bounds[0]:
            # a gap from before the first stored row in range: its intervals too
            bounds[:0] = _boundaries(step, quarters[0].start, bounds[0], tz)[:-1]
        if bounds is not None and quarters and quarters[-1].start >= bounds[-1]:
            bounds += _boundaries(step, bounds[-1], quarters[-1].start + 1, tz)[1:]
        for quarter in quarters:
            key = quarter.start if bounds is None else bounds[
                bisect.bisect_right(bounds, quarter.start) - 1]
            energy[key] = energy.get(key, 0.0) + quarter.wh
        return energy

    def _span(self, pairs: list[tuple[str, str, str, str | None]], low: float,
              high: float) -> tuple[int, int] | None:
        """First and last 15-minute row in range, by index seeks (a scan took 40 ms a year)."""
        starts: list[int] = []
        for meter, obis, _name, _unit in pairs:
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

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """One query at a time on the shared connection; a damaged file says so."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise HistoryError(_("cannot read the history {path}: {reason}",
                                     path=self.path, reason=exc)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()


_ADDITIVE = {"W", "Wh", "var", "varh", "VA", "VAh"}  # what adds up across meters


def _added(per_meter: list[list[dict[str, Any]]], meters: list[str]) -> list[dict[str, Any]]:
    """Several meters' intervals as one (a building): power and energy only (voltages,
    currents and frequency do not add up), their mean, last and delta added (the sum of
    mean powers is the mean of the summed power); min and max are not additive and are left
    out; ``count`` is the fewest readings any meter had in the interval, ``meters`` how many
    meters the value of the interval holds (fewer than all: some were not read then)."""
    merged: dict[str, dict[str, Any]] = {}
    for intervals in per_meter:
        for interval in intervals:
            into = merged.setdefault(interval["start"], {
                "start": interval["start"], "end": interval["end"], "meters": meters,
                "values": {}})
            for obis, value in interval["values"].items():
                if value["unit"] not in _ADDITIVE:
                    continue
                total = into["values"].get(obis)
                if total is None:
                    into["values"][obis] = {**{key: value[key] for key in value
                                               if key not in ("min", "max")}, "meters": 1}
                    continue
                total["meters"] += 1
                total["count"] = min(total["count"], value["count"])
                for key in ("mean", "last", "delta"):
                    if key in value:  # (a meter the service did not read then has none)
                        total[key] = _tidy(total.get(key, 0) + value[key])
    return [merged[start] for start in sorted(merged, key=lambda text: datetime.fromisoformat(
        text).timestamp())]


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


def spans(step: str, since: datetime, until: datetime, tz: tzinfo,
          size: int) -> list[tuple[datetime, datetime]]:
    """``since`` to ``until`` cut into pieces of about ``size`` intervals of ``step``, for
    answering a long range piece by piece: the pieces' intervals together are those of the
    whole range. Hours, days and months are cut at their local edges only (an interval is
    summed up whole from the one holding its start); stored minutes and quarter hours
    anywhere."""
    low, high = since.timestamp(), until.timestamp()
    if step in ("1m", "15m"):
        width = size * (60 if step == "1m" else _QUARTER)
        cuts = [float(edge) for edge in range(int(low // width + 1) * width, int(high), width)]
    else:
        edges = [edge for edge in _boundaries(step, low, high, tz) if low < edge < high]
        cuts = [float(edge) for edge in edges[size - 1::size]]
    moments = [since, *(datetime.fromtimestamp(cut, since.tzinfo) for cut in cuts
                        if low < cut < high), until]
    return list(itertools.pairwise(moments))


def _local(stamp: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(stamp, tz).isoformat()


def _tidy(number: float) -> float | int:
    rounded = round(number, 6)
    return int(rounded) if rounded == int(rounded) else rounded
