"""The fleet's page and API over PostgreSQL (``collect`` with ``[web] store = "postgres"``):
meters and their age, a group's quarter hours and self-supplied share, CSV per member and
month, and the page in a real Chromium. Readings with known counters go through a real
Mosquitto and a collector into a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from playwright.sync_api import expect

import smartmeter_readout.web as web_package
from livekit import CLI, ENV, until
from servers import Mosquitto, Postgres, free_port, wait_listening
from webkit import browser_page

OPENAPI = schemathesis.openapi.from_path(Path(web_package.__file__).parent
                                         / "fleet-openapi.json")
VIENNA = ZoneInfo("Europe/Vienna")
DAY = datetime(2026, 11, 2, tzinfo=VIENNA)
IMPORT, EXPORT = "1.0.1.8.0.255", "1.0.2.8.0.255"
# counters at minute 14 of the quarter hours from 10:00 (each quarter hour's only reading):
# a household and a PV system in one community, a third meter outside it
COUNTERS = {
    "Top 1": [(1000, 0), (1250, 0), (1500, 0), (2000, 0)],
    "PV": [(50, 0), (50, 100), (50, 400), (50, 400)],
    "Nachbar": [(7000, 0), (9000, 0), (11000, 0), (13000, 0)],
}


def reading(meter: str, moment: datetime, taken: float, given: float) -> bytes:
    return json.dumps({
        "time": moment.isoformat(), "received": moment.isoformat(),
        "meter": {"system_title": None, "manufacturer": "KFM", "id": "1KFM0200014196",
                  "device_name": None, "list_id": None, "name": meter},
        "frame_counter": 1,
        "values": {IMPORT: {"name": "active_energy_import", "value": taken, "unit": "Wh"},
                   EXPORT: {"name": "active_energy_export", "value": given, "unit": "Wh"},
                   "1.0.1.7.0.255": {"name": "active_power_import", "value": 230,
                                     "unit": "W"}}}).encode()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body, kind, status = response.read().decode(), response.headers, response.status
    except urllib.error.HTTPError as error:
        body, kind, status = error.read().decode(), error.headers, error.code
    return status, json.loads(body) if kind.get_content_type() == "application/json" else body


@pytest.fixture(scope="module")
def fleet_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("fleet-view")
    broker = Mosquitto(tmp_path)
    database = Postgres()
    broker.start()
    database.start()
    port = free_port()
    config = tmp_path / "collect.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'[postgres]\ndsn = "{database.dsn}"\n'
                      '[collect]\nbatch_seconds = 0.1\n'
                      f'[web]\nstore = "postgres"\nport = {port}\n'
                      '[[groups]]\nname = "EEG Sonnenfeld"\nmembers = ["Top 1", "PV"]\n',
                      encoding="utf-8")
    config.chmod(0o600)
    env = {name: value for name, value in ENV.items() if name != "SMARTMETER_WEB_PORT"}
    stats = tmp_path / "stats.json"
    collector = subprocess.Popen([*CLI, "collect", "--config", str(config), "--stats",
                                  str(stats)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, timeout=30)
        until(stats.exists, "the collector's subscription")
        _publish(broker.port)
        url = f"http://127.0.0.1:{port}"
        until(lambda: len(get(url + "/api/v1/fleet/meters")[1]["meters"]) == 3,
              "three meters collected")
        yield url
    finally:
        collector.send_signal(signal.SIGTERM)
        _, err = collector.communicate(timeout=30)
        broker.stop()
        database.stop()
        database.remove()
    assert collector.returncode == 0, err


def _publish(port: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-readers",
                         protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for meter, counters in COUNTERS.items():
            for quarter, (taken, given) in enumerate(counters):
                moment = DAY + timedelta(hours=10, minutes=15 * quarter + 14)
                client.publish(f"smartmeter/{meter}/state",
                               reading(meter, moment, taken, given), qos=1,
                               ).wait_for_publish(10)
        newest = datetime.now(VIENNA).replace(microsecond=0)
        client.publish("smartmeter/Top 1/state", reading("Top 1", newest, 2100, 0),
                       qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_meters_with_their_age_newest_first(fleet_site: str) -> None:
    status, data = get(fleet_site + "/api/v1/fleet/meters")
    assert status == 200 and data["time_zone"] == "Europe/Vienna"
    meters = data["meters"]
    assert meters[0]["meter"] == "Top 1"
    assert meters[0]["age_seconds"] < 600 and meters[0]["groups"] == ["EEG Sonnenfeld"]
    assert meters[0]["values"][IMPORT] == 2100
    old = {m["meter"]: m for m in meters}["Nachbar"]
    assert old["age_seconds"] > 86400 and old["groups"] == []


def test_a_groups_quarter_hours_and_self_supplied_share(fleet_site: str) -> None:
    status, data = get(fleet_site + "/api/v1/fleet/groups/EEG%20Sonnenfeld"
                                    "?from=2026-11-02&to=2026-11-03")
    assert status == 200, data
    quarters = [(q["start"], q["import_wh"], q["export_wh"], q["self_supplied_share"],
                 q["members_reporting"]) for q in data["quarters"]]
    # a quarter hour's energy runs to the next one's first reading: the last quarter hour
    # has no next one, so no figure rather than a made-up one
    assert quarters == [
        ("2026-11-02T10:00:00+01:00", 250, 100, 0.4, 2),
        ("2026-11-02T10:15:00+01:00", 250, 300, 1.0, 2),
        ("2026-11-02T10:30:00+01:00", 500, 0, 0.0, 2),
    ]
    assert data["import_wh"] == 1000 and data["export_wh"] == 400
    assert data["self_supplied_share"] == 0.35  # (100 + 250 + 0) / 1000, quarter by quarter
    assert get(fleet_site + "/api/v1/fleet/groups")[1] == {
        "groups": [{"name": "EEG Sonnenfeld", "members": 2}]}
    assert get(fleet_site + "/api/v1/fleet/groups/nope")[0] == 404
    assert get(fleet_site + "/api/v1/fleet/groups/EEG%20Sonnenfeld?from=-90d")[0] == 400


def test_a_members_month_as_csv(fleet_site: str) -> None:
    status, text = get(fleet_site + "/api/v1/fleet/csv?meter=PV&month=2026-11")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["meter", "start", "end", "import_kwh", "export_kwh"]
    assert rows[1:] == [
        ["PV", "2026-11-02T10:00:00+01:00", "2026-11-02T10:15:00+01:00", "0.0000", "0.1000"],
        ["PV", "2026-11-02T10:15:00+01:00", "2026-11-02T10:30:00+01:00", "0.0000", "0.3000"],
        ["PV", "2026-11-02T10:30:00+01:00", "2026-11-02T10:45:00+01:00", "0.0000", "0.0000"],
    ]
    status, text = get(fleet_site + "/api/v1/fleet/csv?group=EEG%20Sonnenfeld&month=2026-11")
    assert status == 200 and {line.split(";")[0] for line in text.splitlines()[1:]} == {
        "Top 1", "PV"}
    assert get(fleet_site + "/api/v1/fleet/csv?meter=PV&month=2026-13")[0] == 400
    assert get(fleet_site + "/api/v1/fleet/csv?month=2026-11")[0] == 400


@pytest.mark.parametrize("query", [
    "csv?meter=PV&month=9999-12", "csv?meter=PV&month=0000-01", "csv?meter=PV&month=0001-01",
    "csv?meter=PV&month=1969-12", "csv?meter=PV&month=2200-01", "csv?group=EEG%20Sonnenfeld&"
    "month=9999-12", "csv?meter=%00&month=2026-11", "csv?meter=" + "m" * 65 + "&month=2026-11",
    "groups/EEG%20Sonnenfeld?to=0001-01-01", "groups/EEG%20Sonnenfeld?from=0001-01-01",
    "groups/EEG%20Sonnenfeld?from=0001-01-01&to=0001-01-02",
    "groups/EEG%20Sonnenfeld?from=9999-12-30&to=9999-12-31",
    "groups/EEG%20Sonnenfeld?to=9999-12-31T23:59:59-14:00",
    "groups/EEG%20Sonnenfeld?from=0001-01-01T00:00+14:00&to=0001-01-02T00:00+14:00",
    "groups/EEG%20Sonnenfeld?from=-99999w", "groups/EEG%20Sonnenfeld?from=-99999d",
    "groups/EEG%20Sonnenfeld?to=-99999w", "groups/EEG%20Sonnenfeld?from=1969-12-30",
])
def test_dates_out_of_range_are_a_400_with_a_reason(fleet_site: str, query: str) -> None:
    status, data = get(f"{fleet_site}/api/v1/fleet/{query}")
    assert status == 400 and data["error"], (query, status, data)


def test_the_fleet_page_in_a_browser(fleet_site: str) -> None:
    with browser_page(fleet_site) as page:
        expect(page.locator("[data-testid=count]")).to_have_text("3 meters")
        expect(page.locator("[data-testid=meters] tbody tr")).to_have_count(3)
        page.locator("#day").fill("2026-11-02")
        page.locator("#day").dispatch_event("change")
        expect(page.locator("[data-testid=group-total]")).to_contain_text(
            "self-supplied 35.0 %")
        expect(page.locator("[data-testid=quarters] tbody tr")).to_have_count(3)
        link = page.locator("[data-testid=group-csv]").get_attribute("href") or ""
        assert "group=EEG%20Sonnenfeld" in link


@OPENAPI.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_fleet_api_keeps_to_its_openapi_description(case: Any, fleet_site: str) -> None:
    from schemathesis.checks import positive_data_acceptance

    # semantic checks (a 31st of February, from after to) answer 400 with a reason
    case.call_and_validate(base_url=fleet_site, excluded_checks=[positive_data_acceptance])
