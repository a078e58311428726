"""What the fleet's page asks of PostgreSQL: the meters and their age, a group's quarter
hours, and a member's month as CSV.

Everything reads the two small tables the collectors keep beside the readings
(``fleet.store``): ``<table>_latest`` for the meters, ``<table>_quarters`` for energy. A
quarter hour's energy is the difference of a counter's first values in the next quarter hour
and in it, as the operator bills; a quarter hour without a reading in it or in the next one
(the meter or its reader was away, or it is the running one) has no figure rather than a
made-up one.

A group's self-supplied share per quarter hour is how much of the members' import their own
export covered, ``min(export, import) / import``: how energy communities allocate, quarter
hour by quarter hour.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import psycopg

from ..masking import hide_secrets
from ..sinks.postgres import reason
from .rows import EARLIEST, LATEST
from .store import COUNTERS, StoreUnavailable

__all__ = ["FleetView", "month_bounds", "within_years"]

_TIMEOUT = 10
_QUARTER = timedelta(minutes=15)
IMPORT, EXPORT = COUNTERS


def month_bounds(month: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as local midnight of its first day and of the next month's."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month):
        raise ValueError(f"month={month!r}: use YYYY-MM, e.g. 2026-11")
    if not EARLIEST.year <= int(month[:4]) < LATEST.year:  # where a reading can lie
        raise ValueError(f"month={month!r}: the fleet's readings lie in the years "
                         f"{EARLIEST.year} to {LATEST.year - 1}")
    first = date(int(month[:4]), int(month[5:]), 1)  # ValueError for month 13
    after = (first + timedelta(days=32)).replace(day=1)
    return (datetime(first.year, first.month, 1, tzinfo=tz),
            datetime(after.year, after.month, 1, tzinfo=tz))


def within_years(moment: datetime) -> bool:
    """Whether a moment asked about lies in the years a reading can (``fleet.rows``): the
    quarter hours of a day or a month around it then stay within the calendar."""
    return EARLIEST <= moment <= LATEST


class FleetView:
    def __init__(self, dsn: str, table: str, groups: Mapping[str, Sequence[str]],
                 tz: tzinfo) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"table = {table!r} is not a plain SQL name")
        self.dsn, self.table, self.tz = dsn, table, tz
        self.groups = {name: list(members) for name, members in groups.items()}
        self.where = f"PostgreSQL {hide_secrets(dsn)}"
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def meters(self, now: datetime) -> list[dict[str, Any]]:
        """Every meter the collectors have seen, newest first, with its last values."""
        rows = await self._fetch(f"SELECT meter, time, \"values\" FROM {self.table}_latest "
                                 "ORDER BY time DESC, meter")
        return [{"meter": meter, "time": time.astimezone(self.tz).isoformat(),
                 "age_seconds": round((now - time).total_seconds(), 1),
                 "groups": [g for g, members in self.groups.items() if meter in members],
                 "values": values} for meter, time, values in rows]

    async def quarters(self, meters: Sequence[str], since: datetime,
                       until: datetime) -> dict[str, dict[datetime, tuple[float, float]]]:
        """Per meter, the import and export Wh of each quarter hour in [since, until): the
        counter's first value in the next quarter hour minus its first value in this one."""
        rows = await self._fetch(
            f"SELECT meter, name, start, first FROM {self.table}_quarters "
            "WHERE meter = ANY(%s) AND name = ANY(%s) AND start >= %s AND start <= %s "
            "ORDER BY meter, name, start DESC",
            (list(meters), list(COUNTERS), since, until))
        found: dict[str, dict[datetime, list[float]]] = {}
        following: tuple[str, str, datetime, float] | None = None
        for meter, name, start, first in rows:  # each quarter hour after the one following
            if (following is not None and following[:2] == (meter, name)
                    and following[2] - start == _QUARTER and start < until):
                quarter = found.setdefault(meter, {}).setdefault(start, [0.0, 0.0])
                quarter[0 if name == IMPORT else 1] = max(0.0, following[3] - first)
            following = (meter, name, start, first)
        return {meter: {start: (wh[0], wh[1]) for start, wh in sorted(quarters.items())}
                for meter, quarters in found.items()}

    async def group(self, name: str, since: datetime, until: datetime) -> dict[str, Any]:
        """A group's import, export and self-supplied share per quarter hour."""
        members = self.groups[name]
        per_meter = await self.quarters(members, since, until)
        totals: dict[datetime, list[float]] = {}
        for quarters in per_meter.values():
            for start, (taken, given) in quarters.items():
                total = totals.setdefault(start, [0.0, 0.0, 0])
                total[0] += taken
                total[1] += given
                total[2] += 1
        rows = []
        all_taken = all_given = covered = 0.0  # covered: quarter hour by quarter hour
        for start in sorted(totals):
            taken, given, reporting = totals[start]
            all_taken, all_given = all_taken + taken, all_given + given
            covered += min(taken, given)
            rows.append({
                "start": start.astimezone(self.tz).isoformat(),
                "import_wh": round(taken, 3), "export_wh": round(given, 3),
                "self_supplied_share": round(min(taken, given) / taken, 4) if taken else None,
                "members_reporting": int(reporting)})
        return {"group": name, "members": len(members), "from": since.isoformat(),
                "to": until.isoformat(), "import_wh": round(all_taken, 3),
                "export_wh": round(all_given, 3),
                "self_supplied_share": round(covered / all_taken, 4) if all_taken else None,
                "quarters": rows}

    async def month_csv(self, meters: Sequence[str], month: str) -> str:
        """The quarter hours of a month, one line per meter and quarter hour: the 15-minute
        import and export in kWh that a community checks its allocation against."""
        since, until = month_bounds(month, self.tz)
        per_meter = await self.quarters(meters, since, until)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["meter", "start", "end", "import_kwh", "export_kwh"])
        for meter in meters:
            for start, (taken, given) in sorted(per_meter.get(meter, {}).items()):
                writer.writerow([meter, start.astimezone(self.tz).isoformat(),
                                 (start + _QUARTER).astimezone(self.tz).isoformat(),
                                 f"{taken / 1000:.4f}", f"{given / 1000:.4f}"])
        return out.getvalue()

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):  # a connection the server dropped is made again once
            connection = await self._connect()
            try:
                cursor = await connection.execute(sql, args)
                rows = await cursor.fetchall()
                await connection.rollback()  # read only: end the snapshot
                return rows
            except psycopg.errors.UndefinedTable:
                await connection.rollback()
                return []  # no collector has made the tables yet: nothing collected
            except psycopg.OperationalError as exc:
                await self.close()
                if attempt == 2:
                    raise StoreUnavailable(f"{self.where}: {reason(exc, self.dsn)}") from None
        raise AssertionError("unreachable")

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            self._connection = await psycopg.AsyncConnection.connect(
                self.dsn, connect_timeout=_TIMEOUT, options="-c timezone=UTC")
        except psycopg.Error as exc:
            raise StoreUnavailable(f"{self.where}: {reason(exc, self.dsn)}") from None
        return self._connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()
