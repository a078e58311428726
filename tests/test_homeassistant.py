"""Home Assistant's own code judges our MQTT discovery: every message of every simulator
profile goes through the MQTT integration's topic matcher, origin schema and sensor discovery
schema, in a venv with the ``homeassistant`` package that this test builds once and caches.

2024.3 is the newest release that installs on Python 3.11; what later releases changed
(``reactive_energy``, ``default_entity_id``, the end of ``object_id``) is checked by the
facts in the second test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.sim.simulator import PROFILES, Simulator
from smartmeter_readout.sinks.mqtt import discovery_configs, summary_configs

HA_VERSION = "2024.3.3"
PINS = [f"homeassistant=={HA_VERSION}", "paho-mqtt==1.6.1"]  # what its MQTT part requires
CHECK = Path(__file__).parent / "ha" / "check_discovery.py"
KEY = bytes(range(16))


@pytest.fixture(scope="session")
def ha_python() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "smartmeter-readout" / f"homeassistant-{HA_VERSION}"
    python = venv / "bin" / "python"
    if not (venv / "complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS],
                                   capture_output=True, text=True, timeout=1500, check=False)
        assert installed.returncode == 0, installed.stderr[-3000:]
        (venv / "complete").touch()
    return python


SUMMARY = {"meter": None, "periods": {"today": {"cost": {"currency": "EUR"}}}}


def all_discovery() -> dict[str, dict[str, object]]:
    """Every discovery message the simulator's meters make, by topic, with the summary's
    sensors (energy, peak, cost)."""
    messages = {}
    for profile in PROFILES:
        wire = Simulator(profile, key=KEY, seed=1).push(datetime(2026, 3, 1, tzinfo=UTC)).wire
        [reading] = Decoder(KEY).feed(wire)
        configs = {**discovery_configs(reading, topic="smartmeter", prefix="homeassistant",
                                       expire_after=60),
                   **summary_configs(SUMMARY, meter_reading=reading, topic="smartmeter",
                                     prefix="homeassistant")}
        for topic, payload in configs.items():
            messages[topic] = json.loads(payload)
    return messages


def test_home_assistant_accepts_every_discovery_message(ha_python: Path) -> None:
    messages = all_discovery()
    sent = [[topic.removeprefix("homeassistant/"), json.dumps(payload)]
            for topic, payload in messages.items()]
    judged = subprocess.run([str(ha_python), str(CHECK)], input=json.dumps(sent),
                            capture_output=True, text=True, timeout=300, check=True)
    answer = json.loads(judged.stdout)
    assert answer["version"] == HA_VERSION
    refused = [(r["topic"], r["error"]) for r in answer["results"] if r["error"]]
    assert refused == []
    assert len(answer["results"]) == len(messages) > 100
    for result in answer["results"]:  # what it takes in, it keeps
        expected = {"origin", "device", "object_id", "unique_id", "availability_topic"}
        if "/1_" in result["topic"]:  # a meter's value (not the summary): expires
            expected.add("expire_after")
        assert expected <= set(result["kept"]), result["topic"]
    monetary = [t for t, p in messages.items() if p.get("device_class") == "monetary"]
    assert len(monetary) == 2 * len(PROFILES)


def test_discovery_keeps_to_what_later_releases_require() -> None:
    for topic, payload in all_discovery().items():
        assert payload.get("device_class") != "reactive_energy", topic  # rejected < 2025.6
        assert payload["default_entity_id"] == f"sensor.{payload['object_id']}"  # >= 2025.10
        device = payload["device"]
        assert isinstance(device, dict) and "via_device" not in device
        assert "layout" not in str(device["model"])
        assert payload.get("unit_of_measurement") != "deg"
        if payload.get("unit_of_measurement") == "varh":
            assert payload["state_class"] == "total_increasing"
        assert payload["origin"] == {"name": "smartmeter-readout",
                                     "sw_version": payload["origin"]["sw_version"]}  # type: ignore[index]
