"""What electricity cost: tariffs (fixed, time of use, dynamic), spot prices in the formats
households get them, quarter hours settled once, and a test day checked by hand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smartmeter_readout.history.costs import CostLedger, period_cost
from smartmeter_readout.history.prices import PriceError, PriceSeries, fetch, parse_prices
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.history.summary import EXPORT, IMPORT
from smartmeter_readout.history.tariff import Tariff, TariffError

VIENNA = ZoneInfo("Europe/Vienna")
METER = "1KFM0200014196"
DAY = datetime(2026, 5, 4, tzinfo=VIENNA)  # a Monday in a 31-day month

# the published shapes (aWATTar: docs and other projects' fixtures; smartENERGY: the
# da-sa-li/HA-smartenergy-Tarif test fixture)
AWATTAR = {"object": "list", "data": [
    {"start_timestamp": 1561932000000, "end_timestamp": 1561935600000, "marketprice": 28.98,
     "unit": "Eur/MWh"},
    {"start_timestamp": 1561935600000, "end_timestamp": 1561939200000, "marketprice": 31.50,
     "unit": "Eur/MWh"}]}
SMARTENERGY = {"tariff": "EPEXSPOTAT", "unit": "ct/kWh", "interval": 15, "data": [
    {"date": "2026-06-05T00:00:00+02:00", "value": 10.942},
    {"date": "2026-06-05T00:15:00+02:00", "value": 10.942}]}


def history_day(store: HistoryStore, imported: list[float], exported: list[float]) -> None:
    """Quarter hours of a day (and the hour before it, so the first quarter has a row
    before it): Wh imported and exported in each."""
    rows = []
    start = int((DAY - timedelta(hours=1)).timestamp())
    counters = {IMPORT: 2_000_000.0, EXPORT: 100_000.0}
    draws = [(0.0, 0.0)] * 4 + list(zip(imported, exported, strict=True))
    for i, (taken, given) in enumerate(draws):
        for obis, amount in ((IMPORT, taken), (EXPORT, given)):
            first = counters[obis]
            counters[obis] += amount
            rows.append((900, start + 900 * i, METER, obis, obis, "Wh", 90,
                         90 * counters[obis], first, counters[obis], first, counters[obis]))
    store.add_aggregates(rows, [(METER, IMPORT, "active_energy_import", "Wh"),
                                (METER, EXPORT, "active_energy_export", "Wh")])


def prices_csv() -> str:
    """Hourly spot prices for the day, net, per kWh: 0.10 at night, 0.20 by day, 0.30 in
    the evening."""
    lines = ["start,price"]
    for hour in range(24):
        price = 0.10 if hour < 6 else 0.20 if hour < 18 else 0.30
        lines.append(f"2026-05-04T{hour:02d}:00,{price}")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore(tmp_path / "h.sqlite")
    yield opened
    opened.close()


def test_a_dynamic_day_costs_what_the_hand_calculation_says(store: HistoryStore) -> None:
    # 1 kWh every hour; 2 kWh exported each hour from 10:00 to 14:00
    imported = [250.0] * 96
    exported = [500.0 if 40 <= q < 56 else 0.0 for q in range(96)]
    history_day(store, imported, exported)
    store.add_prices(parse_prices(prices_csv(), "csv", VIENNA))
    tariff = Tariff.from_config({"dynamic_prices": "prices.csv", "dynamic_factor": 1.2,
                                 "dynamic_markup": 0.015, "grid_price": 0.08,
                                 "feed_in_price": 0.07, "base_fee": 3.10})
    settled = CostLedger(tariff, VIENNA).settle(store, DAY + timedelta(days=1, minutes=1))
    assert settled == 4 + 96
    cost = period_cost(store, METER, DAY, DAY + timedelta(days=1), VIENNA)
    # by hand: spot 6 h x 0.10 + 12 h x 0.20 + 6 h x 0.30 = 4.80 EUR for 24 kWh, x 1.2 =
    # 5.76, + 24 x 0.015 markup = 6.12, + 24 x 0.08 grid = 8.04; feed-in 8 kWh x 0.07 = 0.56;
    # the base fee 3.10 / 31 days = 0.10; total 8.04 + 0.10 - 0.56 = 7.58
    assert cost == {"currency": "EUR", "energy": 8.04, "feed_in": 0.56, "base_fee": 0.10,
                    "peak_fee": 0.0, "fees": 0.10, "total": 7.58, "quarter_hours": 96}


def test_a_quarter_waits_for_its_spot_price(store: HistoryStore) -> None:
    history_day(store, [100.0] * 96, [0.0] * 96)
    half = "\n".join(prices_csv().splitlines()[:13]) + "\n"  # prices up to 12:00 only
    store.add_prices(parse_prices(half, "csv", VIENNA))
    ledger = CostLedger(Tariff.from_config({"dynamic_prices": "x.csv"}), VIENNA)
    now = DAY + timedelta(days=1)
    # the hour before the day drew nothing (no price needed); from 12:00 on: wait
    assert ledger.settle(store, now) == 4 + 48
    assert ledger.settle(store, now) == 0
    store.add_prices(parse_prices(prices_csv(), "csv", VIENNA))
    assert ledger.settle(store, now) == 48


def test_settled_costs_stay_until_recomputed(store: HistoryStore) -> None:
    history_day(store, [250.0] * 96, [0.0] * 96)
    now = DAY + timedelta(days=1)
    CostLedger(Tariff(energy_price=0.20), VIENNA).settle(store, now)
    dearer = CostLedger(Tariff(energy_price=0.40), VIENNA)
    assert dearer.settle(store, now) == 0  # nothing new to settle: the past stays
    day = (DAY, DAY + timedelta(days=1))
    assert period_cost(store, METER, *day, VIENNA)["energy"] == 4.80  # type: ignore[index]
    assert store.forget_costs(DAY.timestamp()) == 96
    assert dearer.settle(store, now) == 96
    assert period_cost(store, METER, *day, VIENNA)["energy"] == 9.60  # type: ignore[index]


def test_time_of_use_and_the_monthly_peak(store: HistoryStore) -> None:
    imported = [250.0] * 96
    imported[70] = 1000.0  # 17:30, 4 kW: the month's peak
    history_day(store, imported, [0.0] * 96)
    tariff = Tariff.from_config({
        "energy_price": 0.30, "peak_price": 2.0, "time_of_use": [
            {"days": "Mon-Fri", "from": "22:00", "to": "06:00", "price": 0.15},
            {"days": "Sa,So", "from": "00:00", "to": "24:00", "price": 0.18}]})
    CostLedger(tariff, VIENNA).settle(store, DAY + timedelta(days=1))
    cost = period_cost(store, METER, DAY, DAY + timedelta(days=1), VIENNA)
    assert cost is not None
    # 8 night hours at 0.15, 16 day hours at 0.30, plus the 750 Wh extra at 17:30
    assert cost["energy"] == pytest.approx(8 * 0.15 + 16 * 0.30 + 0.75 * 0.30, abs=0.0051)
    assert cost["fees"] == 0  # a day: no peak charge, no base fee configured
    month = period_cost(store, METER, DAY.replace(day=1), DAY + timedelta(days=1), VIENNA,
                        monthly=True)
    # 4 kW x 2.0, for the one day of May the history covers (and the hour of 3 May)
    assert month is not None and month["fees"] == pytest.approx(8.0 * 2 / 31)


def test_tariff_settings_that_cannot_work_say_why() -> None:
    with pytest.raises(TariffError, match="'t' is no weekday"):
        Tariff.from_config({"time_of_use": [{"days": "T", "price": 0.2}]})
    assert Tariff.from_config({"time_of_use": [{"days": "Sa,So", "price": 0.2}]}).bands[
        0].days == {5, 6}
    with pytest.raises(TariffError, match=r"'Mon-Fry'.*'fry' is no weekday"):
        Tariff.from_config({"time_of_use": [{"days": "Mon-Fry", "price": 0.2}]})
    with pytest.raises(TariffError, match="from = '6 Uhr' is not a time"):
        Tariff.from_config({"time_of_use": [{"from": "6 Uhr", "price": 0.2}]})
    with pytest.raises(TariffError, match="unknown key 'cost'"):
        Tariff.from_config({"time_of_use": [{"cost": 0.2}]})


def test_prices_in_every_published_format() -> None:
    awattar = parse_prices(json.dumps(AWATTAR))
    assert awattar[0] == (1561932000, 1561935600, pytest.approx(0.02898))
    smart = parse_prices(json.dumps(SMARTENERGY))
    assert smart[1].start - smart[0].start == 900 and smart[0].end == smart[1].start
    assert smart[0].price == pytest.approx(0.10942)
    series = PriceSeries(smart)
    assert series.at(smart[0].start + 899) == pytest.approx(0.10942)
    assert series.at(smart[1].end) is None
    with pytest.raises(PriceError, match="header with 'start' and 'price'"):
        parse_prices("time;value\n1;2\n")
    with pytest.raises(PriceError, match="unit 'USD/bbl' is not known"):
        parse_prices(json.dumps({**SMARTENERGY, "unit": "USD/bbl"}))
    with pytest.raises(PriceError, match="line 2"):
        parse_prices("start,price\nyesterday,0.1\n", "csv", VIENNA)


class _PriceServer(BaseHTTPRequestHandler):
    body = json.dumps(AWATTAR).encode()

    def do_GET(self) -> None:
        if self.path.startswith("/v1/marketdata"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_response(503)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_prices_are_fetched_from_a_price_server_on_loopback() -> None:
    server = HTTPServer(("127.0.0.1", 0), _PriceServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        prices = fetch(f"{base}/v1/marketdata?start=1561932000000")
        assert [p.price for p in prices] == [pytest.approx(0.02898), pytest.approx(0.0315)]
        with pytest.raises(PriceError, match="answered HTTP 503"):
            fetch(f"{base}/down")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(PriceError, match="cannot be reached"):
        fetch(f"http://127.0.0.1:{server.server_port}/v1/marketdata")


def test_smartenergy_times_are_their_own_offsets() -> None:
    smart = parse_prices(json.dumps(SMARTENERGY))
    assert datetime.fromtimestamp(smart[0].start, UTC).isoformat() == "2026-06-04T22:00:00+00:00"
