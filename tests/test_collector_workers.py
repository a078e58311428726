"""Issue 25: ``collect --workers 2``, two collector processes of one share group under one
watcher, through a real Mosquitto into a real PostgreSQL: the readings are shared and each
lands once, a poison message is dropped by whichever worker gets it and stops neither, a
worker killed is started again and loses nothing, SIGTERM stops both cleanly, and
``--retire --workers 2`` commits what the broker kept for both sessions and ends them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from livekit import CLI, ENV, until
from servers import Mosquitto, Postgres
from smartmeter_readout.sim.fleet_load import reading_json
from test_fleet import _rows

VALUES = 12  # numeric values per reading of the load
MOMENT = datetime(2026, 11, 30, 10, tzinfo=UTC)
POISON = (b"{", b"null", b"[" * 5000 + b"]" * 5000, b'{"time": "2026-11-30T10:00:00",'
          b' "values": {}}', b'{"time": "2026-11-30T10:00:00Z", "values": {"x": 5}}', b"\xff")


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def _stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _publish(port: int, first: int, meters: int = 100, ticks: int = 5) -> int:
    """``meters`` meters, ``ticks`` readings each from tick ``first``, a poison message after
    every hundredth; the readings published."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"load{first}",
                         protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent = []
    try:
        for tick in range(first, first + ticks):
            moment = MOMENT + timedelta(seconds=tick)
            for number in range(meters):
                meter = f"w{number:03d}"
                sent.append(client.publish(f"smartmeter/{meter}/state", reading_json(
                    meter, moment, tick, moment), qos=1))
                if number % 100 == 0:
                    poison = POISON[(tick + number // 100) % len(POISON)]
                    sent.append(client.publish("smartmeter/poison/state", poison, qos=1))
        for info in sent:
            info.wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()
    return meters * ticks


def test_two_workers_share_the_load_survive_poison_and_a_kill_and_stop_together(
        tmp_path: Path, fleet: tuple[Mosquitto, Postgres, Path]) -> None:
    broker, database, config = fleet
    stats = [tmp_path / "stats.json", tmp_path / "stats-2.json"]
    log = tmp_path / "collect.log"
    with log.open("ab") as stderr:
        process = subprocess.Popen([*CLI, "collect", "--config", str(config), "--client-id",
                                    "w", "--stats", str(stats[0]), "--workers", "2"],
                                   env=ENV, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        until(lambda: all(path.exists() for path in stats), "both workers' subscriptions")
        workers = _children(process.pid)
        assert len(workers) == 2, workers

        # 1. shared: every reading once, the poison dropped, both workers still there
        expected = _publish(broker.port, 0)
        until(lambda: _rows(database.dsn)[0] == expected * VALUES, "the readings",
              timeout=120)
        until(lambda: sum(_stats(path).get("rejected", 0) for path in stats) == 5,
              "the poison dropped", timeout=60)
        assert all(_stats(path).get("committed", 0) > 0 for path in stats)  # both had some
        assert _children(process.pid) == workers and process.poll() is None

        # 2. a worker killed mid-run is started again (its session waits) and loses nothing
        os.kill(workers[1], signal.SIGKILL)
        until(lambda: len(_children(process.pid)) == 2 and workers[1] not in _children(
            process.pid), "the killed worker started again")
        expected += _publish(broker.port, 100)
        until(lambda: _rows(database.dsn)[0] == expected * VALUES,
              "the readings after the restart", timeout=120)
        workers = _children(process.pid)

        # 3. SIGTERM stops both, and the watcher with 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)

    # 4. away for good: what the broker kept for both sessions is committed by --retire
    expected += _publish(broker.port, 200)
    retired = subprocess.run([*CLI, "collect", "--config", str(config), "--client-id", "w",
                              "--workers", "2", "--retire"], env=ENV, capture_output=True,
                             text=True, timeout=120, check=False)
    assert retired.returncode == 0, retired.stderr
    assert retired.stderr.count("retired") == 2, retired.stderr
    assert _rows(database.dsn) == (expected * VALUES, expected)
    text = log.read_text() + retired.stderr
    assert text.count("is no reading") == 15, text  # 5 per round, each dropped once
    assert "Traceback" not in text and "internal error" not in text
    assert "ended (exit code -9); starting it again" in text
