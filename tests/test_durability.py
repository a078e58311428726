"""No reading lost in silence (issue 27, items 7, 8 and 9).

A stop while the disk is full keeps what could not be written and stores it at the next start
(the history and the network outputs alike); a crash (``kill -9``) never leaves MQTT with a
reading the history lacks; a database damaged while the service runs is a warning and the
SQLite output's state, and so is an outbox set aside at start. The full disk is a small tmpfs
the test mounts (root, as in CI), the broker a real Mosquitto.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livekit import CLI, ENV, until
from servers import Mosquitto, free_port, wait_listening
from smartmeter_readout import Decoder
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.live.reader import LiveReader
from smartmeter_readout.reading import Reading
from smartmeter_readout.service.outbox import Outbox, OutboxError
from smartmeter_readout.service.service import Service
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sinks.base import SinkBase
from smartmeter_readout.sources.simulated import SimulatedConnector
from test_faults import fill, small_disk
from test_mqtt import STATE, Listener

KEY = bytes(range(16))


class Running:
    """``run`` in a subprocess, its stdout (JSON lines) and stderr read as they come."""

    def __init__(self, args: Sequence[str | Path], env: dict[str, str]) -> None:
        self.process = subprocess.Popen([*CLI, "run", *map(str, args)], env={**ENV, **env},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.printed: list[dict[str, Any]] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.process.stdout, self.printed),
                                              (self.process.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[Any]) -> None:
        for line in stream:
            if line.strip():
                into.append(json.loads(line) if line.startswith("{") else line)

    @property
    def log(self) -> str:
        return "".join(self.err)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(60)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def _key(reading: dict[str, Any]) -> tuple[str, int]:
    return reading["time"], reading["frame_counter"]


def _stored(path: Path) -> set[tuple[str, int]]:
    store = HistoryStore(path)
    try:
        return {_key(reading) for reading in store.readings(limit=1_000_000)}
    finally:
        store.close()


def test_a_stop_while_the_disk_is_full_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    """SIGTERM while the history and the outbox cannot write: what they hold is spilled into
    the space held back for it, the exit is clean, and the next start stores and sends it."""
    env = {"SMARTMETER_SOURCE_INTERVAL": "0.05", "SMARTMETER_MQTT_HOST": "127.0.0.1",
           "SMARTMETER_MQTT_PORT": str(broker.port), "SMARTMETER_WEB_ENABLED": "false"}
    listener = Listener(broker.port)
    try:
        with small_disk(tmp_path / "disk", "8m") as disk:
            db = disk / "h.sqlite"
            args = ["--simulate", "vkw", "--sqlite", db, "--console", "jsonl"]
            first = Running(args, env)
            until(lambda: len(listener.on(STATE)) >= 10, "the first readings over MQTT")
            filler = fill(disk)
            until(lambda: "sqlite: cannot deliver" in first.log, "the history failing")
            until(lambda: "outbox:" in first.log, "the outbox failing")
            during = len(first.printed)
            until(lambda: len(first.printed) >= during + 40, "readings during the outage")
            code = first.stop()
            log = first.log
            assert code == 0, log
            assert "kept for the next start" in log and "are lost" not in log
            read = {_key(reading) for reading in first.printed}
            filler.unlink()  # the space comes back

            second = Running(args, env)
            until(lambda: read <= {_key(json.loads(p)) for p in listener.on(STATE)},
                  "every reading of the first run over MQTT", timeout=120)
            until(lambda: len(second.printed) >= 3, "the second run reading")
            assert second.stop() == 0, second.log
            assert "readings kept at the last stop are stored first" in second.log
            stored = _stored(db)
    finally:
        listener.close()
    assert read <= stored, f"{len(read - stored)} of {len(read)} readings not in the history"
    assert {_key(reading) for reading in second.printed} <= stored


class Killer(Listener):
    """Kills ``target`` the moment the broker hands over reading number ``after``: the
    moment the history would lag behind MQTT, if it did."""

    target: subprocess.Popen[str] | None = None
    after = 0

    def _message(self, client: object, userdata: object, message: Any) -> None:
        super()._message(client, userdata, message)
        if (self.target is not None and message.topic == STATE
                and len(self.on(STATE)) >= self.after):
            self.target.kill()
            self.target = None


def test_killed_again_and_again_mqtt_has_nothing_the_history_lacks(
        tmp_path: Path, broker: Mosquitto) -> None:
    """The network outputs get a reading once the history holds it: a ``kill -9`` at any
    moment leaves every reading the broker got in the history."""
    env = {"SMARTMETER_SOURCE_INTERVAL": "0.02", "SMARTMETER_MQTT_HOST": "127.0.0.1",
           "SMARTMETER_MQTT_PORT": str(broker.port), "SMARTMETER_WEB_ENABLED": "false"}
    db = tmp_path / "h.sqlite"
    listener = Killer(broker.port)
    try:
        for round_ in range(25):
            listener.after = len(listener.on(STATE)) + 3 + round_ % 5
            running = Running(["--simulate", "vkw", "--sqlite", db], env)
            listener.target = running.process
            until(lambda: running.process.poll() is not None, "the kill")  # noqa: B023
            running.stop(signal.SIGKILL)
        sent = {_key(json.loads(payload)) for payload in listener.on(STATE)}
    finally:
        listener.close()
    stored = _stored(db)
    assert sent and sent <= stored, f"{len(sent - stored)} readings only in MQTT"


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _damage(path: Path) -> None:
    """Garbage over an old page of the raw readings (not the last: the writes go on there,
    so only a read of the history meets the damage, as a bad sector would do)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = [row[0] for row in db.execute(
            "SELECT pageno FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf' "
            "ORDER BY pageno")]
    finally:
        db.close()
    assert len(pages) >= 3
    with path.open("r+b") as file:
        file.seek((pages[1] - 1) * size)
        file.write(os.urandom(size))


