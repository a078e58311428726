"""The fleet path: simulated meters publish readings to a real Mosquitto, two ``collect``
processes share them through an MQTT v5 shared subscription and COPY them into a real
PostgreSQL. One collector is killed with SIGKILL mid-run and started again, the broker and
the database are restarted: at the end every published reading is in the table exactly once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from livekit import CLI, ENV
from servers import Mosquitto, Postgres
from smartmeter_readout.fleet.rows import NotAReading, Row, copy_text, parse_reading, rows_of
from smartmeter_readout.sim.fleet_load import FleetLoad, reading_json
from smartmeter_readout.sim.simulator import Simulator

VALUES = 12  # numeric values per reading of the load


def wait(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout  # a safety net, not a timing
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_reading_of_the_contract_becomes_rows() -> None:
    push = Simulator("vkw", key=bytes(16)).push(datetime(2026, 11, 30, 12, tzinfo=UTC))
    from smartmeter_readout import Decoder

    [reading] = Decoder(bytes(16)).feed(push.wire)
    rows, received = parse_reading(json.dumps(reading.to_dict()), "ignored")
    numeric = [m for m in reading.values.values()
               if isinstance(m.value, int | float) and not isinstance(m.value, bool)]
    assert len(rows) == len(numeric) and received == reading.to_dict()["received"]
    assert {row.meter for row in rows} == {reading.meter_key}
    assert all(row.time == reading.to_dict()["time"] for row in rows)


@pytest.mark.parametrize(("payload", "why"), [
    (b"\xff\xfe", "not JSON in UTF-8"), (b"[1, 2]", "not a JSON object"),
    (b'{"time": "2026-11-30T10:00:00+01:00"}', "no time or no values"),
    (b'{"time": "yesterday", "values": {}}', "not ISO 8601"),
    (b'{"time": "2026-11-30T10:00:00", "values": {}}', "no UTC offset"),
    (b'{"time": "2026-11-30T10:00:00Z", "values": {"1.0.1.7.0.255": 5}}', "not an object"),
    (b'{"time": "2026-11-30T10:00:00Z", "values": {"1.0.1.7.0.255": {"value": 1, '
     b'"name": "x\\u0000"}}}', "NUL"),
    (b'{"time": "2026-11-30T10:00:00Z", "values": {"x": {"value": 1}}}', "not an OBIS code"),
])
def test_what_is_no_reading_is_said_not_raised(payload: bytes, why: str) -> None:
    with pytest.raises(NotAReading, match=why):
        rows_of(payload)


def test_numbers_beyond_a_table_of_doubles_are_left_out() -> None:
    payload = json.dumps({"time": "2026-11-30T10:00:00Z", "frame_counter": 1 << 70, "values": {
        "a": {"value": 10 ** 400}, "b": {"value": True}, "c": {"value": "text"},
        "d": {"value": float("nan")}, "e": {"value": float("-inf")},
        "1.0.1.7.0.255": {"value": 2.5, "name": "x\ty", "unit": "W"}}})
    [row] = rows_of(payload, "topic-meter")
    assert row == Row("2026-11-30T10:00:00Z", "topic-meter", "1.0.1.7.0.255", "x\ty", 2.5, "W",
                      None)
    assert copy_text([row]) == (b"2026-11-30T10:00:00Z\ttopic-meter\t1.0.1.7.0.255\tx\\ty\t2.5"
                                b"\tW\t\\N\n")


def test_the_load_publishes_the_contract() -> None:
    moment = datetime(2026, 11, 30, 10, tzinfo=UTC)
    rows = rows_of(reading_json("sim00001", moment, 3, moment))
    assert len(rows) == VALUES and rows[0].meter == "sim00001"




def _collector(config: Path, name: str, folder: Path) -> subprocess.Popen[bytes]:
    stats = folder / f"{name}.json"
    stats.unlink(missing_ok=True)
    with (folder / f"{name}.log").open("ab") as log:  # the child keeps its own copy
        process = subprocess.Popen([*CLI, "collect", "--config", str(config), "--client-id",
                                    name, "--stats", str(stats), "-q"], env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=log)
    wait(stats.exists, f"collector {name} never subscribed", timeout=60)
    return process


def _rows(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*), count(DISTINCT (meter, time)) FROM readings"
                                 ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def test_every_reading_lands_once_through_kill_and_restarts(
        tmp_path: Path, fleet: tuple[Mosquitto, Postgres, Path]) -> None:
    broker, database, config = fleet
    collectors = {name: _collector(config, name, tmp_path) for name in ("c1", "c2")}
    # 10,000 meters, each pushing every 10 s: 1,000 readings a second for 30 s
    load = FleetLoad("127.0.0.1", broker.port, meters=10_000, interval=10.0)
    load.start()
    publishing = threading.Thread(target=load.run, args=(30.0,))
    publishing.start()
    try:
        wait(lambda: load.published >= 12_000, "the load did not start")
        collectors["c1"].send_signal(signal.SIGKILL)  # mid-batch, nothing acknowledged
        collectors["c1"].wait()
        collectors["c1"] = _collector(config, "c1", tmp_path)  # its session is waiting
        wait(lambda: load.published >= 15_000, "the load stalled")
        broker.stop()
        time.sleep(2)  # an outage, not a wait for an event
        broker.start()
        wait(lambda: load.published >= 22_000, "the load stalled after the broker restart")
        database.stop()
        time.sleep(2)
        database.start()
        publishing.join()
        assert load.wait_acknowledged(120), "the broker never acknowledged every reading"
        expected = load.published * VALUES
        wait(lambda: _rows(database.dsn)[0] >= expected, "readings are missing", timeout=240)
        time.sleep(1)  # redelivered batches still in flight would show now
        rows, readings = _rows(database.dsn)
    finally:
        load.stop()
        for process in collectors.values():
            process.terminate()
            process.wait(30)
    assert load.published == 30_000
    assert (rows, readings) == (expected, load.published)
    with psycopg.connect(database.dsn) as connection:
        [(aggregated,)] = connection.execute(
            "SELECT sum(count) FROM readings_15min WHERE obis = '1.0.1.8.0.255'").fetchall()
    assert aggregated == load.published  # each reading counted once in the aggregates
    logs = "".join((tmp_path / f"{name}.log").read_text() for name in ("c1", "c2"))
    assert "Traceback" not in logs


def _meter_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        return {meter: int(count) for meter, count in connection.execute(
            "SELECT meter, count(*) FROM readings WHERE name = 'active_energy_import' "
            "GROUP BY meter").fetchall()}


def test_a_retired_collector_hands_over_what_was_queued_for_it(
        tmp_path: Path, fleet: tuple[Mosquitto, Postgres, Path]) -> None:
    broker, database, config = fleet
    gone = _collector(config, "gone", tmp_path)
    staying = _collector(config, "staying", tmp_path)
    gone.send_signal(signal.SIGKILL)  # away for good: its session keeps its share
    gone.wait()
    load = FleetLoad("127.0.0.1", broker.port, meters=500, interval=1.0)
    load.start()
    try:
        load.run(4.0)
        assert load.wait_acknowledged(60)
        first = load.published
        # about half of it waits in the absent collector's session, whenever we look
        assert _rows(database.dsn)[1] < first
        retired = subprocess.run([*CLI, "collect", "--config", str(config), "--client-id",
                                  "gone", "--retire"], env=ENV, capture_output=True,
                                 text=True, timeout=120, check=False)
        assert retired.returncode == 0, retired.stderr
        assert "the session ended" in retired.stderr
        wait(lambda: _rows(database.dsn)[1] == first, "the queued readings were not committed")
        # from now on every reading goes to the collector that stays, none waits for "gone"
        load.run(3.0)
        assert load.wait_acknowledged(60)
        wait(lambda: _rows(database.dsn)[1] == load.published, "readings wait for 'gone'",
             timeout=60)
    finally:
        load.stop()
        staying.terminate()
        staying.wait(30)
    rows, readings = _rows(database.dsn)
    assert (rows, readings) == (load.published * VALUES, load.published)


def test_real_readers_lose_nothing_through_a_broker_restart(
        tmp_path: Path, fleet: tuple[Mosquitto, Postgres, Path]) -> None:
    """Three ``run`` processes on simulators with ``require_subscriber``: what they publish
    before any collector subscribed, and around a broker restart (Mosquitto 2.0 restores
    shared subscriptions only when the collectors subscribe again), waits in their outboxes
    and lands in PostgreSQL."""
    broker, database, config = fleet
    readers: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    collectors: list[subprocess.Popen[bytes]] = []
    for name in ("Haus 1", "Haus 2", "Haus 3"):
        folder = tmp_path / name.replace(" ", "")
        folder.mkdir()
        env = {**ENV, "SMARTMETER_METER_NAME": name, "SMARTMETER_MQTT_HOST": "127.0.0.1",
               "SMARTMETER_MQTT_PORT": str(broker.port), "SMARTMETER_MQTT_HOMEASSISTANT": "0",
               "SMARTMETER_MQTT_REQUIRE_SUBSCRIBER": "1", "SMARTMETER_WEB_ENABLED": "0",
               "SMARTMETER_SOURCE_INTERVAL": "1"}  # one a second: the key is the second
        with (folder / "run.log").open("w") as log:
            readers[name] = (subprocess.Popen(
                [*CLI, "run", "--simulate", "vkw", "--sqlite", str(folder / "h.sqlite")],
                env=env, stdout=subprocess.DEVNULL, stderr=log), folder)
    try:
        # no collector yet: the broker takes the readings with "no matching subscribers"
        wait(lambda: all("nobody took the reading" in (folder / "run.log").read_text()
                         for _process, folder in readers.values()),
             "the readers did not notice that nobody subscribed")
        collectors = [_collector(config, name, tmp_path) for name in ("c1", "c2")]
        wait(lambda: len(_meter_counts(database.dsn)) == 3
             and all(count >= 5 for count in _meter_counts(database.dsn).values()),
             "the readers' first readings")
        broker.stop()
        time.sleep(3)  # an outage, not a wait for an event
        broker.start()
        after = datetime.now(UTC).timestamp() + 5

        def all_arrived() -> bool:
            for name, (_process, folder) in readers.items():
                stored = _sqlite_times(folder)
                if not stored or max(stored) < after:
                    return False  # not yet past the restart
                if not {t for t in stored if t <= after} <= _postgres_times(database.dsn,
                                                                               name):
                    return False
            return True

        wait(all_arrived, "a reading stored by its reader never reached PostgreSQL",
             timeout=180)
    finally:
        for process, _folder in readers.values():
            process.terminate()
            process.wait(30)
        for process in collectors:
            process.terminate()
            process.wait(30)
    for _process, folder in readers.values():
        assert "Traceback" not in (folder / "run.log").read_text()
        assert len(_sqlite_times(folder, after)) >= 10


def _sqlite_times(folder: Path, until: float | None = None) -> set[float]:
    from smartmeter_readout.history.query import HistoryQuery

    query = HistoryQuery(folder / "h.sqlite")
    try:
        return {datetime.fromisoformat(reading["time"]).timestamp()
                for reading in query.readings(None, None if until is None
                                              else datetime.fromtimestamp(until, UTC))}
    finally:
        query.close()


def _postgres_times(dsn: str, meter: str) -> set[float]:
    with psycopg.connect(dsn) as connection:
        return {row[0].timestamp() for row in connection.execute(
            "SELECT time FROM readings WHERE meter = %s AND name = 'active_energy_import'",
            (meter,)).fetchall()}


def test_a_batch_that_comes_again_lands_once_and_the_small_tables_follow() -> None:
    import asyncio

    from smartmeter_readout.fleet.store import FleetStore

    database = Postgres()
    database.start()
    moment = datetime(2026, 11, 2, 9, 14, 50, tzinfo=UTC)

    def batch(first: int, count: int) -> list[Row]:
        return [row for second in range(first, first + count)
                for row in rows_of(reading_json("m1", moment + timedelta(seconds=second),
                                                second, moment))]

    async def scenario() -> list[Any]:
        store = FleetStore(database.dsn)
        landed = [await store.write(batch(0, 20))]  # 09:14:50 to 09:15:09
        landed.append(await store.write(batch(10, 20)))  # half of it came before
        other = FleetStore(database.dsn)  # another collector, with an older reading
        landed.append(await other.write(batch(-5, 1)))
        await store.close()
        await other.close()
        return landed

    try:
        assert asyncio.run(scenario()) == [20 * VALUES, 10 * VALUES, VALUES]
        with psycopg.connect(database.dsn) as connection:
            assert connection.execute("SELECT count(*) FROM readings").fetchone() == (31 * VALUES,)
            firsts = connection.execute(
                "SELECT start, first_time FROM readings_quarters WHERE name = "
                "'active_energy_import' ORDER BY start").fetchall()
            latest = connection.execute("SELECT time FROM readings_latest").fetchall()
    finally:
        database.stop()
        database.remove()
    # the earliest reading of each quarter hour, whichever collector saw it
    assert [(start.strftime("%H:%M"), first.strftime("%H:%M:%S")) for start, first in firsts
            ] == [("09:00", "09:14:45"), ("09:15", "09:15:00")]
    assert [row[0].strftime("%H:%M:%S") for row in latest] == ["09:15:19"]


def test_shared_property_tables_keep_pahos_behaviour() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import MQTTException, Properties

    from smartmeter_readout.fleet.collector import _share_property_tables

    def packed() -> bytes:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        properties.ReceiveMaximum = 10_000
        return bytes(properties.pack())  # type: ignore[no-untyped-call]

    before = packed()
    _share_property_tables()
    assert packed() == before == b"\x08\x11\x00\x00\x0e\x10!'\x10"
    with pytest.raises(MQTTException):  # a property of another packet type is refused
        Properties(PacketTypes.PUBLISH).ReceiveMaximum = 5  # type: ignore[no-untyped-call]
    first, second = Properties(PacketTypes.PUBLISH), Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    assert first.names is second.names and first.packetType != second.packetType
