"""Several meters in one service (``[[meters]]``): the config, isolation of the meters, and
two simulators through every output at once (SQLite, MQTT with Home Assistant, PostgreSQL,
/metrics and the page in a real Chromium)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from livekit import CLI, ENV, jsonl, until
from servers import Mosquitto, Postgres, free_port, wait_listening
from smartmeter_readout.errors import ConfigError
from smartmeter_readout.history.query import HistoryQuery
from smartmeter_readout.service.config import load_config
from test_mqtt import Listener
from webkit import browser_page

KEY = "5AD7A2C3E41B9F06D8C1E2F3A4B5C6D7"


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meters.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def load(tmp_path: Path, text: str) -> Any:
    return load_config(config_file(tmp_path, text), env={})


def test_each_meter_gets_its_own_sections_on_top_of_the_shared_ones(tmp_path: Path) -> None:
    config = load(tmp_path, f"""
[meter]
timezone = "Europe/Berlin"
operator = "vkw"

[[meters]]
name = "Top 3"
port = "/dev/ttyUSB0"
key = "{KEY}"

[[meters]]
name = "PV"
simulate = "wienernetze"
interval = 5
operator = "wienernetze"
""")
    first, second = config.per_meter()
    assert first["meter"]["name"] == "Top 3" and first["source"]["port"] == "/dev/ttyUSB0"
    assert first["meter"]["timezone"] == "Europe/Berlin" and first["meter"]["operator"] == "vkw"
    assert second["source"]["simulate"] == "wienernetze" and second["source"]["interval"] == 5
    assert second["meter"]["operator"] == "wienernetze" and second["meter"]["key"] is None
    assert KEY not in repr(config)  # keys stay hidden in the config's own picture


def test_a_tables_own_key_beats_a_shared_key_file(tmp_path: Path) -> None:
    shared = tmp_path / "shared.key"
    shared.write_text("00" * 16)
    first, second = load(tmp_path, f"""
[meter]
key_file = "{shared}"
[[meters]]
name = "A"
simulate = "vkw"
key = "{KEY}"
[[meters]]
name = "B"
simulate = "vkw"
""").per_meter()
    assert (first["meter"]["key"], first["meter"]["key_file"]) == (KEY, None)
    assert (second["meter"]["key"], second["meter"]["key_file"]) == (None, str(shared))


def test_a_one_meter_config_is_its_own_only_meter(tmp_path: Path) -> None:
    config = load(tmp_path, '[source]\nsimulate = "vkw"\n[meter]\nname = "Haus"\n')
    assert config.meters == () and config.per_meter() == [config]


@pytest.mark.parametrize(("text", "wanted"), [
    ('[[meters]]\nname = "A"\nsimulate = "vkw"\nbaudrate = 2400\n',
     "unknown key 'baudrate'"),
    ('[[meters]]\nsimulate = "vkw"\n', "give the meter a name"),
    ('[[meters]]\nname = "A"\n', "needs one of port, tcp, simulate or replay"),
    ('[[meters]]\nname = "A"\nsimulate = "vkw"\nport = "/dev/ttyUSB0"\n',
     "names port and simulate"),
    ('[[meters]]\nname = "Top 3"\nsimulate = "vkw"\n[[meters]]\nname = "top 3"\n'
     'simulate = "vkw"\n', "too close to meter 'Top 3'"),
    ('[[meters]]\nname = "A"\nport = "/dev/ttyUSB0"\n[[meters]]\nname = "B"\n'
     'port = "/dev/ttyUSB0"\n', "'B' and 'A' both read /dev/ttyUSB0"),
    ('[[meters]]\nname = "A"\nsimulate = "vkw"\ninterval = -1\n', "must be at least"),
    ('[[meters]]\nname = "A"\nport = "/dev/ttyUSB0"\nkey = "XXXXXXXXXXXXXXXX"\n',
     "placeholder"),
    ("meters = 3\n", r"must be \[\[meters\]\] tables"),
    ('[source]\nport = "/dev/ttyUSB0"\n[[meters]]\nname = "A"\nsimulate = "vkw"\n',
     r"\[source\] port cannot go with \[\[meters\]\]"),
    ('[meter]\nname = "Haus"\n[[meters]]\nname = "A"\nsimulate = "vkw"\n',
     r"\[meter\] name cannot go with \[\[meters\]\]"),
])
def test_a_bad_meters_table_names_itself_and_the_fix(tmp_path: Path, text: str,
                                                     wanted: str) -> None:
    with pytest.raises(ConfigError, match=wanted) as caught:
        load(tmp_path, text)
    assert "XXXXXXXX" not in str(caught.value)


def test_one_meters_broken_adapter_stops_that_meter_only(tmp_path: Path) -> None:
    not_a_port = tmp_path / "not-a-serial-port"
    not_a_port.write_text("x")
    path = config_file(tmp_path, f"""
[[meters]]
name = "Garage"
port = "{not_a_port}"
key = "{KEY}"

