"""Footprint of live reading: the reader's CPU time per push, its peak RSS, CPU when silent.

A virtual meter (the simulator on a pseudo-terminal, in this process) pushes VKW-shaped
pushes (376 bytes, two M-Bus frames, AES-GCM) at 100 pushes/s for 30 s into a separate
``smartmeter-readout read --format jsonl`` process with auto-detection. The reader's CPU
time comes from /proc/<pid>/stat (user + system), its peak RSS from VmHWM. Start-up and
detection are left out: CPU is counted from the first reading on. Then the line stays
silent for 10 s, the port still open, and the reader's CPU in that time is printed.

    python benchmarks/bench_footprint.py [--rate 100] [--seconds 30] [--profile vkw] [--floor]

``--floor`` runs, instead of ``read``, the least a Python reader can do: an event-loop
callback that reads the port, calls ``Decoder.feed`` and writes JSON lines, nothing else.
Its figure is what CPython on this machine costs per push before any of the reader's
bookkeeping.

Targets (issue 3): < 200 us CPU per push end-to-end, < 60 MB RSS, near-zero CPU when silent.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _proc import cpu_seconds, cpu_times, peak_rss_mb
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sim.virtual_meter import VirtualMeter

KEY = "000102030405060708090A0B0C0D0E0F"
FLOOR = """
import asyncio, json, os, sys
import serial
from smartmeter_readout import Decoder
async def main():
    port = serial.Serial(sys.argv[1], 2400, timeout=0)
    decoder = Decoder(sys.argv[2])
    def readable():
        for reading in decoder.feed(os.read(port.fileno(), 4096)):
            os.write(1, (json.dumps(reading.to_dict()) + "\\n").encode())
    asyncio.get_running_loop().add_reader(port.fileno(), readable)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def main(rate: float, seconds: float, profile: str, silent: float,
               floor: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "ttyMETER"
        meter = VirtualMeter(Simulator(profile, key=bytes.fromhex(KEY)), link=link,
                             interval=1 / rate, pace=False)
        command = (["-c", FLOOR, str(link), KEY] if floor else
                   ["-m", "smartmeter_readout", "read", "--port", str(link), "--key", KEY,
                    "--format", "jsonl", "-q"])
        reader = await asyncio.create_subprocess_exec(sys.executable, *command,
                                                      stdout=subprocess.PIPE)
        assert reader.stdout is not None
        pushing = asyncio.create_task(meter.run())
        await reader.stdout.readline()  # the first reading: start-up and detection done
        start_times, start = cpu_times(reader.pid), time.perf_counter()
        start_cpu = sum(start_times)
        lines = 0
        deadline = start + seconds
        while time.perf_counter() < deadline:
            await reader.stdout.readline()
            lines += 1
        end_times = cpu_times(reader.pid)
        busy_cpu = sum(end_times) - start_cpu
        user, system = (end - begin for end, begin in zip(end_times, start_times, strict=True))
        elapsed = time.perf_counter() - start
        pushing.cancel()
        await asyncio.sleep(0.5)  # let the last pushes drain
        drained = asyncio.create_task(_drain(reader.stdout))
        idle_start = cpu_seconds(reader.pid)
        await asyncio.sleep(silent)
        idle_cpu = cpu_seconds(reader.pid) - idle_start
        rss = peak_rss_mb(reader.pid)
        reader.terminate()
        await reader.wait()
        drained.cancel()
        meter.close()
    what = "minimal callback reader (--floor)" if floor else "smartmeter-readout read"
    print(f"{what}, profile {profile}: {lines} readings in {elapsed:.1f} s "
          f"({lines / elapsed:.0f}/s, meter asked for {rate:g}/s)")
    print(f"reader CPU per push (end to end, read -> jsonl): {busy_cpu / lines * 1e6:.0f} us "
          f"({busy_cpu / elapsed * 100:.1f} % of one core; user {user / lines * 1e6:.0f} us, "
          f"kernel {system / lines * 1e6:.0f} us)")
    print(f"reader peak RSS: {rss:.1f} MB")
    print(f"reader CPU while the line was silent for {silent:g} s: {idle_cpu * 1000:.0f} ms "
          f"({idle_cpu / silent * 100:.2f} % of one core)")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--silent", type=float, default=10.0)
    parser.add_argument("--profile", default="vkw")
    parser.add_argument("--floor", action="store_true",
                        help="measure the minimal callback reader instead of read")
    options = parser.parse_args()
    asyncio.run(main(options.rate, options.seconds, options.profile, options.silent,
                     options.floor))
