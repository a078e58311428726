"""The household's questions: energy per period from counter differences, gaps included,
periods in local time across DST, the self-supplied share and the highest quarter hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.history.summary import EXPORT, IMPORT, peaks, period_bounds, summary

VIENNA = ZoneInfo("Europe/Vienna")
METER = "1KFM0200014196"


def quarters(store: HistoryStore, start: datetime, draws: list[tuple[float, float]],
             skip: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """15-minute rows for the import and export counters: each quarter draws (import Wh,
    export Wh); the counters start at 1,000,000 and 5,000 Wh. ``skip``: quarters the service
    was down (no row, the counters move on)."""
    rows = []
    counters = [1_000_000.0, 5_000.0]
    for i, draw in enumerate(draws):
        begin = int(start.timestamp()) + 900 * i
        firsts = list(counters)
        counters = [counters[0] + draw[0], counters[1] + draw[1]]
        if i in skip:
            continue
        for obis, name, before, last in ((IMPORT, "active_energy_import", firsts[0], counters[0]),
                                         (EXPORT, "active_energy_export", firsts[1], counters[1])):
            # the first reading of a quarter comes a few seconds in: 1/90 of its energy on
            first = before + (last - before) / 90
            rows.append((900, begin, METER, obis, name, "Wh", 90, 90 * last, first, last,
                         first, last))
    store.add_aggregates(rows, [(METER, IMPORT, "active_energy_import", "Wh"),
                                (METER, EXPORT, "active_energy_export", "Wh")])


@pytest.fixture()
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "h.sqlite")


def test_periods_follow_local_midnight_across_dst() -> None:
    now = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)  # the day after the spring change
    bounds = period_bounds(now, VIENNA)
    start, end = bounds["yesterday"]
    assert end.timestamp() - start.timestamp() == 23 * 3600  # (same-zone datetimes
    # subtract as wall clocks: the hours that really passed come from the timestamps)
    assert start.isoformat() == "2026-03-29T00:00:00+01:00"
    assert end.isoformat() == "2026-03-30T00:00:00+02:00"
    october = period_bounds(datetime(2026, 10, 26, 9, 0, tzinfo=UTC), VIENNA)["yesterday"]
    assert october[1].timestamp() - october[0].timestamp() == 25 * 3600
    assert bounds["last_month"][0].isoformat() == "2026-02-01T00:00:00+01:00"
    assert bounds["this_year"][0].isoformat() == "2026-01-01T00:00:00+01:00"


def test_energy_from_counters_with_a_gap_and_the_peak(store: HistoryStore) -> None:
    # 2026-03-29 (23 hours) 00:00 local to 2026-03-30 06:00 local: 30 h of quarter hours
    start = datetime(2026, 3, 29, 0, 0, tzinfo=VIENNA)
    n = (23 + 6) * 4
    draws = [(100.0, 0.0)] * n
    draws[40] = (800.0, 0.0)  # 3200 W for a quarter hour: the day's peak
    for i in range(44, 52):  # midday PV: export exceeds import for two hours
        draws[i] = (10.0, 300.0)
    skip = set(range(60, 64))  # the service was down an hour; the counters moved on
    draws[60:64] = [(2000.0, 0.0)] * 4  # 8000 W in the gap: not a measured peak
    quarters(store, start, draws, skip)
    now = datetime(2026, 3, 30, 6, 0, tzinfo=VIENNA)
    result = summary(store, now, VIENNA)
    assert result["meter"] == METER
    day = result["periods"]["yesterday"]
    expected = sum(d[0] for d in draws[: 23 * 4])
    # the very first quarter has no row before it: only the part seen (89/90 of it) counts
    assert day["import_wh"] == pytest.approx(expected - 100 / 90, abs=0.01)
    assert day["export_wh"] == pytest.approx(sum(d[1] for d in draws[: 23 * 4]), abs=0.01)
    assert day["net_wh"] == pytest.approx(day["import_wh"] - day["export_wh"], abs=0.01)
    assert day["peak"] == {"w": 3200, "at": "2026-03-29T11:00:00+02:00"}
    # the hour down: its 8000 Wh (and the first reading's few seconds after it) spread out
    assert day["estimated_wh"] == pytest.approx(8000 + 100 / 90, abs=0.01)
    assert day["self_supplied_share"] == pytest.approx(8 / (23 * 4 - 4), abs=1e-4)
    today = result["periods"]["today"]
    assert today["import_wh"] == pytest.approx(6 * 4 * 100, abs=0.01)
    assert result["periods"]["this_month"]["import_wh"] == pytest.approx(
        day["import_wh"] + today["import_wh"], abs=0.01)
    assert result["periods"]["last_month"]["import_wh"] is None


def test_gap_energy_is_spread_and_sums_to_the_counter_difference(store: HistoryStore) -> None:
    start = datetime(2026, 5, 1, 0, 0, tzinfo=VIENNA)
    draws = [(100.0, 0.0)] * 16
    draws[5:9] = [(400.0, 0.0)] * 4
    quarters(store, start, draws, skip={5, 6, 7})
    got = store.quarter_hours(IMPORT, start, start + timedelta(hours=4))
    assert [q.measured for q in got].count(False) == 3
    assert len(got) == 16
    # from the first reading to the last: the counter difference, to the watt-hour
    assert sum(q.wh for q in got) == pytest.approx(sum(d[0] for d in draws) - 100 / 90)
    assert max(q.wh for q in got if q.measured) < 400  # the quarter after the gap: seen part


def test_daily_and_monthly_peaks(store: HistoryStore) -> None:
    start = datetime(2026, 1, 30, 0, 0, tzinfo=VIENNA)
    draws = [(100.0, 0.0)] * (4 * 24 * 4)
    draws[10] = (500.0, 0.0)
    draws[4 * 24 * 3 + 7] = (900.0, 0.0)  # 2 February 01:45
    quarters(store, start, draws)
    days = peaks(store, "1d", start, start + timedelta(days=4), VIENNA)
    assert [d["start"][:10] for d in days] == ["2026-01-30", "2026-01-31", "2026-02-01",
                                                "2026-02-02"]
    assert days[0]["w"] == 2000 and days[3] == {"start": "2026-02-02T00:00:00+01:00",
                                                 "w": 3600, "at": "2026-02-02T01:45:00+01:00"}
    months = peaks(store, "1mo", start, start + timedelta(days=4), VIENNA)
    assert [(m["start"][:7], m["w"]) for m in months] == [("2026-01", 2000), ("2026-02", 3600)]
    with pytest.raises(ValueError, match="per day"):
        peaks(store, "1h", start, start, VIENNA)


def test_an_empty_history_has_nothing_to_sum(store: HistoryStore) -> None:
    result = summary(store, datetime(2026, 5, 1, tzinfo=UTC), VIENNA)
    assert result["meter"] is None
    assert result["periods"]["today"]["import_wh"] is None