[[meters]]
name = "Keller"
port = "/dev/ttyUSB-not-plugged-in-{os.getpid()}"
key = "{KEY}"

[[meters]]
name = "Top 3"
simulate = "vkw"
interval = 0.2

[sqlite]
enabled = false
""")
    result = subprocess.run([*CLI, "run", "--config", str(path), "--count", "4",
                             "--console", "jsonl"], capture_output=True, text=True,
                            timeout=60, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    readings = jsonl(result.stdout)
    assert len(readings) == 4
    assert {reading["meter"]["name"] for reading in readings} == {"Top 3"}
    assert "Garage: " in result.stderr and "not a serial port" in result.stderr
    assert "the other meters are read on" in result.stderr
    assert KEY not in result.stdout + result.stderr


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
        return json.loads(body) if "json" in response.headers["Content-Type"] else body


def test_two_meters_in_one_service_reach_every_output(tmp_path: Path, broker: Mosquitto,
                                                      postgres: Postgres) -> None:
    port = free_port()
    sqlite = tmp_path / "two.sqlite"
    path = config_file(tmp_path, f"""
[[meters]]
name = "Top 3"
simulate = "vkw"
interval = 0.5

[[meters]]
name = "PV"
simulate = "vkw"
interval = 0.7

[sqlite]
path = "{sqlite}"

[mqtt]
host = "127.0.0.1"
port = {broker.port}
summary_interval = 1

[postgres]
dsn = "{postgres.dsn}"

[web]
port = {port}
""")
    listener = Listener(broker.port)
    env = {name: value for name, value in ENV.items() if name != "SMARTMETER_WEB_PORT"}
    process = subprocess.Popen([*CLI, "run", "--config", str(path)], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(port, timeout=30)

        def both_read() -> bool:
            meters = get(url + "/api/v1/meters")["meters"]
            return len(meters) == 2 and all(m["readings"] >= 3 for m in meters)

        until(both_read, "readings of both meters")
        meters = get(url + "/api/v1/meters")["meters"]
        assert [m["name"] for m in meters] == ["Top 3", "PV"]
        # the same profile twice: the same meter number, told apart by the names
        assert {m["meter"]["id"] for m in meters} == {"1KFM0200014196"}
        assert get(url + "/api/v1/reading?meter=PV")["meter"]["name"] == "PV"
        status = get(url + "/api/v1/status")
        assert [m["name"] for m in status["meters"]] == ["Top 3", "PV"]

        # MQTT: a state topic, an availability and a Home Assistant device per meter
        listener.wait(lambda: listener.on("smartmeter/Top_3/state")
                      and listener.on("smartmeter/PV/state"))
        assert listener.on("smartmeter/Top_3/status")[-1] == b"online"
        assert listener.on("smartmeter/PV/status")[-1] == b"online"
        state = json.loads(listener.on("smartmeter/PV/state")[-1])
        assert state["meter"]["name"] == "PV"
        devices = {}
        for topic, payload, _ in list(listener.messages):
            if topic.startswith("homeassistant/sensor/") and topic.endswith("/config"):
                config = json.loads(payload)
                devices[tuple(config["device"]["identifiers"])] = config["device"]["name"]
        assert devices == {("smartmeter_Top_3",): "Top 3", ("smartmeter_PV",): "PV"}
        listener.wait(lambda: listener.on("smartmeter/PV/summary"))

        # PostgreSQL: rows of both meters
        def stored() -> set[Any]:
            with psycopg.connect(postgres.dsn) as connection:
                return {row[0] for row in connection.execute(
                    "SELECT DISTINCT meter FROM readings").fetchall()}

        until(lambda: stored() == {"Top 3", "PV"}, "both meters in PostgreSQL")

        # /metrics: every meter's values and counters, by name
        with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
            families = {f.name: f for f in text_string_to_metric_families(reply.read().decode())}
        assert {s.labels["meter"] for s in families["smartmeter_value"].samples} == {
            "Top 3", "PV"}
        assert {s.labels["meter"] for s in families["smartmeter_pushes"].samples} == {
            "Top 3", "PV"}

        # the history answers per meter and for both added up
        one = get(url + "/api/v1/history?from=-1h&step=1m&obis=1.0.1.7.0.255&meter=PV")
        both = get(url + "/api/v1/history?from=-1h&step=1m&obis=1.0.1.7.0.255&meter=*")
        assert one["intervals"] and both["intervals"][0]["meters"] == ["Top 3", "PV"]
        # power adds up across the meters, voltage does not
        summed = get(url + "/api/v1/history?from=-1h&step=1m&meter=*"
                     "&obis=1.0.1.7.0.255,1.0.32.7.0.255")["intervals"]
        assert all(set(i["values"]) == {"1.0.1.7.0.255"} for i in summed)
        summed = get(url + "/api/v1/summary?meter=*")
        assert summed["meters"] == ["Top 3", "PV"]

        _page_shows_each_meter_and_the_sum(url)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        listener.wait(lambda: listener.on("smartmeter/PV/status")[-1:] == [b"offline"]
                      and listener.on("smartmeter/Top_3/status")[-1:] == [b"offline"])
        listener.close()
    assert process.returncode == 0, err
    query = HistoryQuery(sqlite)
    try:
        assert {row["meter"] for row in query.series()} == {"Top 3", "PV"}
    finally:
        query.close()


def _page_shows_each_meter_and_the_sum(url: str) -> None:
    with browser_page(url) as page:
        select = page.locator("[data-testid=meter-select]")
        expect(select).to_be_visible()
        assert select.locator("option").all_inner_texts() == [
            "All meters (sum)", "Top 3", "PV"]
        expect(page.locator("[data-testid=net-power]")).not_to_have_text("\u2013")
        expect(page.locator("#voltage_l1")).to_have_text("\u2013")  # not a sum
        select.select_option("PV")
        expect(page.locator("#meter-id")).to_contain_text("PV")
        expect(page.locator("#voltage_l1")).to_contain_text("V")
        expect(page.locator("#status")).to_contain_text("Top 3")
        page.reload()  # the choice is kept
        expect(page.locator("[data-testid=meter-select]")).to_have_value("PV")


def test_demo_simulates_each_meter_by_its_operator(tmp_path: Path) -> None:
    """``demo --config`` with ``[[meters]]``: each meter simulated by its operator's profile
    (their ports left aside), in /api/v1/meters, on the console, and in /metrics with each
    summary figure labelled by its meter (issue 22 item 5)."""
    path = config_file(tmp_path, """
