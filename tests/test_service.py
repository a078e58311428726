"""The service: SQLite history, the durable outbox, isolated outputs, run/demo/history."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livekit import CLI, ENV, jsonl, run
from smartmeter_readout import Decoder
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.live.reader import LiveReader
from smartmeter_readout.reading import Reading
from smartmeter_readout.service.outbox import Outbox
from smartmeter_readout.service.service import Service
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sinks.base import SinkBase, SinkError
from smartmeter_readout.sources.simulated import SimulatedConnector

KEY = bytes(range(16))
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def readings(count: int, step: float = 10.0, profile: str = "vkw") -> list[Reading]:
    sim = Simulator(profile, key=KEY, seed=3)
    decoder = Decoder(KEY)
    out: list[Reading] = []
    for i in range(count):
        out += decoder.feed(sim.push(T0 + timedelta(seconds=i * step)).wire)
    return out


def test_store_keeps_readings_and_aggregates(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    batch = readings(180)  # 30 minutes at 10 s
    store.write(batch[:100])
    store.write(batch[100:])
    raw = store.readings()
    assert len(raw) == 180 and raw[0] == batch[0].to_dict()  # the JSON contract
    quarter = store.intervals("15m")
    assert [q["start"] for q in quarter] == ["2026-03-01T10:00:00+00:00",
                                             "2026-03-01T10:15:00+00:00"]
    energy = "1.0.1.8.0.255"
    first = quarter[0]["values"][energy]
    second = quarter[1]["values"][energy]
    assert first["count"] == 90
    counter = [r.values[energy].value for r in batch]
    assert first["delta"] == counter[89] - counter[0]
    assert second["delta"] == counter[179] - counter[89]  # from the end of the one before
    power = quarter[0]["values"]["1.0.1.7.0.255"]
    values = [r.values["1.0.1.7.0.255"].value for r in batch[:90]]
    assert power["min"] == min(values) and power["max"] == max(values)
    assert power["mean"] == pytest.approx(sum(values) / 90)
    [hour] = store.intervals("1h")
    assert hour["values"][energy]["delta"] == counter[179] - counter[0]
    minutes = store.intervals("1m", since=T0, until=T0 + timedelta(minutes=5))
    assert len(minutes) == 5
    assert store.prune(0) == 180 and store.readings() == []
    assert len(store.intervals("15m")) == 2  # aggregates are kept
    store.close()


def test_outbox_keeps_order_across_reopening_and_bounds_its_size(tmp_path: Path) -> None:
    batch = readings(30)
    box = Outbox(tmp_path / "o.sqlite", max_readings=100)
    box.append(["mqtt", "influxdb"], batch[:20])
    rows = box.peek("mqtt", 5)
    assert [r.frame_counter for _, r in rows] == [b.frame_counter for b in batch[:5]]
    box.remove("mqtt", rows[-1][0])
    box.close()
    box = Outbox(tmp_path / "o.sqlite", max_readings=25)
    assert box.backlog("mqtt") == 15 and box.backlog("influxdb") == 20
    box.append(["mqtt", "influxdb"], batch[20:])
    assert box.backlog("influxdb") == 25 and box.dropped["influxdb"] == 5
    left = [r.frame_counter for _, r in box.peek("influxdb", 100)]
    assert left == [b.frame_counter for b in batch[5:]]  # the oldest went first
    assert [r for _, r in box.peek("mqtt", 100)] == batch[5:]  # whole readings come back
    box.close()


class FlakySink(SinkBase):
    """A network output that is down for the first ``down`` seconds."""

    durable = True

    def __init__(self, name: str, down: float) -> None:
        self.name = name
        self.until = time.monotonic() + down
        self.got: list[int | None] = []

    async def start(self) -> None:
        pass

    async def write(self, batch: Sequence[Reading]) -> None:
        if time.monotonic() < self.until:
            raise SinkError("connection refused")
        self.got += [r.frame_counter for r in batch]

    async def close(self) -> None:
        pass


class StuckSink(SinkBase):
    durable = False
    name = "stuck"

    async def start(self) -> None:
        pass

    async def write(self, batch: Sequence[Reading]) -> None:
        await asyncio.sleep(3600)

    async def close(self) -> None:
        pass


def _service(sinks: list[object], outbox: Outbox, count: int | None,
             seed_counter: int) -> Service:
    sim = Simulator("vkw", key=KEY, frame_counter=seed_counter)
    reader = LiveReader(SimulatedConnector(sim, 0.02), Decoder(KEY))
    return Service(reader, sinks, outbox=outbox, count=count)  # type: ignore[arg-type]


def test_down_output_catches_up_in_order_across_a_restart(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    async def scenario() -> tuple[list[int | None], list[int | None]]:
        flaky = FlakySink("mqtt", down=60)
        first = _service([flaky, StuckSink()], Outbox(tmp_path / "o.sqlite"), 20, 1000)
        await asyncio.wait_for(first.run(), 20)  # the stuck output must not block reading
        assert first.readings == 20 and flaky.got == []
        back = FlakySink("mqtt", down=0.5)
        second = _service([back], Outbox(tmp_path / "o.sqlite"), None, 2000)
        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop))
        deadline = asyncio.get_running_loop().time() + 120  # a safety net, not a timing
        while (second.state["mqtt"].delivered < 30
               and asyncio.get_running_loop().time() < deadline):
            await asyncio.sleep(0.05)  # wait for the deliveries, however loaded the machine
        stop.set()
        await task
        return flaky.got, back.got

    caplog.set_level(logging.INFO, "smartmeter_readout")
    _, delivered = asyncio.run(scenario())
    assert len(delivered) >= 30
    # once each, in order: the first run's readings, then the second's
    assert delivered == [*range(1001, 1021), *range(2001, 2001 + len(delivered) - 20)]
    assert "mqtt: cannot deliver (connection refused)" in caplog.text
    assert "mqtt: delivering again" in caplog.text
    assert caplog.text.count("mqtt: cannot deliver") <= 2  # state changes, not every retry
    left = Outbox(tmp_path / "o.sqlite")
    waiting = [r.frame_counter for _, r in left.peek("mqtt", 10_000)]
    left.close()
    assert all(c is not None and c > delivered[-1] for c in waiting)  # nothing goes twice


def test_demo_stores_and_history_reads_back(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    result = run(["demo", "--interval", "0.1", "--count", "5", "--console", "jsonl",
                  "--sqlite", db])
    assert result.returncode == 0, result.stderr
    printed = jsonl(result.stdout)
    assert len(printed) == 5
    raw = run(["history", "--sqlite", db, "--step", "raw", "--format", "json"])
    assert json.loads(raw.stdout) == printed
    quarter = run(["history", "--sqlite", db, "--step", "15m", "--format", "csv"])
    assert quarter.stdout.startswith("start,end,meter,")
    assert "active_energy_import_delta_Wh" in quarter.stdout.splitlines()[0]


def test_run_stops_cleanly_on_sigterm_and_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    service = subprocess.Popen([*CLI, "run", "--simulate", "wienernetze", "--sqlite", str(db),
                                "--console", "jsonl"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**ENV, "SMARTMETER_SOURCE_INTERVAL": "0.1"})
    time.sleep(2.5)
    started = time.monotonic()
    service.send_signal(signal.SIGTERM)
    out, err = service.communicate(timeout=15)
    assert time.monotonic() - started < 5
    assert service.returncode == 0, err
    printed = jsonl(out)
    assert len(printed) >= 5
    stored = HistoryStore(db).readings()
    assert stored == printed  # every reading printed is also stored
    assert "stopped after" in err


@pytest.mark.parametrize(("args", "env", "message"), [
    (["run"], {}, "[source] needs one of port, tcp, simulate or replay"),
    (["run", "--simulate", "nowhere"], {}, "[source] simulate = 'nowhere' is not a profile"),
    (["run", "--port", "/dev/ttyUSB0"], {"SMARTMETER_METER_OPERATOR": "atlantis"},
     "unknown operator 'atlantis'"),
    (["run", "--simulate", "vkw"], {"SMARTMETER_METER_TIMEZONE": "Mars/Olympus"},
     "is not a time zone"),
    (["run", "--simulate", "vkw", "--key", "123"], {}, "[meter]"),
    (["run", "--simulate", "vkw"], {"SMARTMETER_MQTT_PORT": "0"},
     "[mqtt] port = 0 must be at least 1"),
    (["run", "--config", str(Path(__file__).resolve().parent.parent / "config" /
                             "smartmeter.example.toml")], {},
     "[meter] key = *** is the example's placeholder: put the key from your grid operator"),
])
def test_bad_configuration_stops_before_anything_starts(tmp_path: Path, args: list[str],
                                                        env: dict[str, str],
                                                        message: str) -> None:
    result = subprocess.run([*CLI, *args, "--sqlite", str(tmp_path / "x.sqlite")],
                            capture_output=True, text=True, timeout=30,
                            env={**ENV, **env}, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_history_without_a_database_says_so(tmp_path: Path) -> None:
    result = run(["history", "--sqlite", tmp_path / "none.sqlite"])
    assert result.returncode == 2 and "no history at" in result.stderr
    bad = run(["history", "--sqlite", tmp_path / "none.sqlite", "--since", "last tuesday"])
    assert bad.returncode == 2


def test_systemd_unit_runs_the_service_safely() -> None:
    unit = (Path(__file__).resolve().parent.parent / "deploy" /
            "smartmeter-readout.service").read_text()
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in unit.splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["ExecStart"].endswith("run --config /etc/smartmeter-readout/smartmeter.toml")
    assert lines["Restart"] == "on-failure" and lines["RestartPreventExitStatus"] == "2"
    assert lines["SupplementaryGroups"] == "dialout" and lines["User"] == "smartmeter"
    assert lines["StateDirectory"] == "smartmeter-readout"
    assert lines["NoNewPrivileges"] == "yes" and lines["ProtectSystem"] == "strict"
