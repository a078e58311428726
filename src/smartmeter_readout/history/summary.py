"""What a household asks of its history: the energy of today, yesterday, this month, last
month and this year; what went out; the net; how often its own generation covered it; the
highest quarter hour (the monthly 15-minute peak is what Austrian grid fees move to); and,
with a tariff, what it cost (``history.costs``).

Everything comes from the counters' quarter hours (``HistoryQuery.quarter_hours``): counter
differences, as the operator bills, never integrated power. Periods start at midnight in the
meter's time zone, so a day in March has 23 hours and one in October 25.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ..i18n import _
from .costs import period_cost
from .query import EXPORT, IMPORT, HistoryQuery, QuarterHour

__all__ = ["EXPORT", "IMPORT", "PERIODS", "peaks", "period_bounds", "read_summary", "summary"]

PERIODS = ("today", "yesterday", "this_month", "last_month", "this_year")
_MONTHLY = {"this_month", "last_month", "this_year"}  # their months' peak fees are in them
_QUARTER = 900


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_bounds(now: datetime, tz: tzinfo) -> dict[str, tuple[datetime, datetime]]:
    """Start and end of each period in local time; the running ones end now."""
    today = now.astimezone(tz).date()
    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    return {
        "today": (_midnight(today, tz), now),
        "yesterday": (_midnight(today - timedelta(days=1), tz), _midnight(today, tz)),
        "this_month": (_midnight(month, tz), now),
        "last_month": (_midnight(last_month, tz), _midnight(month, tz)),
        "this_year": (_midnight(today.replace(month=1, day=1), tz), now),
    }


def summary(query: HistoryQuery, now: datetime, tz: tzinfo,
            meter: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Import, export, net, self-supplied share and peak for every period of ``PERIODS``.

    ``meter``: one meter (default: the one read last), or several taken together (a
    building): their quarter hours added up, so the peak and the self-supplied share are the
    building's, and each one's cost added up."""
    if meter is not None and not isinstance(meter, str):
        return _together(query, now, tz, list(meter))
    bounds = period_bounds(now, tz)
    since = min(start for start, _ in bounds.values())
    meter = meter or next(iter(query.meters()), None)
    taken = query.quarter_hours(IMPORT, since, now, meter) if meter else []
    given = query.quarter_hours(EXPORT, since, now, meter) if meter else []
    return {"meter": meter, "time_zone": str(tz),
            "periods": _periods(query, bounds, taken, given, tz, [meter] if meter else [])}


def _together(query: HistoryQuery, now: datetime, tz: tzinfo,
              meters: list[str]) -> dict[str, Any]:
    bounds = period_bounds(now, tz)
    since = min(start for start, _ in bounds.values())
    taken = _added([query.quarter_hours(IMPORT, since, now, m) for m in meters])
    given = _added([query.quarter_hours(EXPORT, since, now, m) for m in meters])
    return {"meter": None, "meters": meters, "time_zone": str(tz),
            "periods": _periods(query, bounds, taken, given, tz, meters)}


def _added(per_meter: list[list[QuarterHour]]) -> list[QuarterHour]:
    """Quarter hours of several meters as one: energy added, measured and whole where all
    were."""
    total: dict[int, tuple[float, bool, bool]] = {}
    for quarters in per_meter:
        for quarter in quarters:
            wh, measured, whole = total.get(quarter.start, (0.0, True, True))
            total[quarter.start] = (wh + quarter.wh, measured and quarter.measured,
                                    whole and quarter.whole)
    return [QuarterHour(start, *values) for start, values in sorted(total.items())]


