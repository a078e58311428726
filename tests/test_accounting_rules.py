"""Money and energy that add up, by rule (README "How the history accounts"): quarter hours
to days, days to months, months to the year, in the summary, the API's functions and the
``history`` command alike; fees by day and the peak fee by month; partial quarter hours never
the peak; a counter that goes back starts a new series and costs nothing.

Fixed cases first (what a new user found), then properties on random histories with gaps,
counter drops, DST days, partial first and last months and a tariff change."""

from __future__ import annotations

import calendar
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from livekit import CLI, ENV, until
from smartmeter_readout.cli.main import main
from smartmeter_readout.errors import ConfigError
from smartmeter_readout.history.costs import CostLedger, cost_intervals
from smartmeter_readout.history.query import EXPORT, IMPORT, QuarterHour
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.history.summary import peaks, period_bounds, summary
from smartmeter_readout.history.tariff import Tariff, TariffError
from smartmeter_readout.reading import Measurement, MeterIdentity, Reading
from smartmeter_readout.service.config import load_config
from webkit import served

VIENNA = ZoneInfo("Europe/Vienna")
METER = "1KFM0200014196"
Q = 900


def reading(moment: datetime, imported: float, exported: float | None = None) -> Reading:
    values = {IMPORT: Measurement("active_energy_import", imported, "Wh")}
    if exported is not None:
        values[EXPORT] = Measurement("active_energy_export", exported, "Wh")
    return Reading(time=moment, received=moment, meter=MeterIdentity(id=METER),
                   frame_counter=None, values=values)


def steady(start: datetime, end: datetime, every: int, watts: float,
           counter: float = 1_000_000.0) -> list[Reading]:
    """Readings every ``every`` seconds of a house drawing ``watts``."""
    found, moment = [], start
    while moment < end:
        found.append(reading(moment, counter))
        counter += watts * every / 3600
        moment += timedelta(seconds=every)
    return found


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore(tmp_path / "h.sqlite")
    yield opened
    opened.close()


# ---- what the new user found -----------------------------------------------------------------

def test_fees_fall_by_day_and_the_peak_fee_belongs_to_the_month(store: HistoryStore) -> None:
    """History from 17 October 09:07, 380 W with one 2 kW quarter hour on 5 November;
    base fee 6.20 a month, peak price 2.00 per kW."""
    start = datetime(2026, 10, 17, 9, 7, tzinfo=VIENNA)
    end = datetime(2026, 12, 1, tzinfo=VIENNA)
    readings = steady(start, end, 60, 380.0)
    peak_at = datetime(2026, 11, 5, 18, 0, tzinfo=VIENNA)
    boosted, extra = [], 0.0
    for one in readings:  # 2,000 W instead of 380 W from 18:00 to 18:15 on 5 November
        assert one.time is not None
        if peak_at <= one.time < peak_at + timedelta(minutes=15):
            extra += (2000 - 380) / 60
        boosted.append(reading(one.time, one.values[IMPORT].value + extra))  # type: ignore[operator]
    store.write(boosted)
    tariff = Tariff(energy_price=0.20, base_fee=6.20, peak_price=2.0)
    CostLedger(tariff, VIENNA).settle(store, end)
    november = datetime(2026, 11, 1, tzinfo=VIENNA)
    days = cost_intervals(store, "1d", november, end, VIENNA)
    [month] = cost_intervals(store, "1mo", november, end, VIENNA)
    assert len(days) == 30
    # the 1st carries its day's base fee only, as every other day
    assert days[0]["fees"] == days[1]["fees"] == pytest.approx(6.20 / 30, abs=1e-6)
    assert all(day["peak_fee"] == 0 for day in days)
    assert month["peak_fee"] == pytest.approx(2.0 * 2.0, abs=1e-6)  # 2 kW x 2.00, all days
    # the days add up to the month, its peak fee aside (each kept to a millionth)
    assert sum(day["total"] for day in days) + month["peak_fee"] == pytest.approx(
        month["total"], abs=1e-6 * (len(days) + 1))
    # the first month, covered from the 17th: 15 of its 31 days, both fees pro rata
    [october] = cost_intervals(store, "1mo", datetime(2026, 10, 1, tzinfo=VIENNA),
                               november, VIENNA)
    assert october["base_fee"] == pytest.approx(6.20 * 15 / 31, abs=1e-6)
    assert october["peak_fee"] == pytest.approx(2.0 * 0.380 * 15 / 31, abs=1e-6)
    # the partial first quarter hour (09:07 to 09:15) is no peak
    first_day = peaks(store, "1d", start, start + timedelta(days=1), VIENNA)[0]
    assert first_day["at"] != "2026-10-17T09:00:00+02:00" and first_day["w"] == 380
    early = summary(store, datetime(2026, 10, 17, 9, 14, tzinfo=VIENNA), VIENNA)
    assert early["periods"]["today"]["peak"] is None
    assert early["periods"]["today"]["import_wh"] > 0


