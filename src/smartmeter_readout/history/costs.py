"""What the electricity cost and earned: each finished quarter hour settled once, with the
tariff and the spot price of its time, and kept (``costs`` in the history database), so a
price changed later does not rewrite the past unless asked (``history --recompute-cost``).

A quarter hour's cost is its import (kWh, from the counters: ``HistoryQuery.quarter_hours``)
times the energy price plus the grid price; its revenue is its export times the feed-in price.
A day adds its quarter hours and 1/(days of its month) of the month's base fee: the fee falls
by day, so the days of a month add up to it, and a month the history covers only in part pays
for the days it covers. The peak fee belongs to the month: the peak price times the month's
highest whole, measured quarter hour in kW, times the share of the month's days covered; it
shows in a month's figures (a month, this month, last month, the year), never on a day, so a
month is its days plus its peak fee. Money is kept unrounded (to a millionth) and rounded
only where it is shown. A dynamic tariff settles a quarter hour only once its spot price is
known.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from ..i18n import _
from .prices import Price, PriceSeries
from .query import EXPORT, IMPORT, HistoryQuery
from .store import HistoryStore
from .tariff import Tariff

__all__ = ["CostLedger", "cost_intervals", "period_cost"]

_QUARTER = 900


class CostLedger:
    """Settles the quarter hours that ended since the last time, for every meter."""

    def __init__(self, tariff: Tariff, tz: tzinfo) -> None:
        self.tariff, self.tz = tariff, tz

    def settle(self, store: HistoryStore, now: datetime) -> int:
        """Settle what can be; returns the number of quarter hours settled."""
        until = int(now.timestamp()) // _QUARTER * _QUARTER  # quarters that have ended
        settled = 0
        for meter in store.meters():
            last = store.last_costed(meter)
            since = datetime.fromtimestamp((last + _QUARTER) if last is not None else 0,
                                           self.tz)
            end = datetime.fromtimestamp(until, self.tz)
            if since >= end:
                continue
            taken = store.quarter_hours(IMPORT, since, end, meter)
            given = {q.start: q for q in store.quarter_hours(EXPORT, since, end, meter)}
            spot = PriceSeries(Price(*row) for row in store.prices(since.timestamp(), until)) \
                if self.tariff.needs_spot else None
            rows, months = [], {}
            for quarter in taken:
                local = datetime.fromtimestamp(quarter.start, self.tz)
                rates = self.tariff.rates(local, spot.at(quarter.start) if spot else None)
                out = given.get(quarter.start)
                exported = out.wh if out is not None else 0.0
                unpriced = (rates.energy is None and self.tariff.dynamic and quarter.wh) or (
                    rates.feed_in is None and exported)
                if unpriced:
                    break  # the spot price of this quarter hour is not known yet
                feed_in = rates.feed_in or 0.0
                cost = quarter.wh / 1000 * ((rates.energy or 0.0) + rates.grid)
                revenue = exported / 1000 * feed_in
                rows.append((meter, quarter.start, quarter.wh, exported, rates.energy,
                             rates.grid, rates.feed_in, cost, revenue, int(quarter.measured),
                             int(quarter.whole and quarter.measured)))
                month = _month_start(local.date(), self.tz)
                months[month] = (meter, month, self.tariff.currency, self.tariff.base_fee,
                                 self.tariff.peak_price)
            if rows:
                store.add_costs(rows, list(months.values()))
                settled += len(rows)
        return settled


def _month_start(day: date, tz: tzinfo) -> int:
    return int(datetime(day.year, day.month, 1, tzinfo=tz).timestamp())


def period_cost(query: HistoryQuery, meter: str, start: datetime, end: datetime,
                tz: tzinfo, *, monthly: bool = False) -> dict[str, Any] | None:
    """Energy cost, feed-in revenue, fees and the total of [start, end), from the settled
    quarter hours and the stored monthly charges; None when nothing was settled.

    Each day with a settled quarter hour carries its share of its month's base fee.
    ``monthly``: the period is made of months from their start (a month, the year): each
    month's peak fee is in it, as the month stood at ``end``."""
    rows = query.costs(meter, start.timestamp(), end.timestamp())
    months = query.cost_months(meter)
    if not rows or not months:
        return None
    energy = sum(row[3] for row in rows)
    revenue = sum(row[4] for row in rows)
    currency = next(iter(months.values()))[0]
    days: dict[int, set[date]] = {}  # month start -> its days with a settled quarter hour
    peaks: dict[int, float] = {}  # month start -> its highest whole quarter hour, Wh
    for row in rows:
        day = datetime.fromtimestamp(row[0], tz).date()
        month = _month_start(day, tz)
        days.setdefault(month, set()).add(day)
        if row[6]:
            peaks[month] = max(peaks.get(month, 0.0), row[1])
    base = peak = 0.0
    for month, covered in days.items():
        charges = months.get(month)
        if charges is None:
            continue
        _, base_fee, peak_price = charges
        first = next(iter(covered))
        share = len(covered) / calendar.monthrange(first.year, first.month)[1]
        base += base_fee * share
        if monthly:
            peak += peak_price * peaks.get(month, 0.0) * 4 / 1000 * share
    fees = base + peak
    return {"currency": currency, "energy": _money(energy), "feed_in": _money(revenue),
            "base_fee": _money(base), "peak_fee": _money(peak), "fees": _money(fees),
            "total": _money(energy + fees - revenue), "quarter_hours": len(rows)}


def _money(amount: float) -> float:
    """Money as kept: to a millionth (float noise away); rounded to cents only where shown."""
    return round(amount, 6) + 0.0


def cost_intervals(query: HistoryQuery, step: str, since: datetime, until: datetime,
                   tz: tzinfo, meter: str | None = None) -> list[dict[str, Any]]:
    """Cost per quarter hour (``15m``), day (``1d``) or month (``1mo``), local time."""
    if step not in ("15m", "1d", "1mo"):
        raise ValueError(_("step {step!r}: costs are per quarter hour (15m), day (1d) or "
                           "month (1mo)", step=step))
    meter = meter or next(iter(query.meters()), None)
    if meter is None:
        return []
    if step == "15m":
        return [{"start": datetime.fromtimestamp(start, tz).isoformat(),
                 "import_wh": round(taken, 3), "export_wh": round(given, 3),
                 "cost": _money(cost), "feed_in": _money(revenue),
                 "measured": bool(measured), "whole": bool(whole)}
                for start, taken, given, cost, revenue, measured, whole
                in query.costs(meter, since.timestamp(), until.timestamp())]
    rows: list[dict[str, Any]] = []
    day = since.astimezone(tz).date()
    if step == "1mo":
        day = day.replace(day=1)
    while True:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        if start >= until:
            return rows
        day = day + timedelta(days=1) if step == "1d" else (day + timedelta(days=32)).replace(
            day=1)
        end = min(datetime(day.year, day.month, day.day, tzinfo=tz), until)
        cost = period_cost(query, meter, start, end, tz, monthly=step == "1mo")
        if cost is not None:
            rows.append({"start": start.isoformat(), **cost})
