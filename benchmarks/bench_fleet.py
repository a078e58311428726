"""The fleet path, measured: readings through Mosquitto into PostgreSQL.

1. PostgreSQL alone: the collector's store (``fleet/store.py``: COPY straight into the
   table in batches of 5,000, with the page's small tables) on the same readings, its rows
   made before the clock starts.
2. Ingest: ``collect --workers W`` for W = 1 and 2, each on its own topic and table. Its
   sessions are made first and ``--readings`` readings (10,000 meters) published while it
   is away, so it starts with a full queue; timed from the subscription to the last
   commit (the start-up of the processes is printed apart).

   The machine is shared (other people's tests and benchmarks run beside it, and a single
   figure moved by a third between runs), so 1 and 2 take ``--rounds`` turns, each on
   empty tables, and each figure is the median of its rounds. Then, for comparison, the
   per-row INSERT of the reader's own PostgreSQL output (``sinks/postgres.py``).
3. Live: ``--meters`` simulated meters publish once a second for ``--seconds`` through
   Mosquitto, ``collect --workers 2`` shares them; prints the delay from the reading's
   receive time to its commit (p50/p95/max per worker), how far the load fell behind its
   schedule, and checks that every reading is in the table once.

The last two lines are ``collector: N readings/s with W workers = P % of PostgreSQL alone
(M readings/s)`` for 1 and 2 workers, medians of the rounds, the better of the two last.

Mosquitto and PostgreSQL are started privately on 127.0.0.1 (the Debian packages, as the
tests use them).

Profile (cProfile of one collector draining 30,000 queued readings, and a timeline of its
batches; December 2026, 2 cores), before the changes of issue 25: 6,503 readings/s, 46 % of
PostgreSQL alone (14,019), the collector at 100 % of a core, PostgreSQL at about 10 %:

- Python's cyclic garbage collector took half of the collector's time: for every PUBLISH,
  paho matched the topic against callback filters with a recursive closure (a cell, a
  function, a list and a tuple in a reference cycle), and the default thresholds (700) made
  it walk the 100,000 objects of the batches under way again and again (30,000 readings:
  5.9 s with it, 2.7 s without). Now a PUBLISH of QoS 0/1 is decoded by the collector into
  a tuple (no paho message, no properties object, no ``threading.Condition``, no matching),
  the objects of the start-up are frozen and the threshold is 10,000.
- paho and aiomqtt: five ``recv`` calls per message (a byte, the length byte by byte, the
  rest), paho's packet state machine, aiomqtt's message wrapper, its queue and a task
  switch per message, and the batcher woken at every message (77,772 ``asyncio.wait`` for
  30,000); each acknowledgement queued alone, with a write to paho's socket pair and a
  writer registered with the event loop. Now one ``recv`` of up to 256 kB fills a buffer,
  whole PUBLISH packets are taken from it without paho (paho reads the rest: other packets,
  one cut at the buffer's end, TLS), messages go into a list, the batcher wakes at the first
  message and at a full batch, and a batch's acknowledgements go as one write.
- parse_reading 26 µs a reading, of which the standard library's JSON 8 µs; the rest were
  checks done again for every reading: the time parsed and matched for each of them (all
  meters of one second share it). Now msgspec decodes into the five fields a row needs
  (2.3 µs; the rest of the reading is skipped unbuilt), a time is checked and turned into
  microseconds once, rows are made without a NamedTuple's Python ``__new__``: 14 µs.
- The batch was parsed, then written, then the next one read: the collector's CPU and
  PostgreSQL's took turns. Now a reading is parsed as it arrives, while the batch before is
  in PostgreSQL; commits stay in order.
- The page's small tables: psycopg dumped the arrays of texts element by element in Python
  (0.65 s of 9 s); now each goes as one JSON document. COPY is binary: PostgreSQL reads each
  time as eight bytes instead of parsing the ISO text once per value (12 a reading); 10 to
  20 % less time per row on its side, the same rows (compared ``EXCEPT``).

- Then the batch's steps: the next batch was cut and its COPY data made before the one
  under way had sent its rows (PostgreSQL waited for the loop), the small tables' changes
  were worked out between BEGIN and COPY, and a backlog of 40,000 queued readings (Mosquitto
  sends a resumed session's queue beyond Receive Maximum) was parsed ahead while a COPY
  waited between its steps for the loop. Now the next batch is made once the rows of the
  one under way are sent, with its COPY data made in the pass that parses a reading, and
  reading pauses at two batches parsed ahead.

After (5 rounds, medians; December 2026): PostgreSQL alone 19,722 readings/s; one collector
15,974 (81 %; the rounds 58 to 90 %), two workers 18,706 (95 %). The collector spends
about 28 µs of CPU a reading (47 before), PostgreSQL about 36; one collector mostly waits
for PostgreSQL, and where it falls short, it is the two cores shared by the broker,
PostgreSQL, the collector and other people's work.

Second pass (a timeline of one collector's batches: cut, COPY sent, COPY done, small tables,
commit): PostgreSQL sat idle for a third of a second after the first batch. One wake-up of
the socket reader parsed whatever paho's 50 reads brought, 7,000 readings at once (a buffer
of 256 kB holds some 500), and the next batch's COPY waited for the loop meanwhile; and a
wake-up queued one more for every one before it (500 readings a turn, growing). Now a
wake-up parses at most 100 readings, one extra turn is queued at a time, and no reading is
parsed while a batch's rows are being sent (tests/test_collector_turns.py counts both).
After (5 rounds, medians): PostgreSQL alone 18,775 readings/s; one collector 18,419 (98 %;
the rounds 96 to 119 %), two workers 21,530 (115 %).

    .venv/bin/python benchmarks/bench_fleet.py [--readings 50000] [--meters 10000]
        [--seconds 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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
from smartmeter_readout.fleet.rows import Row, rows_of
from smartmeter_readout.fleet.store import FleetStore
from smartmeter_readout.reading import Measurement, MeterIdentity, Reading
from smartmeter_readout.sim.fleet_load import FleetLoad, reading_json
from smartmeter_readout.sinks.postgres import PostgresSink

CLI = [sys.executable, "-m", "smartmeter_readout"]
BROKER = ("max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
          "autosave_interval 600\n")  # saving a large queue every second starves the broker


def collector(config: Path, name: str, folder: Path,
              workers: int = 1) -> tuple[subprocess.Popen[bytes], list[Path]]:
    """``collect --workers``, once every worker has subscribed; the workers' stats files."""
    stats = [folder / (f"{name}.json" if number == 1 else f"{name}-{number}.json")
             for number in range(1, workers + 1)]
    for path in stats:
        path.unlink(missing_ok=True)
    process = subprocess.Popen([*CLI, "collect", "--config", str(config), "--client-id", name,
                                "--stats", str(stats[0]), "--workers", str(workers), "-q"],
                               stdout=subprocess.DEVNULL)
    while not all(path.exists() for path in stats):
        assert process.poll() is None, "the collector ended"
        time.sleep(0.02)
    return process, stats