def test_a_counter_that_goes_back_starts_a_new_series(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    start = datetime(2026, 5, 4, 8, 0, tzinfo=VIENNA)
    before = steady(start, start + timedelta(hours=1), 10, 1200.0)
    # the simulated meter restarted: its counter is 8 Wh lower and goes on from there
    after = steady(start + timedelta(hours=1), start + timedelta(hours=2), 10, 1200.0,
                   counter=before[-1].values[IMPORT].value - 8)  # type: ignore[operator]
    store = HistoryStore(path)
    assert store.write(before) == []
    [reset] = store.write(after)
    assert (reset.obis, reset.name, reset.after) == (IMPORT, "active_energy_import",
                                                     before[-1].values[IMPORT].value - 8)
    store.close()
    store = HistoryStore(path)  # a restart reports nothing again
    later = steady(start + timedelta(hours=2), start + timedelta(hours=3), 10, 1200.0,
                   counter=after[-1].values[IMPORT].value + 4)  # type: ignore[operator]
    assert store.write(later) == []
    assert len(store.counter_resets()) == 1
    quarters = store.quarter_hours(IMPORT, start, start + timedelta(hours=3))
    assert all(q.wh >= 0 for q in quarters)
    # the 10 s across the drop count nothing; the rest is the 1,200 W the house drew in the
    # 3 x 359 steps of 10 s, and the 4 Wh the counter rose across the restart of the store
    assert sum(q.wh for q in quarters) == pytest.approx(3 * 359 * 1200 * 10 / 3600 + 4)
    today = summary(store, start + timedelta(hours=3), VIENNA)["periods"]["today"]
    assert today["import_wh"] > 0
    hours = store.intervals("1h", start, start + timedelta(hours=3), VIENNA)
    assert all(h["values"][IMPORT]["delta"] >= 0 for h in hours)
    CostLedger(Tariff(energy_price=0.25), VIENNA).settle(store, start + timedelta(hours=3))
    costs = cost_intervals(store, "15m", start, start + timedelta(hours=3), VIENNA)
    assert min(q["cost"] for q in costs) >= 0
    assert sum(q["cost"] for q in costs) == pytest.approx(sum(q.wh for q in quarters) / 4000,
                                                          abs=1e-6 * len(costs))
    store.close()


def test_a_meter_replaced_while_the_service_was_down_guesses_nothing(
        store: HistoryStore) -> None:
    start = datetime(2026, 5, 4, 8, 0, tzinfo=VIENNA)
    store.write(steady(start, start + timedelta(hours=1), 30, 800.0, counter=7_500_000.0))
    back = start + timedelta(hours=3)  # two hours down; the new meter counts from 12 Wh
    store.write(steady(back, back + timedelta(hours=1), 30, 800.0, counter=12.0))
    quarters = store.quarter_hours(IMPORT, start, back + timedelta(hours=1))
    gap = [q for q in quarters if not q.measured]
    assert len(gap) == 8 and all(q.wh == 0 for q in gap)
    assert all(q.wh >= 0 for q in quarters) and len(store.counter_resets()) == 1


def test_history_costs_says_why_it_shows_nothing_yet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    now = datetime.now(VIENNA)
    store.write(steady(now - timedelta(seconds=60), now, 10, 500.0))
    store.close()
    config = tmp_path / "c.toml"
    config.write_text("[tariff]\nenergy_price = 0.25\n")
    code = main(["history", "--sqlite", str(path), "--config", str(config), "--costs",
                 "--since", "-1h"])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert "is settled yet: a quarter hour's cost is settled once it has ended" in err
    assert len(err.strip().splitlines()) == 1


def test_the_hourly_table_heads_the_energy_of_the_hour(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    start = datetime(2026, 5, 4, 8, 0, tzinfo=VIENNA)
    store.write(steady(start, start + timedelta(hours=2), 60, 600.0))
    store.close()
    german = {**ENV, "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "de_AT.UTF-8"}
    done = subprocess.run([*CLI, "history", "--sqlite", str(path), "--step", "1h", "--since",
                           "2026-05-04", "--until", "2026-05-05", "--columns",
                           "active_energy_import,active_energy_import:last"],
                          capture_output=True, text=True, env=german, timeout=60, check=True)
    head = done.stdout.splitlines()[0]
    assert "Bezug kWh" in head and head.count("Zählerstand") == 1  # the :last column only
    assert done.stdout.splitlines()[2].split()[2] == "0,600"  # a German table: decimal comma


def test_a_decimal_comma_gets_the_hint_to_write_a_point(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    for text in ('energy_price = "0,25"', "energy_price = 0,25"):
        config.write_text(f"[tariff]\n{text}\n")
        with pytest.raises(ConfigError, match=r"write 0\.25 \(a decimal point"):
            load_config(config)
    config.write_text("[tariff]\nenergy_price = 0.25\n")
    with pytest.raises(ConfigError, match=r"is not a number: write 0\.25"):
        load_config(config, env={"SMARTMETER_TARIFF_GRID_PRICE": "0,25"})
    with pytest.raises(TariffError, match=r"is not a number \(per kWh\): write 0\.18"):
        Tariff.from_config({"time_of_use": [{"days": "Sa,So", "price": "0,18"}]})


def test_a_restarted_meter_shows_once_in_the_status_and_the_log(tmp_path: Path) -> None:
    """The demo's simulated meter starts from the same counter each time: run it twice on
    one database and its second start is a counter that went back."""
    path = tmp_path / "h.sqlite"
    args = ("demo", "--sqlite", str(path), "--interval", "0.1", "--console", "none")
    with served(*args) as first:
        first.wait_readings(1)
        begun = _import_wh(first)
        # the counter counts whole Wh: at the household's night load (some 200 W) it takes
        # up to 18 s to rise, at its evening peak 3 s (it once stayed put for 20 readings)
        until(lambda: _import_wh(first) > begun, "the import counter to rise", timeout=90)
        _, status = first.get("/api/v1/status")
        assert status["counter_resets"] == []
    with served(*args) as second:
        second.wait_readings(3)
        _, status = second.get("/api/v1/status")
        resets = status["counter_resets"]
        _, today = second.get("/api/v1/summary")
        second.process.terminate()
        _, log = second.process.communicate(timeout=20)
    assert resets, "the restarted meter's counters went back"
    for reset in resets:
        assert set(reset) == {"meter", "code", "name", "time", "before", "after"}
        assert reset["meter"] == METER and reset["before"] > reset["after"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d",
                            reset["time"])
    assert len(re.findall("went back from", log)) == len(resets)
    assert today["periods"]["today"]["import_wh"] >= 0


def _import_wh(server: Any) -> float:
    _, reading = server.get("/api/v1/reading")
    return float(reading["values"]["1.0.1.8.0.255"]["value"])


# ---- properties on random histories ----------------------------------------------------------

# days that hold a DST change or a month's end within the next few days
STARTS = [datetime(2026, 3, 27), datetime(2026, 10, 23), datetime(2026, 1, 29),
          datetime(2026, 6, 28), datetime(2026, 9, 30)]


@dataclass(repr=False)
class History:
    readings: list[Reading] = field(default_factory=list)
    energy: float = 0.0  # what the house drew between the readings, drops excluded
    drops: int = 0
    partial: set[int] = field(default_factory=set)  # quarter hours seen only in part

    def __repr__(self) -> str:  # what a failing example shows: not every reading
        first, last = self.readings[0].time, self.readings[-1].time
        return f"History({len(self.readings)} readings {first} to {last}, {self.drops} drops)"


@st.composite
def histories(draw: st.DrawFn) -> tuple[History, datetime, datetime]:
    base = draw(st.sampled_from(STARTS))
    start = base.replace(tzinfo=VIENNA) + timedelta(minutes=draw(st.integers(0, 48 * 60)))
    days = draw(st.integers(2, 5))
    every = draw(st.sampled_from([60, 120, 300]))
    hours = days * 24 + 2
    watts = draw(st.lists(st.floats(0, 4000), min_size=hours, max_size=hours))
    pv = draw(st.lists(st.floats(0, 3000), min_size=hours, max_size=hours))
    gaps = draw(st.lists(st.tuples(st.integers(0, hours * 3600), st.integers(1, 6 * 3600)),
                         max_size=3))
    drops = set(draw(st.lists(st.integers(1, hours * 3600 // every), max_size=3)))
    history = History()
    counter, export = 5_000_000.0, 20_000.0
    moment, end = start, start + timedelta(days=days)
    index, last_quarter = 0, None
    while moment < end:
        offset = (moment - start).total_seconds()
        down = any(g <= offset < g + length for g, length in gaps)
        hour = int(offset // 3600)
        if not down:
            quarter = int(moment.timestamp()) // Q * Q
            if last_quarter is None:
                history.partial.add(quarter)
            elif quarter - last_quarter > Q:  # cut by a gap: the quarters on either side
                history.partial |= {last_quarter, quarter}
            if index in drops and history.readings:
                counter = float(int(counter * draw(st.floats(0, 0.99))))
                history.drops += 1
                history.partial.add(quarter)
            elif history.readings:
                history.energy += round(counter, 3) - history.readings[-1].values[
                    IMPORT].value  # type: ignore[operator]
            history.readings.append(reading(moment, round(counter, 3), round(export, 3)))
            last_quarter = quarter
        index += 1
        counter += watts[hour] * every / 3600
        export += pv[hour] * every / 3600
        moment += timedelta(seconds=every)
    if not history.readings:
        history.readings.append(reading(start, counter, export))
    return history, start, history.readings[-1].time + timedelta(seconds=1)  # type: ignore[operator]


def _local_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    day, spans = start.astimezone(VIENNA).date(), []
    while (low := datetime(day.year, day.month, day.day, tzinfo=VIENNA)) < end:
        day += timedelta(days=1)
        spans.append((low, datetime(day.year, day.month, day.day, tzinfo=VIENNA)))
    return spans


def _sum(quarters: list[QuarterHour], low: datetime, high: datetime) -> float:
    return sum(q.wh for q in quarters if low.timestamp() <= q.start < high.timestamp())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(histories(), st.floats(0.05, 0.4), st.floats(0.05, 0.4), st.floats(0, 20),
       st.floats(0, 5), st.floats(0.1, 0.9))
def test_everything_adds_up_on_random_histories(
        case: tuple[History, datetime, datetime], price_a: float, price_b: float,
        base_fee: float, peak_price: float, change_at: float) -> None:
    history, start, end = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.sqlite"
        store = HistoryStore(path)
        try:
            reported = sum(len(store.write(history.readings[i:i + 500]))
                           for i in range(0, len(history.readings), 500))
            _check_energy(store, history, start, end, reported)
            change = start + (end - start) * change_at
            first = CostLedger(Tariff(energy_price=price_a, base_fee=base_fee,
                                      peak_price=peak_price, feed_in_price=0.07), VIENNA)
            first.settle(store, change)
            CostLedger(Tariff(energy_price=price_b, base_fee=base_fee * 2,
                              peak_price=peak_price * 2, feed_in_price=0.07),
                       VIENNA).settle(store, end)
            _check_costs(store, history, start, end, path)
        finally:
            store.close()


def _check_energy(store: HistoryStore, history: History, start: datetime, end: datetime,
                  reported: int) -> None:
    quarters = store.quarter_hours(IMPORT, start - timedelta(days=1), end)
    assert reported == history.drops == len(store.counter_resets(100))
    assert all(q.wh >= -1e-6 for q in quarters)  # never negative, whatever the counter did
    assert sum(q.wh for q in quarters) == pytest.approx(history.energy, abs=1e-3)
    whole = {q.start for q in quarters if q.whole}
    assert not whole & history.partial  # cut quarters are known as such
    for low, high in _local_days(start, end):
        day = store.intervals("1d", low, high, VIENNA, obis=[IMPORT])
        fifteen = store.intervals("15m", low, high, VIENNA, obis=[IMPORT])
        hours = store.intervals("1h", low, high, VIENNA, obis=[IMPORT])
        expected = _sum(quarters, low, high)
        for rows in (day, fifteen, hours):
            got = sum(row["values"][IMPORT]["delta"] for row in rows)
            assert got == pytest.approx(expected, abs=1e-3 * max(1, len(rows)))
            assert all(row["values"][IMPORT]["delta"] >= -1e-6 for row in rows)
        for found in peaks(store, "1d", low, high, VIENNA):
            at = datetime.fromisoformat(found["at"]).timestamp()
            assert at in whole and at not in history.partial
    months = store.intervals("1mo", start - timedelta(days=40), end, VIENNA, obis=[IMPORT])
    assert sum(m["values"][IMPORT]["delta"] for m in months) == pytest.approx(
        sum(q.wh for q in quarters), abs=1e-2)
    result = summary(store, end, VIENNA)
    for name, (low, high) in period_bounds(end, VIENNA).items():
        period = result["periods"][name]
        inside = [q for q in quarters if low.timestamp() <= q.start < high.timestamp()]
        if not inside:
            continue
        assert period["import_wh"] == pytest.approx(_sum(quarters, low, high), abs=2e-3)
        if period["peak"] is not None:
            at = datetime.fromisoformat(period["peak"]["at"]).timestamp()
            assert at not in history.partial


def _check_costs(store: HistoryStore, history: History, start: datetime, end: datetime,
                 path: Path) -> None:
    since = start.astimezone(VIENNA).replace(day=1, hour=0, minute=0)
    months = cost_intervals(store, "1mo", since, end, VIENNA)
    quarters = cost_intervals(store, "15m", since, end, VIENNA)
    assert all(q["cost"] >= 0 and q["feed_in"] >= 0 for q in quarters)
    for month in months:
        low = datetime.fromisoformat(month["start"])
        high = min(_next_month(low), end)
        days = cost_intervals(store, "1d", low, high, VIENNA)
        assert all(day["peak_fee"] == 0 for day in days)
        assert sum(d["total"] for d in days) + month["peak_fee"] == pytest.approx(
            month["total"], abs=1e-5 * (len(days) + 1))
        assert sum(d["base_fee"] for d in days) == pytest.approx(month["base_fee"], abs=1e-5)
        length = calendar.monthrange(low.year, low.month)[1]
        covered = {datetime.fromisoformat(q["start"]).date() for q in quarters
                   if low <= datetime.fromisoformat(q["start"]) < high}
        fees = store.cost_months(METER)[int(low.timestamp())]
        assert month["base_fee"] == pytest.approx(fees[1] * len(covered) / length, abs=1e-5)
        for day in days:
            day_low = datetime.fromisoformat(day["start"])
            inside = [q for q in quarters
                      if day_low <= datetime.fromisoformat(q["start"]) < day_low + timedelta(
                          hours=26) and datetime.fromisoformat(q["start"]).date()
                      == day_low.date()]
            assert sum(q["cost"] - q["feed_in"] for q in inside) + day["base_fee"] == \
                pytest.approx(day["total"], abs=1e-5 * (len(inside) + 1))
    year = summary(store, end, VIENNA)["periods"]["this_year"]["cost"]
    this_year = [m for m in months if m["start"][:4] == str(end.astimezone(VIENNA).year)]
    if year is not None:
        assert sum(m["total"] for m in this_year) == pytest.approx(year["total"], abs=1e-4)
    # the command line gives the same numbers for the same database
    cli = _cli_json(path, "--costs", "--step", "1mo", "--since", since.isoformat(),
                    "--until", end.isoformat())
    assert cli == json.loads(json.dumps(months))


def _next_month(moment: datetime) -> datetime:
    day = (moment.date().replace(day=1) + timedelta(days=32)).replace(day=1)
    return datetime(day.year, day.month, 1, tzinfo=VIENNA)


def _cli_json(path: Path, *args: str) -> Any:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["history", "--sqlite", str(path), "--format", "json", *args]) == 0
    return json.loads(out.getvalue())


def test_the_api_and_the_command_line_give_the_summary_the_functions_give(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One database read three ways: the function, ``history`` and the running service."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    now = datetime.now(VIENNA)
    start = now - timedelta(days=3, hours=5)
    store.write(steady(start, now - timedelta(minutes=20), 60, 700.0, counter=4_000_000.0))
    CostLedger(Tariff(energy_price=0.3, base_fee=9.0, peak_price=1.5), VIENNA).settle(
        store, now)
    config = tmp_path / "c.toml"
    config.write_text(f'[tariff]\nenergy_price = 0.3\nbase_fee = 9.0\npeak_price = 1.5\n'
                      f'[sqlite]\npath = "{path}"\n[source]\nsimulate = "vkw"\n'
                      '[meter]\nkey = "000102030405060708090A0B0C0D0E0F"\n')
    store.close()
    day = date.today().isoformat()
    with served("run", "--config", str(config)) as site:
        _, api_days = site.get(f"/api/v1/costs?step=1d&from=-5d&to={day}")
        _, api_summary = site.get("/api/v1/summary")
    cli_days = _cli_json(path, "--costs", "--since", "-5d", "--until", day)
    assert [d["total"] for d in cli_days] == [d["total"] for d in api_days["costs"]
                                              if d["start"] >= cli_days[0]["start"]][:len(
                                                  cli_days)]
    cli_summary = _cli_json(path, "--summary")
    assert cli_summary["periods"]["yesterday"] == api_summary["periods"]["yesterday"]
