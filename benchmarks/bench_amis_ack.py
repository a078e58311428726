"""How fast the reader acknowledges a Netz OÖ AMIS meter: a simulated AMIS on a
pseudo-terminal sends a telegram each second at 9600 baud; ``smartmeter-readout read
--operator netzooe`` answers each with E5. Prints the delay from the frame's last byte to the
E5 (p50 / p95 / max; the meter resets the link after ten missed), and whether the meter ever
had to search again.

    .venv/bin/python benchmarks/bench_amis_ack.py [telegrams]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sim.virtual_meter import VirtualMeter

KEY = bytes(range(16))


async def main(count: int) -> None:
    link = Path(tempfile.mkdtemp()) / "ttyAMIS"
    meter = VirtualMeter(Simulator("netzooe", key=KEY), link=link, interval=1.0,
                         search_every=1.0)
    running = asyncio.create_task(meter.run())
    try:
        result = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "smartmeter_readout", "read", "--port", str(link),
            "--operator", "netzooe", "--key", KEY.hex(), "--count", str(count), "-q",
            "--format", "jsonl"], capture_output=True, text=True, timeout=count * 3 + 60,
            env={**os.environ})
    finally:
        running.cancel()
        meter.close()
    delays = sorted(delay * 1000 for delay in meter.ack_delays)
    readings = len(result.stdout.splitlines())
    print(f"{readings} readings of {count} telegrams; {len(delays)} acknowledgements "
          "(the link reset included)")
    print(f"E5 after the frame's last byte: p50 {statistics.median(delays):.1f} ms, p95 "
          f"{delays[int(len(delays) * 0.95) - 1]:.1f} ms, max {delays[-1]:.1f} ms "
          "(the link reset must be answered within 500 ms)")
    print(f"times the meter lost the reader and searched again: {meter.searches}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