[[meters]]
name = "Top 3"
operator = "netznoe"
port = "/dev/ttyUSB0"

[[meters]]
name = "PV"
operator = "vkw"
port = "/dev/ttyUSB1"
""")
    process = subprocess.Popen([*CLI, "demo", "--config", str(path), "--interval", "0.3",
                                "--history-days", "3"], text=True, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log: list[str] = []
    try:
        def page() -> str | None:
            line = process.stderr.readline()  # type: ignore[union-attr]
            log.append(line)
            if not line and process.poll() is not None:
                raise AssertionError("".join(log))
            found = re.search(r"web: page on (http://127\.0\.0\.1:\d+)/", line)
            return found.group(1) if found else None

        url = until(page, "the page's address")

        def both_read() -> bool:
            meters = get(url + "/api/v1/meters")["meters"]
            return len(meters) == 2 and all(m["readings"] >= 2 for m in meters)

        until(both_read, "readings of both meters")
        meters = {m["name"]: m for m in get(url + "/api/v1/meters")["meters"]}
        assert list(meters) == ["Top 3", "PV"]
        assert meters["Top 3"]["meter"]["id"] == "181220000009"  # Netz NÖ's Kaifa
        assert meters["PV"]["meter"]["id"] == "1KFM0200014196"  # Vorarlberg Netz's Kaifa
        with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
            families = {f.name: f for f in text_string_to_metric_families(reply.read().decode())}
        summaries = {name: get(url + "/api/v1/summary?meter=" + urllib.parse.quote(name))
                     for name in meters}
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, "".join(log) + err
    stderr = "".join(log) + err
    assert "meter Top 3 is simulated as netznoe" in stderr
    assert "meter PV is simulated as vkw" in stderr
    assert "Meter: Top 3: KFM 181220000009" in out  # the console
    assert "Meter: PV: KFM 1KFM0200014196" in out
    # the two differ (the vkw profile has solar panels), so a figure cannot pass for the other
    months = [s["periods"]["this_month"] for s in summaries.values()]
    assert months[0]["import_wh"] != pytest.approx(months[1]["import_wh"], rel=0.05)
    # each meter's figures, labelled with its name, as its own summary gives them
    for family, period in (("smartmeter_energy_month_wh", "this_month"),
                           ("smartmeter_cost_month", "this_month")):
        samples = families[family].samples
        assert {s.labels["meter"] for s in samples} == {"Top 3", "PV"}, family
        for name, summary in summaries.items():
            figures = summary["periods"][period]
            if family.endswith("_wh"):
                [value] = [s.value for s in samples if s.labels == {
                    "meter": name, "direction": "import"}]
                wanted, slack = figures["import_wh"], 50.0  # Wh
            else:
                [value] = [s.value for s in samples if s.labels["meter"] == name]
                wanted, slack = figures["cost"]["total"], 0.05  # EUR
            # (read a moment apart: live pushes add a little in between)
            assert value == pytest.approx(wanted, rel=0.02, abs=slack), (family, name)
    peaks = {s.labels["meter"] for s in families["smartmeter_peak_month_watts"].samples}
    assert peaks == {"Top 3", "PV"}
    pushes = {s.labels["meter"] for s in families["smartmeter_pushes"].samples}
    assert pushes == {"Top 3", "PV"}
