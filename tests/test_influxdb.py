"""InfluxDB 1.x for real: points as line protocol, batched, and an outage survived."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livekit import CLI, ENV
from servers import Influx
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.sinks.influxdb import line_protocol


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[Influx]:
    server = Influx(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def service(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    # one push a second, as meters do: points of the same second would overwrite each other
    env = {**ENV, "SMARTMETER_INFLUXDB_URL": url, "SMARTMETER_SOURCE_INTERVAL": "1"}
    return subprocess.Popen([*CLI, "run", "--simulate", "netznoe", "--sqlite",
                             str(tmp_path / "h.sqlite"), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def points(server: Influx) -> list[list[Any]]:
    result: Any = server.query("smartmeter", "SELECT * FROM smartmeter ORDER BY time")
    series = result["results"][0].get("series", [])
    if not series:
        return []
    columns = series[0]["columns"]
    return [dict(zip(columns, row, strict=True)) for row in series[0]["values"]]  # type: ignore[misc]


def test_line_protocol_escapes_and_uses_floats() -> None:
    from datetime import UTC, datetime

    from smartmeter_readout.reading import Measurement, MeterIdentity, Reading

    reading = Reading(datetime(2026, 1, 1, tzinfo=UTC), None, MeterIdentity(id="a b,c"), 1,
                      {"1.0.1.8.0.255": Measurement("active_energy_import", 77130, "Wh"),
                       "0.0.96.1.0.255": Measurement("meter_id", "x", None)})
    assert line_protocol([reading], "smart meter") == (
        b"smart\\ meter,meter=a\\ b\\,c active_energy_import=77130.0 1767225600000\n")
    # a meter named in [[meters]] is tagged with its name, not its number
    named = Reading(reading.time, None, MeterIdentity(id="a b,c", name="Top 3"), 1,
                    reading.values)
    assert line_protocol([named], "m") == b"m,meter=Top\\ 3 active_energy_import=77130.0 " \
        b"1767225600000\n"


def test_readings_arrive_as_points(tmp_path: Path, influx: Influx) -> None:
    process = service(tmp_path, influx.url, "--count", "5")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    stored = HistoryStore(tmp_path / "h.sqlite").readings()
    got = points(influx)
    assert len(got) == 5
    for point, reading in zip(got, stored, strict=True):
        assert point["meter"] == reading["meter"]["id"]
        assert point["voltage_l1"] == reading["values"]["1.0.32.7.0.255"]["value"]
        assert point["active_energy_import"] == reading["values"]["1.0.1.8.0.255"]["value"]


def test_outage_then_every_reading_once(tmp_path: Path, influx: Influx) -> None:
    first = service(tmp_path, influx.url)
    time.sleep(3)
    influx.stop()
    time.sleep(3)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=20)
    assert "influxdb: cannot deliver" in err
    second = service(tmp_path, influx.url)
    time.sleep(1.5)
    influx.start()
    stored = HistoryStore(tmp_path / "h.sqlite")
    deadline = time.monotonic() + 60
    while len(points(influx)) < len(stored.readings()) and time.monotonic() < deadline:
        time.sleep(0.3)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=20)
    readings = stored.readings()
    got = points(influx)
    times = [p["time"] for p in got]
    assert len(got) == len(readings) and times == sorted(set(times))
