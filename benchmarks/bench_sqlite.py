"""Sustained ingest into the SQLite history: readings per second, batched as the service does.

Decoded VKW-shaped readings (15 values each, values changing every push) are written with
``HistoryStore.write`` in batches of 500 (the service's batch size), raw rows and the
1-minute and 15-minute aggregates, into a fresh WAL database on disk.

    python benchmarks/bench_sqlite.py [--readings 100000] [--batch 500]

Target (issue 4): at least 20,000 readings/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartmeter_readout import Decoder
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.sim.simulator import Simulator

KEY = bytes(range(16))


def main(count: int, batch: int) -> None:
    simulator = Simulator("vkw", key=KEY)
    decoder = Decoder(KEY)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    readings = []
    for index in range(count):
        readings += decoder.feed(simulator.push(start + timedelta(seconds=index)).wire)
    with tempfile.TemporaryDirectory() as tmp:
        store = HistoryStore(Path(tmp) / "bench.sqlite")
        began = time.perf_counter()
        for at in range(0, len(readings), batch):
            store.write(readings[at : at + batch])
        elapsed = time.perf_counter() - began
        store.close()  # checkpoints the WAL into the database file
        size = (Path(tmp) / "bench.sqlite").stat().st_size
    print(f"SQLite history: {len(readings):,} readings in {elapsed:.2f} s = "
          f"{len(readings) / elapsed:,.0f} readings/s (batches of {batch}, "
          f"{size / len(readings):.0f} bytes per reading on disk, aggregates included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    options = parser.parse_args()
    main(options.readings, options.batch)
