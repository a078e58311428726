"""Footprint of live reading: CPU per push against a bare read loop, peak RSS, CPU when silent.

A virtual meter (the simulator on a pseudo-terminal, in this process) pushes VKW-shaped
pushes (376 bytes, two M-Bus frames, AES-GCM) at 100 pushes/s into a separate process, in
turn (``--rounds`` times each, the best kept, as a neighbour's load on the shared machine
comes and goes):

- a bare loop: pyserial opens the port, then ``select`` and ``os.read`` until the end, and
  nothing else: what any Python reader of this port costs at this rate;
- ``smartmeter-readout read --format jsonl`` with auto-detection (start-up and detection
  left out: CPU is counted from the first reading on);
- with ``--floor``, also the least a Python reader that decodes can do: an event-loop
  callback that reads the port, calls ``Decoder.feed`` and writes JSON lines.

CPU is user + system time from /proc/<pid>/stat over ``--seconds``, divided by the pushes the
meter sent in that time. Then ``read``'s line stays silent for ``--silent`` seconds, the port
still open: its CPU in that time, and its peak RSS (VmHWM). The last line, for scripts:
``footprint: N µs per push =`` and the ratio to the bare loop (issue 25's form).

    python benchmarks/bench_footprint.py [--rate 100] [--seconds 10] [--rounds 2] [--floor]

Profile (``thread_time`` around each stage inside the processes, and cProfile of ``read``;
2 shared cores; issue 25). At 100 pushes/s nothing stays in the CPU caches from one push to
the next: ``Decoder.feed`` that takes 24 us in a tight loop took 164 us a push here, the
JSON line 81 us, and the bare loop itself costs 60 us a push (wake-up, ``select``, the read
system call). Before: ``read`` 533 us a push (8.9x the bare loop), the floor 400 us. In
``read`` on top of the floor: the inbox's event and ``asyncio.timeout`` (a timer scheduled
and cancelled per chunk), the task switch to the reading generator and the console's
coroutine, ``take_events``, ``data_to_send`` and a status review per chunk, and
``to_dict`` + ``json.dumps`` per reading. What changed: the decoder's fast paths
(bench_decode.py) cut a cold push to about 110 us; the reader reads the port in its
callback and hands whole chunks on without a timer while bytes keep coming; it asks the
decoder for events and replies only when there are any; the console writes JSON lines from
parts made once per meter and per value code (byte for byte what ``json.dumps`` gives).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _proc import cpu_seconds, cpu_times, peak_rss_mb
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sim.virtual_meter import VirtualMeter

KEY = "000102030405060708090A0B0C0D0E0F"
BARE = """
import os, select, sys
import serial
port = serial.Serial(sys.argv[1], 2400, timeout=0)
fd = port.fileno()
os.write(1, b"ready\\n")
while True:
    select.select([fd], [], [])
    if not os.read(fd, 4096):
        break
"""
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


@dataclass
class Run:
    what: str
    pushes: int
    lines: int
    elapsed: float
    user: float
    system: float
    rss: float = float("nan")
    idle: float = float("nan")

    @property
    def per_push(self) -> float:
        return (self.user + self.system) / self.pushes


async def measure(what: str, command: list[str], rate: float, seconds: float, profile: str,
                  silent: float) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "ttyMETER"
        meter = VirtualMeter(Simulator(profile, key=bytes.fromhex(KEY)), link=link,
                             interval=1 / rate, pace=False)
        await meter.port.start()
        process = await asyncio.create_subprocess_exec(
            sys.executable, *[part.replace("{port}", str(link)) for part in command],
            stdout=subprocess.PIPE)
        assert process.stdout is not None
        pushing = asyncio.create_task(meter.run())
        await process.stdout.readline()  # ready, or the first reading (detection done)
        lines = 0

        async def count() -> None:
            nonlocal lines
            assert process.stdout is not None
            while await process.stdout.readline():
                lines += 1

        counting = asyncio.create_task(count())
        await asyncio.sleep(0.5)  # settle
        sent, before, start = len(meter.sent), cpu_times(process.pid), time.perf_counter()
        first_line = lines
        await asyncio.sleep(seconds)
        after, elapsed = cpu_times(process.pid), time.perf_counter() - start
        run = Run(what, len(meter.sent) - sent, lines - first_line, elapsed,
                  after[0] - before[0], after[1] - before[1])
        pushing.cancel()
        if silent:
            await asyncio.sleep(0.5)  # the last pushes drain
            idle_start = cpu_seconds(process.pid)
            await asyncio.sleep(silent)
            run.idle = cpu_seconds(process.pid) - idle_start
            run.rss = peak_rss_mb(process.pid)
        process.terminate()
        await process.wait()
        counting.cancel()
        meter.close()
    return run


async def main(options: argparse.Namespace) -> None:
    commands = {
        "bare select+read loop": ["-c", BARE, "{port}"],
        "smartmeter-readout read": ["-m", "smartmeter_readout", "read", "--port", "{port}",
                                    "--key", KEY, "--format", "jsonl", "-q"],
    }
    if options.floor:
        commands["minimal callback reader (--floor)"] = ["-c", FLOOR, "{port}", KEY]
    best: dict[str, Run] = {}
    for number in range(1, options.rounds + 1):
        for what, command in commands.items():
            run = await measure(what, command, options.rate, options.seconds, options.profile,
                                options.silent if what.endswith(" read") else 0.0)
            print(f"round {number}, {what}: {run.per_push * 1e6:.0f} us a push "
                  f"({run.pushes} pushes, {run.lines} lines)", flush=True)
            if what not in best or run.per_push < best[what].per_push:
                best[what] = run
    for run in best.values():
        print(f"{run.what}, profile {options.profile}: {run.pushes} pushes in "
              f"{run.elapsed:.1f} s ({run.pushes / run.elapsed:.0f}/s), CPU "
              f"{run.per_push * 1e6:.0f} us a push (user {run.user / run.pushes * 1e6:.0f}, "
              f"kernel {run.system / run.pushes * 1e6:.0f}; "
              f"{(run.user + run.system) / run.elapsed * 100:.1f} % of one core)")
    read = best["smartmeter-readout read"]
    assert read.lines >= read.pushes * 0.95, (read.lines, read.pushes)  # it kept up
    print(f"read: peak RSS {read.rss:.1f} MB; CPU while the line was silent for "
          f"{options.silent:g} s: {read.idle * 1000:.0f} ms "
          f"({read.idle / options.silent * 100:.2f} % of one core)")
    bare = best["bare select+read loop"]
    print(f"footprint: {read.per_push * 1e6:.0f} µs per push = "
          f"{read.per_push / bare.per_push:.1f}× a bare read loop")  # noqa: RUF001


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--silent", type=float, default=5.0)
    parser.add_argument("--profile", default="vkw")
    parser.add_argument("--floor", action="store_true",
                        help="also measure the minimal callback reader")
    asyncio.run(main(parser.parse_args()))
