"""Faults a user will meet: a full disk, a read-only directory, a damaged outbox.

Each is an output state while reading goes on, nothing already stored is lost, memory stays
bounded, and the service recovers by itself when the fault is gone. The full disk is a small
tmpfs the test mounts (root, as in CI); where mounting is impossible the test says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.live.reader import LiveReader
from smartmeter_readout.reading import Reading
from smartmeter_readout.service.outbox import Outbox, OutboxError
from smartmeter_readout.service.service import Service
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sinks.base import SinkBase
from smartmeter_readout.sources.simulated import SimulatedConnector

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


@contextlib.contextmanager
def small_disk(where: Path, size: str = "192k") -> Iterator[Path]:
    where.mkdir()
    if os.geteuid() != 0:  # a failure, not a skip: CI runs as root and must run these
        pytest.fail("run the test suite as root (as CI does): a small tmpfs needs mount")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(where)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk tests: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte; return the filler (delete it to free the space)."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)
    return filler


class Collecting(SinkBase):
    durable = True
    name = "mqtt"

    def __init__(self) -> None:
        self.got: list[int | None] = []

    async def write(self, batch: Sequence[Reading]) -> None:
        self.got += [reading.frame_counter for reading in batch]


def _service(outbox: Outbox, sink: Collecting) -> Service:
    reader = LiveReader(SimulatedConnector(Simulator("vkw", key=KEY), 0.05), Decoder(KEY))
    return Service(reader, [sink], outbox=outbox)


async def _until(condition: object, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds  # a safety net, not a timing
    while not condition() and asyncio.get_running_loop().time() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)


def test_a_full_disk_is_an_output_state_and_nothing_is_lost(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        sink = Collecting()
        outbox = Outbox(disk / "outbox.sqlite", memory_readings=5000)

        async def scenario() -> tuple[str, bool, int]:
            service = _service(outbox, sink)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            await _until(lambda: len(sink.got) >= 5)
            filler = fill(disk)
            await _until(lambda: bool(service.outbox_error))
            status = service.status().outputs[0]
            readings_then = service.readings
            await _until(lambda: service.readings >= readings_then + 20)  # reading goes on
            filler.unlink()  # the space comes back
            await _until(lambda: not service.outbox_error)
            last = service.readings
            await _until(lambda: len(sink.got) >= last)
            stop.set()
            await task
            return status.error, status.up, service.readings

        error, up, readings = asyncio.run(scenario())
    assert "full" in error and not up  # shown as the output's state
    got = [counter for counter in sink.got if counter is not None]
    assert got == sorted(got) and len(set(got)) == len(got)  # in order, none twice
    assert got == list(range(got[0], got[0] + len(got)))  # none lost
    assert len(got) >= readings - 1 and not outbox.dropped


def test_a_read_only_disk_keeps_readings_in_memory_bounded(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    with small_disk(tmp_path / "disk") as disk:
        Outbox(disk / "outbox.sqlite").close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        outbox = Outbox(disk / "outbox.sqlite", memory_readings=50)
        pushes = Simulator("vkw", key=KEY).pushes(datetime(2024, 1, 1, tzinfo=UTC), 80)
        decoder = Decoder(KEY)
        readings = [reading for push in pushes for reading in decoder.feed(push.wire)]
        failures = []
        for reading in readings:
            try:
                outbox.append(["mqtt"], [reading])
            except OutboxError as exc:
                failures.append(str(exc))
        outbox.close()
    assert len(failures) == len(readings)
    assert "wait in memory" in failures[-1]
    assert outbox.backlog("mqtt") <= 50  # bounded
    assert outbox.dropped["mqtt"] == len(readings) - 50


def test_a_damaged_outbox_is_set_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"not a database at all" * 200)
    outbox = Outbox(path)
    assert any("damaged" in note for note in outbox.notes)
    aside = list(tmp_path.glob("outbox.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not a database")
    assert outbox.backlog("mqtt") == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
