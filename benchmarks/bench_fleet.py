"""The fleet path, measured: readings through Mosquitto into PostgreSQL.

1. Ingest: how many readings a second one collector commits (MQTT, JSON, COPY, the fleet
   page's small tables). Its session is made first and the readings published while it is away,
   so it starts with a full queue. Then PostgreSQL alone on the same readings: the
   collector's store against the per-row INSERT of the reader's own PostgreSQL output
   (``sinks/postgres.py``).
2. Live: ``--meters`` simulated meters publish once a second for ``--seconds`` through
   Mosquitto, two ``collect`` processes share them; prints the delay from the reading's
   receive time to its commit (p50/p95/max per collector), how far the load fell behind its
   schedule, and checks that every reading is in the table once.

Mosquitto and PostgreSQL are started privately on 127.0.0.1 (the Debian packages, as the
tests use them).

    .venv/bin/python benchmarks/bench_fleet.py [--readings 50000] [--meters 10000]
        [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import Mosquitto, Postgres  # the tests' private servers
from smartmeter_readout.fleet.rows import rows_of
from smartmeter_readout.fleet.store import FleetStore
from smartmeter_readout.reading import Measurement, MeterIdentity, Reading
from smartmeter_readout.sim.fleet_load import FleetLoad, reading_json
from smartmeter_readout.sinks.postgres import PostgresSink

CLI = [sys.executable, "-m", "smartmeter_readout"]
BROKER = ("max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
          "autosave_interval 600\n")  # saving a large queue every second starves the broker


def collector(config: Path, name: str, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    stats = folder / f"{name}.json"
    stats.unlink(missing_ok=True)
    process = subprocess.Popen([*CLI, "collect", "--config", str(config), "--client-id", name,
                                "--stats", str(stats), "-q"], stdout=subprocess.DEVNULL)
    while not stats.exists():
        time.sleep(0.05)
    return process, stats


def committed(stats: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(stats.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def count(dsn: str, table: str = "readings") -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


def insert_baseline(dsn: str, readings: int) -> float:
    """Readings a second through the reader's PostgreSQL output (executemany INSERT)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[Reading] = []
    for number in range(readings):
        data = json.loads(reading_json(f"base{number % 10_000:05d}",
                                       moment + timedelta(seconds=number // 10_000),
                                       number // 10_000, moment))
        batch.append(Reading(
            time=datetime.fromisoformat(data["time"]), received=moment,
            meter=MeterIdentity(id=data["meter"]["id"]), frame_counter=data["frame_counter"],
            values={obis: Measurement(v["name"], v["value"], v["unit"])
                    for obis, v in data["values"].items()}))

    async def write() -> float:
        sink = PostgresSink({"dsn": dsn, "table": "baseline"})
        await sink.start()
        started = time.perf_counter()
        for start in range(0, len(batch), 500):  # the service's batches
            await sink.write(batch[start : start + 500])
        elapsed = time.perf_counter() - started
        await sink.close()
        return elapsed

    return readings / asyncio.run(write())


def copy_only(dsn: str, readings: int) -> float:
    """Readings a second through the collector's store alone (no MQTT, no JSON)."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [rows_of(reading_json(f"copy{number % 10_000:05d}",
                                 moment + timedelta(seconds=number // 10_000),
                                 number // 10_000, moment)) for number in range(readings)]

    async def write() -> float:
        store = FleetStore(dsn, "copied")
        await store.connect()
        started = time.perf_counter()
        for start in range(0, len(rows), 5000):
            await store.write([row for reading in rows[start : start + 5000] for row in reading])
        elapsed = time.perf_counter() - started
        await store.close()
        return elapsed

    return readings / asyncio.run(write())


def ingest(broker: Mosquitto, dsn: str, config: Path, folder: Path, readings: int) -> None:
    # the session of "live1", used again below: a session left behind would keep taking its
    # share of the group's readings while nobody reads them
    process, stats = collector(config, "live1", folder)  # makes its session
    process.terminate()
    process.wait()
    load = FleetLoad("127.0.0.1", broker.port, meters=10_000, interval=0.2, prefix="ing")
    load.start()
    load.run(readings / 10_000 * 0.2)
    load.wait_acknowledged(600)
    load.stop()
    started = time.perf_counter()
    process, stats = collector(config, "live1", folder)
    while committed(stats).get("committed", 0) < load.published:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    process.terminate()
    process.wait()
    rate = load.published / elapsed
    print(f"ingest, one collector: {load.published:,} queued readings ({load.published * 12:,} "
          f"rows) committed in {elapsed:.1f} s: {rate:,.0f} readings/s "
          f"({rate * 12:,.0f} rows/s), start-up included")
    baseline = insert_baseline(dsn, min(readings, 50_000))
    copied = copy_only(dsn, min(readings, 50_000))
    print(f"PostgreSQL alone, same readings, empty tables: per-row INSERT (sinks/postgres.py, "
          f"batches of 500) {baseline:,.0f} readings/s ({baseline * 12:,.0f} rows/s); COPY "
          f"straight into the table, with the page's small tables (fleet/store.py, batches "
          f"of 5,000) {copied:,.0f} "
          f"readings/s ({copied * 12:,.0f} rows/s)")
    print(f"the collector's whole path (MQTT, JSON, COPY, acknowledgements) reaches "
          f"{rate / copied:.0%} of its PostgreSQL part alone")


def live(broker: Mosquitto, dsn: str, config: Path, folder: Path, meters: int,
         seconds: float) -> None:
    before = count(dsn)  # what ingest() left
    collectors = [collector(config, name, folder) for name in ("live1", "live2")]
    load = FleetLoad("127.0.0.1", broker.port, meters=meters, interval=1.0, prefix="live")
    load.start()
    publishing = threading.Thread(target=load.run, args=(seconds,))
    started = time.perf_counter()
    publishing.start()
    publishing.join()
    published_in = time.perf_counter() - started
    acknowledged = load.wait_acknowledged(300)
    expected = before + load.published * 12
    deadline = time.monotonic() + 300
    while count(dsn) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    drained = time.perf_counter() - started
    if not acknowledged or count(dsn) < expected:  # say where it stuck instead of hanging
        print(f"live: STUCK: published {load.published:,} (in {published_in:.1f} s), "
              f"acknowledged by the broker {load.acknowledged:,}, published again "
              f"{load.retried:,}, refused {len(load.refused):,} {load.refused[:3]}, in the "
              f"table {(count(dsn) - before) // 12:,}")
    load.stop()
    for process, _stats in collectors:
        process.terminate()
        process.wait()
    print(f"live: {meters:,} meters once a second for {seconds:g} s: {load.published:,} "
          f"readings, all in the table once: {count(dsn) == expected}; the load fell behind "
          f"its schedule by up to {load.behind:.2f} s; drained {drained - seconds:.1f} s "
          "after the last publish")
    for _process, stats in collectors:
        data = committed(stats)
        delays = data.get("delays", {})
        assert isinstance(delays, dict)
        print(f"  {stats.stem}: {data.get('committed'):,} readings in {data.get('batches')} "
              f"batches; receive -> commit p50 {delays.get('p50', 0):.2f} s, "
              f"p95 {delays.get('p95', 0):.2f} s, max {delays.get('max', 0):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=50_000)  # more, queued for one
    # collector that is away, stalled Mosquitto 2.0.11 (README "Many meters")
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    broker, database = Mosquitto(folder, extra=BROKER), Postgres()
    broker.start()
    database.start()
    config = folder / "collect.toml"
    config.write_text(f'[mqtt]\nport = {broker.port}\n[postgres]\ndsn = "{database.dsn}"\n'
                      "[collect]\nbatch_size = 5000\nbatch_seconds = 0.5\n")
    config.chmod(0o600)
    try:
        ingest(broker, database.dsn, config, folder, args.readings)
        live(broker, database.dsn, config, folder, args.meters, args.seconds)
    finally:
        broker.stop()
        database.stop()
        database.remove()


if __name__ == "__main__":
    main()
