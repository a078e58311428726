"""Home Assistant's own code judges our MQTT discovery: every message of every simulator
profile goes through the MQTT integration's topic matcher, origin schema and sensor discovery
schema, in a venv with the ``homeassistant`` package that this test builds once and caches.
A real Home Assistant (core, recorder, MQTT) then takes the summary's sensors across a
midnight and compiles its long-term statistics: the sums of the period sensors must never
fall when today and the month start again.

2024.3 is the newest release that installs on Python 3.11; what later releases changed
(``reactive_energy``, ``default_entity_id``, the end of ``object_id``, ``last_reset`` only with
``total``) is checked by the facts in the second test.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hakit import HA_VERSION
from servers import Mosquitto
from smartmeter_readout import Decoder
from smartmeter_readout.history.summary import period_bounds
from smartmeter_readout.sim.simulator import PROFILES, Simulator
from smartmeter_readout.sinks.mqtt import discovery_configs, summary_configs

CHECK = Path(__file__).parent / "ha" / "check_discovery.py"
RUN_HA = Path(__file__).parent / "ha" / "run_home_assistant.py"
KEY = bytes(range(16))


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
    for result in answer["results"]:  # a period's cost restarts: Home Assistant is told when
        if result["topic"].rsplit("/", 2)[-2] in ("cost_today", "cost_month"):
            assert "last_reset_value_template" in result["kept"], result["topic"]


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
        if "last_reset_value_template" in payload:  # later schemas refuse it with other classes
            assert payload["state_class"] == "total", topic
        if payload.get("device_class") == "monetary":  # the only class allowed for it
            assert payload["state_class"] == "total" and "last_reset_value_template" in payload
        assert payload["origin"] == {"name": "smartmeter-readout",
                                     "sw_version": payload["origin"]["sw_version"]}  # type: ignore[index]


VIENNA = ZoneInfo("Europe/Vienna")
#: a meter's day and month across midnight (the month ends too): (local time, today, month,
#: the month's peak in W); today and month: (import Wh, export Wh, cost) or None (no data)
TIMELINE: list[tuple[datetime, Any, Any, float | None]] = [
    (datetime(2026, 3, 31, 23, 47, 30, tzinfo=VIENNA), (8000, 500, 1.20), (250000, 0, 30.10),
     4200.0),
    (datetime(2026, 3, 31, 23, 52, 30, tzinfo=VIENNA), (8100, 520, 1.35), (250100, 0, 30.25),
     4200.0),
    (datetime(2026, 4, 1, 0, 1, tzinfo=VIENNA), None, None, None),  # nothing settled yet
    (datetime(2026, 4, 1, 0, 7, tzinfo=VIENNA), (50, 0, 0.05), (50, 0, 0.05), 800.0),
]
END = datetime(2026, 4, 1, 0, 12, tzinfo=VIENNA)


def summary_at(now: datetime, today: Any, month: Any, peak: float | None) -> dict[str, Any]:
    """The summary as history/summary.py shapes it (its periods' bounds from its own
    period_bounds), with the figures of ``TIMELINE``."""
    periods = {}
    for name, (start, end) in period_bounds(now, VIENNA).items():
        periods[name] = {"start": start.isoformat(), "end": end.isoformat(), "import_wh": None,
                         "export_wh": None, "net_wh": None, "self_supplied_share": None,
                         "peak": None, "estimated_wh": 0, "cost": None}
    for name, figures in (("today", today), ("this_month", month),
                          ("yesterday", (7000, 400, 1.05)), ("last_month", (240000, 0, 29.0))):
        if figures is not None:
            imported, exported, total = figures
            periods[name].update(import_wh=imported, export_wh=exported,
                                 net_wh=imported - exported,
                                 cost={"currency": "EUR", "energy": total, "feed_in": 0.0,
                                       "fees": 0.0, "total": total, "quarter_hours": 1})
    if peak is not None:
        periods["this_month"]["peak"] = {"w": peak, "at": periods["this_month"]["start"]}
    return {"meter": "1KFM0200014196", "time_zone": "Europe/Vienna", "periods": periods}


def test_statistics_stay_right_across_midnight(ha_python: Path, broker: Mosquitto) -> None:
    """Home Assistant's recorder compiles 5-minute and hourly statistics while today and the
    month start again: the cost sensors carry last_reset (the period's start), the energy
    sensors start a new cycle on the drop, and no sum ever falls. A control sensor as the
    discovery was before (cost as total without last_reset) shows the fault of issue 21."""
    wire = Simulator("vkw", key=KEY, seed=1).push(datetime(2026, 3, 1, tzinfo=UTC)).wire
    [reading] = Decoder(KEY).feed(wire)
    meter = "1KFM0200014196"
    base = f"smartmeter/{meter}"
    unique = {key: f"smartmeter_{meter}_{key}" for key in (
        "import_today", "export_today", "import_month", "peak_month", "cost_today",
        "cost_month", "control")}
    steps = []
    for number, (now, today, month, peak) in enumerate(TIMELINE):
        data = summary_at(now, today, month, peak)
        configs = summary_configs(data, meter_reading=reading, topic="smartmeter",
                                  prefix="homeassistant")
        control = json.loads(configs[f"homeassistant/sensor/smartmeter_{meter}/cost_today/config"])
        control.pop("last_reset_value_template", None)
        control.update(unique_id=unique["control"], object_id=unique["control"],
                       default_entity_id=f"sensor.{unique['control']}", name="Control")
        configs[f"homeassistant/sensor/smartmeter_{meter}/control/config"] = json.dumps(control)
        publish = [[topic, payload, True] for topic, payload in configs.items()]
        if number == 0:
            publish.insert(0, [f"{base}/status", "online", True])
        publish.append([f"{base}/summary", json.dumps(data), True])
        periods = data["periods"]
        cost_today = today[2] if today else None
        steps.append({"at": now.isoformat(), "publish": publish, "expect": {
            unique["import_today"]: {"state": today[0] if today else None},
            unique["export_today"]: {"state": today[1] if today else None},
            unique["import_month"]: {"state": month[0] if month else None},
            unique["peak_month"]: {"state": peak},
            unique["cost_today"]: {"state": cost_today,
                                   "last_reset": periods["today"]["start"]},
            unique["cost_month"]: {"state": month[2] if month else None,
                                   "last_reset": periods["this_month"]["start"]},
            unique["control"]: {"state": cost_today},
        }})
    spec = {"port": broker.port, "time_zone": "Europe/Vienna", "steps": steps,
            "end": END.isoformat()}
    ran = subprocess.run([str(ha_python), str(RUN_HA)], input=json.dumps(spec),
                         capture_output=True, text=True, timeout=600, check=False)
    assert ran.returncode == 0, ran.stderr[-5000:]
    answer = json.loads(ran.stdout)
    assert answer["version"] == HA_VERSION
    assert answer["error"] is None, (answer["error"], answer["steps"][-1:])

    # what Home Assistant shows: last_reset on every cost sensor, as the period's start
    for step, seen in zip(steps, answer["steps"], strict=True):
        for key in ("cost_today", "cost_month"):
            attributes = seen[unique[key]]["attributes"]
            assert attributes["state_class"] == "total"
            assert attributes["last_reset"] == step["expect"][unique[key]]["last_reset"]
        for key in ("import_today", "export_today", "import_month"):
            attributes = seen[unique[key]]["attributes"]
            assert attributes["state_class"] == "total_increasing"
            assert "last_reset" not in attributes
    assert answer["steps"][2][unique["cost_today"]]["state"] == "unknown"  # not yesterday's

    # the long-term statistics: one row per 5 minutes, sums only rise
    first = TIMELINE[0][0].astimezone(UTC).replace(minute=45, second=0)
    starts = [(first + timedelta(minutes=5 * n)).isoformat() for n in range(5)]
    wanted = {"cost_today": 0.20, "cost_month": 0.20, "import_today": 150,
              "import_month": 150, "export_today": 20}
    statistics = answer["statistics"]
    for key, total in wanted.items():
        rows = statistics[unique[key]]["5minute"]
        assert [row["start"] for row in rows] == starts, key
        sums = [row["sum"] for row in rows]
        assert all(later >= earlier - 1e-9 for earlier, later in itertools.pairwise(sums)), \
            (key, sums)
        assert sums[-1] == pytest.approx(total), (key, sums)
        [hour] = statistics[unique[key]]["hour"]  # 23:00-24:00 local, compiled at midnight
        assert hour["sum"] == pytest.approx(sums[2]), (key, hour)
    for key in ("cost_today", "cost_month"):  # the recorder took the period's start
        resets = {row["last_reset"] for row in statistics[unique[key]]["5minute"]}
        assert len(resets) == 2, (key, resets)
    control = [row["sum"] for row in statistics[unique["control"]]["5minute"]]
    assert control[-1] == pytest.approx(0.05 - 1.20)  # as it was: midnight made a minus
    assert all(row["sum"] is None for row in statistics[unique["peak_month"]]["5minute"])

    judges = ("homeassistant.components.sensor", "homeassistant.components.mqtt",
              "homeassistant.components.recorder", "homeassistant.helpers.template")
    complaints = [(name, text) for name, text in answer["warnings"] if name.startswith(judges)]
    assert complaints == []  # no state class, unit, last_reset or template warnings