def committed(stats: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(stats.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def total(stats: list[Path]) -> int:
    return sum(committed(path).get("committed", 0) for path in stats)


def count(dsn: str, table: str = "readings") -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


def write_config(folder: Path, name: str, port: int, dsn: str, topic: str = "smartmeter",
                 table: str = "readings") -> Path:
    config = folder / f"{name}.toml"
    config.write_text(f'[mqtt]\nport = {port}\ntopic = "{topic}"\n[postgres]\ndsn = "{dsn}"\n'
                      f'table = "{table}"\n[collect]\ngroup = "{name}"\nbatch_size = 5000\n'
                      "batch_seconds = 0.5\n")
    config.chmod(0o600)
    return config


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


def prepared(readings: int) -> list[list[Row]]:
    """The rows of ``readings`` readings of the same 10,000 meters and times as the ingest."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return [rows_of(reading_json(f"copy{number % 10_000:05d}",
                                 moment + timedelta(seconds=number // 10_000),
                                 number // 10_000, moment)) for number in range(readings)]


def copy_only(dsn: str, rows: list[list[Row]], table: str) -> float:
    """Readings a second through the collector's store alone (no MQTT, no JSON), its rows
    made before the clock starts."""
    readings = len(rows)

    async def write() -> float:
        store = FleetStore(dsn, table)
        await store.connect()
        started = time.perf_counter()
        for start in range(0, len(rows), 5000):
            await store.write([row for reading in rows[start : start + 5000] for row in reading])
        elapsed = time.perf_counter() - started
        await store.close()
        return elapsed

    return readings / asyncio.run(write())


def ingest(broker: Mosquitto, dsn: str, folder: Path, readings: int, workers: int,
           name: str) -> float:
    """Readings a second of ``collect --workers`` on a queue of ``readings``."""
    config = write_config(folder, name, broker.port, dsn, topic=name, table=name)
    process, stats = collector(config, name, folder, workers)  # makes its sessions
    process.terminate()
    process.wait()
    load = FleetLoad("127.0.0.1", broker.port, meters=10_000, interval=0.2, prefix="ing",
                     topic=name)
    load.start()
    load.run(readings / 10_000 * 0.2)
    load.wait_acknowledged(600)
    load.stop()
    launched = time.perf_counter()
    process, stats = collector(config, name, folder, workers)
    started = time.perf_counter()
    while total(stats) < load.published:
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    process.terminate()
    process.wait()
    landed = count(dsn, name)
    rate = load.published / elapsed
    print(f"  {name}: collect --workers {workers}: {load.published:,} queued readings "
          f"({landed:,} rows in the table) committed in {elapsed:.1f} s: {rate:,.0f} "
          f"readings/s ({rate * 12:,.0f} rows/s); start-up {started - launched:.1f} s apart")
    assert landed == load.published * 12, "a reading missing or twice"
    return rate


def live(broker: Mosquitto, dsn: str, folder: Path, meters: int, seconds: float) -> None:
    config = write_config(folder, "live", broker.port, dsn)
    process, stats = collector(config, "live", folder, workers=2)
    load = FleetLoad("127.0.0.1", broker.port, meters=meters, interval=1.0, prefix="live")
    load.start()
    publishing = threading.Thread(target=load.run, args=(seconds,))
    started = time.perf_counter()
    publishing.start()
    publishing.join()
    published_in = time.perf_counter() - started
    acknowledged = load.wait_acknowledged(300)
    expected = load.published * 12
    deadline = time.monotonic() + 300
    while count(dsn) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    drained = time.perf_counter() - started
    if not acknowledged or count(dsn) < expected:  # say where it stuck instead of hanging
        print(f"live: STUCK: published {load.published:,} (in {published_in:.1f} s), "
              f"acknowledged by the broker {load.acknowledged:,}, published again "
              f"{load.retried:,}, refused {len(load.refused):,} {load.refused[:3]}, in the "
              f"table {count(dsn) // 12:,}")
    load.stop()
    process.terminate()
    process.wait()
    print(f"live: {meters:,} meters once a second for {seconds:g} s: {load.published:,} "
          f"readings, all in the table once: {count(dsn) == expected}; the load fell behind "
          f"its schedule by up to {load.behind:.2f} s; drained {drained - seconds:.1f} s "
          "after the last publish")
    for path in stats:
        data = committed(path)
        delays = data.get("delays", {})
        assert isinstance(delays, dict)
        print(f"  {path.stem}: {data.get('committed'):,} readings in {data.get('batches')} "
              f"batches; receive -> commit p50 {delays.get('p50', 0):.2f} s, "
              f"p95 {delays.get('p95', 0):.2f} s, max {delays.get('max', 0):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=50_000)  # more, queued for one
    # collector that is away, stalled Mosquitto 2.0.11 (README "Many meters")
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    # the machine is shared: each figure is the median of its rounds, the rounds interleaved
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    broker, database = Mosquitto(folder, extra=BROKER), Postgres()
    broker.start()
    database.start()
    try:
        rows = prepared(args.readings)
        alones: list[float] = []
        rates: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(1, args.rounds + 1):
            alones.append(copy_only(database.dsn, rows, f"alone{round_}"))
            print(f"round {round_}: PostgreSQL alone, same readings, empty tables: COPY "
                  f"straight into the table, with the page's small tables (fleet/store.py, "
                  f"batches of 5,000) {alones[-1]:,.0f} readings/s ({alones[-1] * 12:,.0f} "
                  "rows/s)")
            for workers, found in rates.items():
                found.append(ingest(broker, database.dsn, folder, args.readings, workers,
                                    f"ingest{workers}r{round_}"))
        baseline = insert_baseline(database.dsn, min(args.readings, 50_000))
        print(f"for comparison, the per-row INSERT of the reader's output (sinks/postgres.py, "
              f"batches of 500): {baseline:,.0f} readings/s ({baseline * 12:,.0f} rows/s)")
        live(broker, database.dsn, folder, args.meters, args.seconds)
        alone = statistics.median(alones)
        medians = {workers: statistics.median(found) for workers, found in rates.items()}
        print(f"medians of {args.rounds} rounds:")
        for workers, rate in sorted(medians.items(), key=lambda item: item[1]):
            print(f"collector: {rate:,.0f} readings/s with {workers} workers = "
                  f"{rate / alone * 100:.0f} % of PostgreSQL alone ({alone:,.0f} readings/s)")
    finally:
        broker.stop()
        database.stop()
        database.remove()


if __name__ == "__main__":
    main()