def test_a_database_damaged_while_running_is_a_warning_and_the_outputs_state(
        tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    port = free_port()
    running = Running(["--simulate", "vkw", "--sqlite", db],
                      {"SMARTMETER_SOURCE_INTERVAL": "0.05", "SMARTMETER_WEB_PORT": str(port)})
    try:
        wait_listening(port, timeout=30)
        url = f"http://127.0.0.1:{port}/api/v1"
        until(lambda: _get(f"{url}/status")[1]["readings"] >= 40, "readings")
        _damage(db)
        status, answer = _get(f"{url}/history?step=raw&from=-1h")
        assert status == 503 and "malformed" in answer["error"]
        sqlite = next(output for output in _get(f"{url}/status")[1]["outputs"]
                      if output["name"] == "sqlite")
        assert not sqlite["up"] and "damaged" in sqlite["error"]
    finally:
        running.stop()
    warnings = [line for line in running.err if " WARNING " in line]
    assert any("damaged" in line and str(db) in line for line in warnings), running.log


class Collecting(SinkBase):
    durable = True
    name = "mqtt"

    def __init__(self) -> None:
        self.got: list[Reading] = []

    async def write(self, batch: Sequence[Reading]) -> None:
        self.got += batch


def test_a_damaged_outbox_is_a_warning_and_shown_in_the_status(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"SQLite format 3\0" + os.urandom(8000))
    sink = Collecting()
    reader = LiveReader(SimulatedConnector(Simulator("vkw", key=KEY), 0.02), Decoder(KEY))
    service = Service(reader, [sink], outbox=Outbox(path), count=3)
    caplog.set_level(logging.INFO, "smartmeter_readout")
    asyncio.run(asyncio.wait_for(service.run(), 60))
    [output] = service.status().outputs
    assert output.up and "damaged" in output.error and "fresh outbox" in output.error
    assert any(record.levelno == logging.WARNING and "damaged" in record.getMessage()
               for record in caplog.records)
    assert len(sink.got) == 3 and list(tmp_path.glob("outbox.sqlite.damaged-*"))


class SlowHistory(SinkBase):
    """A history that stores only when the test lets it."""

    durable = False
    name = "sqlite"
    history = True

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.got: list[Reading] = []

    async def write(self, batch: Sequence[Reading]) -> None:
        await self.go.wait()
        self.got += batch


def test_the_network_outputs_wait_for_the_history(tmp_path: Path) -> None:
    """The order that makes a crash harmless: history first, then the outbox."""
    async def scenario() -> tuple[int, list[Reading], list[Reading]]:
        history, network = SlowHistory(), Collecting()
        reader = LiveReader(SimulatedConnector(Simulator("vkw", key=KEY), 0.02), Decoder(KEY))
        service = Service(reader, [history, network], outbox=Outbox(tmp_path / "o.sqlite"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60  # a safety net, not a timing
        while service.readings < 5 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        before = len(network.got)  # the history has stored nothing yet
        history.go.set()
        while len(network.got) < 5 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return before, history.got, network.got

    before, stored, sent = asyncio.run(scenario())
    assert before == 0
    assert len(sent) >= 5
    assert {(r.time, r.frame_counter) for r in sent} <= {(r.time, r.frame_counter) for r in stored}


def test_the_outbox_leaves_a_shared_disk_to_the_history(tmp_path: Path) -> None:
    """Space that comes back goes to the history first: the outbox stores nothing while less
    than an eighth of the disk is free, the history takes its readings."""
    sim, decoder = Simulator("vkw", key=KEY, seed=5), Decoder(KEY)
    batch = [reading for push in sim.pushes(datetime(2026, 1, 1, tzinfo=UTC), 20)
             for reading in decoder.feed(push.wire)]
    with small_disk(tmp_path / "disk", "2m") as disk:
        store = HistoryStore(disk / "h.sqlite")
        outbox = Outbox(disk / "outbox.sqlite", history=disk / "h.sqlite")
        filler = fill(disk)
        os.truncate(filler, filler.stat().st_size - 160 * 1024)  # 160 kB come back
        with pytest.raises(OutboxError, match="nearly full"):
            outbox.append(["mqtt"], batch)
        store.write(batch)  # the history gets the room
        assert outbox.backlog("mqtt") == len(batch)  # waiting in memory, not lost
        filler.unlink()
        outbox.append(["mqtt"], [])  # room again: stored
        stored = [reading.frame_counter for _, reading in outbox.peek("mqtt", 100)]
        outbox.close()
        store.close()
    assert stored == [reading.frame_counter for reading in batch]


class Refusing(SinkBase):
    """A history that never stores and whose spill keeps only ``room`` readings."""

    durable = False
    name = "sqlite"

    def __init__(self, room: int) -> None:
        self.room = room

    async def write(self, batch: Sequence[Reading]) -> None:
        raise OSError("database or disk is full")

    def spill(self, readings: Sequence[Reading]) -> int:
        return min(self.room, len(readings))


def test_what_no_spill_takes_is_counted_and_named(caplog: pytest.LogCaptureFixture) -> None:
    reader = LiveReader(SimulatedConnector(Simulator("vkw", key=KEY), 0.02), Decoder(KEY))
    service = Service(reader, [Refusing(room=4)], count=10)
    caplog.set_level(logging.INFO, "smartmeter_readout")
    asyncio.run(asyncio.wait_for(service.run(), 60))
    assert service.lost == {"sqlite": 6}
    assert "sqlite: 4 readings not written before the stop are kept" in caplog.text
    assert "sqlite: 6 readings could not be stored before the stop and are lost" in caplog.text