def _periods(query: HistoryQuery, bounds: Mapping[str, tuple[datetime, datetime]],
             taken: list[QuarterHour], given: list[QuarterHour], tz: tzinfo,
             meters: list[str]) -> dict[str, Any]:
    exports = any(quarter.wh > 0 for quarter in given)
    periods = {}
    for name, (start, end) in bounds.items():
        low, high = start.timestamp(), end.timestamp()
        mine = [q for q in taken if low <= q.start < high]
        out = [q for q in given if low <= q.start < high]
        imported = sum(q.wh for q in mine)
        exported = sum(q.wh for q in out)
        periods[name] = {
            "start": start.isoformat(), "end": end.isoformat(),
            "import_wh": _round(imported) if mine else None,
            "export_wh": _round(exported) if out else None,
            "net_wh": _round(imported - exported) if mine else None,
            "self_supplied_share": _self_supplied(mine, out) if exports else None,
            "peak": _peak(mine, tz),
            "estimated_wh": _round(sum(q.wh for q in mine if not q.measured)),
            "cost": _cost(query, meters, start, end, tz, monthly=name in _MONTHLY),
        }
    return periods


def _cost(query: HistoryQuery, meters: list[str], start: datetime, end: datetime,
          tz: tzinfo, monthly: bool) -> dict[str, Any] | None:
    """One meter's cost, or the sum of several meters' (each is billed on its own)."""
    costs = [period_cost(query, meter, start, end, tz, monthly=monthly) for meter in meters]
    found = [cost for cost in costs if cost]
    if len(found) <= 1:
        return found[0] if found else None
    total = dict(found[0])
    for cost in found[1:]:
        for key, value in cost.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and \
                    isinstance(total.get(key), int | float):
                total[key] = round(total[key] + value, 6)
    return total


def read_summary(path: Path, tz: tzinfo, meter: str | Sequence[str] | None = None,
                 ) -> dict[str, Any] | None:
    """The summary of now from the database at ``path`` (None while there is none yet), for
    outputs that publish it (MQTT, /metrics) beside the running service."""
    if not path.is_file():
        return None
    query = HistoryQuery(path)
    try:
        return summary(query, datetime.now(tz), tz, meter)
    finally:
        query.close()


def peaks(query: HistoryQuery, step: str, since: datetime, until: datetime, tz: tzinfo,
          meter: str | None = None) -> list[dict[str, Any]]:
    """The highest quarter hour of import in each day (``1d``) or month (``1mo``)."""
    if step not in ("1d", "1mo"):
        raise ValueError(_("step {step!r}: peaks are per day (1d) or month (1mo)", step=step))
    meter = meter or next(iter(query.meters()), None)
    quarters = query.quarter_hours(IMPORT, since, until, meter) if meter else []
    grouped: dict[date, list[QuarterHour]] = {}
    for quarter in quarters:
        day = datetime.fromtimestamp(quarter.start, tz).date()
        grouped.setdefault(day.replace(day=1) if step == "1mo" else day, []).append(quarter)
    rows = []
    for first_day, group in sorted(grouped.items()):
        peak = _peak(group, tz)
        if peak is not None:
            rows.append({"start": _midnight(first_day, tz).isoformat(), **peak})
    return rows


def _peak(quarters: Sequence[QuarterHour], tz: tzinfo) -> dict[str, Any] | None:
    """The measured quarter hour with the most import, as its average power (a gap's
    spread-out energy is no peak anyone drew, nor is a quarter hour seen only in part)."""
    measured = [q for q in quarters if q.measured and q.whole]
    if not measured:
        return None
    top = max(measured, key=lambda q: q.wh)
    return {"w": _round(top.wh * 3600 / _QUARTER),
            "at": datetime.fromtimestamp(top.start, tz).isoformat()}


def _self_supplied(taken: Sequence[QuarterHour], given: Sequence[QuarterHour]) -> float | None:
    """Share of the measured quarter hours in which the household drew nothing from the grid
    on balance: its own generation covered its use (energy communities settle the same way,
    by quarter hour)."""
    out = {q.start: q.wh for q in given if q.measured}
    both = [q for q in taken if q.measured and q.start in out]
    if not both:
        return None
    covered = sum(1 for q in both if out[q.start] >= q.wh)
    return round(covered / len(both), 4)


def _round(number: float) -> float | int:
    rounded = round(number, 3)
    return int(rounded) if rounded == int(rounded) else rounded
