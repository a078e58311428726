"""Ten minutes of ``smartmeter-readout run --operator netzooe`` against a simulated AMIS on a
pseudo-terminal, with the faults a real installation meets: every two minutes the meter misses
a burst of acknowledgements (it gives up on the reader and searches again), and half-way the
IR head is pulled for three seconds and put back. Prints what the meter sent against what the
console printed and SQLite stored, the acknowledgement delays, and how often the meter
searched.

    .venv/bin/python benchmarks/bench_amis_run.py [seconds]   # default 600
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sim.virtual_meter import VirtualMeter

KEY = bytes(range(16))


async def main(seconds: float) -> None:
    folder = Path(tempfile.mkdtemp())
    link, db = folder / "ttyAMIS", folder / "history.sqlite"
    meter = VirtualMeter(Simulator("netzooe", key=KEY), link=link, interval=1.0,
                         search_every=5.0)
    running = asyncio.create_task(meter.run())
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartmeter_readout", "run", "--port", str(link), "--key",
        KEY.hex(), "--sqlite", str(db), "--console", "jsonl",
        env={**os.environ, "SMARTMETER_METER_OPERATOR": "netzooe",
             "SMARTMETER_WEB_ENABLED": "false"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    printed: list[int] = []

    async def collect() -> None:
        assert service.stdout is not None
        async for line in service.stdout:
            printed.append(json.loads(line)["frame_counter"])

    collecting = asyncio.create_task(collect())
    started = time.monotonic()
    faults = {120 * k: "lost" for k in range(1, int(seconds // 120) + 1)}
    faults[seconds / 2] = "replug"
    try:
        for at, fault in sorted(faults.items()):
            if at >= seconds:
                break
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if fault == "lost":
                meter.lose_acks(12)
            else:
                meter.replug(3.0)
        await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
        meter.stop()
        await running
        deadline = time.monotonic() + 30
        while len(printed) < len(meter.sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        meter.stop()
        meter.close()
        if service.returncode is None:
            service.terminate()
        await service.wait()
        await collecting
    sent = [push.push.frame_counter for push in meter.sent]
    with contextlib.closing(sqlite3.connect(db)) as connection:
        stored = [row[0] for row in connection.execute(
            "SELECT frame_counter FROM readings ORDER BY time")]
    delays = sorted(delay * 1000 for delay in meter.ack_delays)
    print(f"{time.monotonic() - started:.0f} s, {len(sent)} telegrams sent; "
          f"{len(printed)} readings printed, {len(stored)} rows in SQLite")
    print(f"printed == sent in order: {printed == sent}; stored == sent in order: "
          f"{stored == sent}")
    print(f"faults: {sum(f == 'lost' for a, f in faults.items() if a < seconds)} bursts of 12 "
          f"lost acknowledgements, 1 replug of 3 s; the meter searched again "
          f"{meter.searches} times; IEC 62056-21 readouts of its number: {meter.readouts}")
    print(f"E5 after the frame's last byte: p50 {statistics.median(delays):.1f} ms, p95 "
          f"{delays[int(len(delays) * 0.95) - 1]:.1f} ms, max {delays[-1]:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0))
