"""Every push a virtual meter sends reaches a reader that is reading (issue 21).

A new user's ``read`` of the simulated Vorarlberg meter lost 8 of 20 pushes: the pty flushed
the tail of each 2400-baud frame before the next one began. Here every profile pushes 200 times
through a pseudo-terminal (with ``read``'s auto-detection of the serial settings) and through
TCP, into the reader ``read`` builds, all at once in one event loop; the pushes must arrive
one after the other, none missing, from the first one decoded on. The pushes before it may go
by while the reader detects the setting: at a wrong baud rate they are noise.

The line keeps its pace: a frame goes out in pieces as its baud rate carries it, frames follow
each other without a pause where the meter sends them so. 200 pushes of a 2400-baud meter take
up to 8 minutes of line time, so those lines run as many times faster as it takes to stay
within ``LINE_TIME``; each of them also pushes at its real speed for as long as that lasts.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

from smartmeter_readout.cli.common import live_options, load
from smartmeter_readout.live.reader import LiveReader
from smartmeter_readout.operators import SerialSettings
from smartmeter_readout.reading import Reading
from smartmeter_readout.service.build import build_connector, build_decoder, meter_keys
from smartmeter_readout.sim.simulator import PROFILES, Simulator
from smartmeter_readout.sim.virtual_meter import SentPush, VirtualMeter

KEY = "000102030405060708090A0B0C0D0E0F"
AUTH = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
PUSHES = 200
LINE_TIME = 50.0  # seconds of line time a job may take at most
GAP = 0.3  # quiet time after each push: auto-detection judges a setting by whole bursts
SAFETY_NET = 600.0  # seconds: a hung job fails the test instead of hanging it


@dataclass
class Job:
    profile: str
    transport: str  # "pty" or "tcp"
    pushes: int
    pace: float
    interval: float
    readings: list[Reading] = field(default_factory=list)
    sent: list[SentPush] = field(default_factory=list)
    error: str = ""

    def __str__(self) -> str:
        return f"{self.profile} over {self.transport} at {self.pace:.3g}x line speed"


def _line_seconds(profile: str) -> float:
    """Seconds one push takes on the meter's line."""
    settings = SerialSettings.parse(PROFILES[profile].serial)
    bits = 1 + settings.bytesize + (settings.parity != "N") + settings.stopbits
    push = Simulator(profile, key=bytes.fromhex(KEY), auth_key=bytes.fromhex(AUTH)).push(
        datetime.now(UTC))
    return len(push.wire) * bits / settings.baud


def jobs() -> Iterator[Job]:
    for profile in sorted(PROFILES):
        line = _line_seconds(profile)
        pace = max(1.0, PUSHES * line / LINE_TIME)
        for transport in ("pty", "tcp"):
            yield Job(profile, transport, PUSHES, pace, line / pace + GAP)
            if pace > 1.0:  # and as many as its real speed carries in the same time
                yield Job(profile, transport, int(LINE_TIME / line), 1.0, line + GAP)


def _args(job: Job, where: str) -> argparse.Namespace:
    """What ``read --port DEV`` or ``read --tcp HOST:PORT`` with the keys parses to."""
    return argparse.Namespace(port=where if job.transport == "pty" else None,
                              tcp=where if job.transport == "tcp" else None, key=KEY,
                              auth_key=AUTH, key_file=None, operator=None, baud="auto",
                              parity="auto", timezone="Europe/Vienna", config=None)


async def deliver(job: Job) -> None:
    simulator = Simulator(job.profile, key=bytes.fromhex(KEY), auth_key=bytes.fromhex(AUTH))
    meter = VirtualMeter(simulator, interval=job.interval, pace=job.pace,
                         tcp=("127.0.0.1", 0) if job.transport == "tcp" else None)
    config = load(_args(job, meter.path))  # from here as ``read`` builds its reader
    connector, keys, _ = build_connector(config, meter_keys(config))
    reader = LiveReader(connector, build_decoder(config, keys),
                        options=live_options(key_failures=3))
    sending = asyncio.create_task(meter.run())
    try:
        async with aclosing(reader.readings()) as readings:
            async for reading in readings:
                job.readings.append(reading)
                if len(job.readings) >= job.pushes:
                    break
    finally:
        meter.stop()
        await sending
        meter.close()
        job.sent = meter.sent


def matches(reading: Reading, push: SentPush) -> bool:
    values = reading.values
    return all(code in values and values[code].value == value
               for code, value in push.push.expected.items())


def missing(job: Job) -> str:
    """What went wrong, '' when the pushes arrived one after the other from the first on."""
    if job.error:
        return job.error
    if len(job.readings) < job.pushes:
        return f"{len(job.readings)} of {job.pushes} readings"
    at = -1
    found = []
    for reading in job.readings:
        at = next((i for i in range(at + 1, len(job.sent)) if matches(reading, job.sent[i])),
                  -1)
        if at < 0:
            return f"a reading that was never sent, after push {found[-1] if found else None}"
        counter = job.sent[at].push.frame_counter
        if reading.frame_counter is not None and reading.frame_counter != counter:
            return f"push {counter} came with frame counter {reading.frame_counter}"
        found.append(at)
    gaps = [(a, b) for a, b in pairwise(found) if b != a + 1]
    if gaps:
        lost = [job.sent[i].push.frame_counter for a, b in gaps for i in range(a + 1, b)]
        return f"{len(lost)} pushes lost: frame counters {lost[:10]}"
    return ""


async def deliver_all(all_jobs: list[Job]) -> None:
    async def one(job: Job) -> None:
        try:
            await deliver(job)
        except Exception as exc:  # the others go on; the job's report says what happened
            job.error = f"{type(exc).__name__}: {exc}"

    async with asyncio.timeout(SAFETY_NET):
        await asyncio.gather(*(one(job) for job in all_jobs))


def test_every_profile_delivers_every_push_over_a_pty_and_over_tcp() -> None:
    all_jobs = list(jobs())
    asyncio.run(deliver_all(all_jobs))
    failed = {str(job): problem for job in all_jobs if (problem := missing(job))}
    assert not failed, failed
    covered = {(job.profile, job.transport) for job in all_jobs if job.pushes == PUSHES}
    assert covered == {(name, way) for name in PROFILES for way in ("pty", "tcp")}
