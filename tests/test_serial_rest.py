"""Issue 25: a serial port rests while the frame under way cannot have arrived.

A 2400-baud meter's push comes in some 90 pieces (a USB adapter hands bytes on every 16 ms;
the virtual meter every 20 ms); a reader that wakes for each spent 3.9 times a bare read
loop's CPU on a push, and resting 0.3 times (``benchmarks/bench_footprint.py --paced``).

- The decoder says what the frame under way lacks by its length field (M-Bus, HDLC), and
  nothing where no length is known (DSMR text, between frames).
- On a virtual meter sending at its line's speed, the reader takes each push in a few reads
  instead of one per piece, and loses none; bytes that come later than due (a rest that
  ends with nothing there) are waited for, not taken for a hung-up port.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livekit import KEY
from smartmeter_readout import Decoder
from smartmeter_readout.live import LiveReader, SourceState
from smartmeter_readout.operators import SerialSettings
from smartmeter_readout.sim.simulator import Simulator, dsmr_telegram
from smartmeter_readout.sim.virtual_meter import VirtualMeter
from smartmeter_readout.sources.serial import SerialConnector

MOMENT = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.mark.parametrize("profile", ["vkw", "wienernetze", "netzooe"])
def test_the_decoder_says_what_the_frame_under_way_lacks(profile: str) -> None:
    frames = Simulator(profile, key=bytes.fromhex(KEY)).push(MOMENT).frames
    decoder = Decoder(KEY)
    readings = []
    for number, frame in enumerate(frames):
        assert decoder.feed(frame[:1]) == [] and decoder.wanted == 0  # no length yet
        readings += decoder.feed(frame[1:9])
        assert decoder.wanted == len(frame) - 9, (profile, number)
        readings += decoder.feed(frame[9:-1])
        assert decoder.wanted == 1
        readings += decoder.feed(frame[-1:])
        assert decoder.wanted == 0  # whole: the next frame's length is not known yet
    assert len(readings) == 1


def test_a_dsmr_telegram_has_no_length_to_wait_for() -> None:
    simulator = Simulator("netzooe", key=bytes(16))  # its text, before it is ciphered
    telegram, _values = dsmr_telegram(simulator.model.snapshot(MOMENT), "1ESY1161229886")
    decoder = Decoder()
    decoder.feed(telegram[:40])
    assert decoder.wanted == 0
    assert len(decoder.feed(telegram[40:])) == 1


def test_a_push_at_the_lines_speed_takes_a_few_reads_and_none_is_lost(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    pieces = reads = 0

    def chunk(data: bytes, when: datetime) -> None:
        nonlocal reads
        reads += 1

    async def scenario() -> tuple[list[int], list[int], int]:
        nonlocal pieces, reads
        meter = VirtualMeter(Simulator("vkw", key=bytes.fromhex(KEY)), link=link,
                             interval=2.0, pace=1.0)
        await meter.port.start()
        write = meter.port.write

        def counted(data: bytes, *, baud: int | None = None) -> None:
            nonlocal pieces
            pieces += 1
            write(data, baud=baud)

        meter.port.write = counted  # type: ignore[method-assign]
        # a pty takes no parity: 8N1 (a rest then ends a tenth early: one read more)
        reader = LiveReader(SerialConnector(str(link), (SerialSettings(2400),)),
                            Decoder(KEY), on_bytes=chunk)
        readings = reader.readings()
        first = asyncio.ensure_future(anext(readings))
        while reader.state is not SourceState.CONNECTED:  # the reader is on the port (on a
            await asyncio.sleep(0.01)  # real line, bytes sent before are lost)
        sending = asyncio.create_task(meter.run(count=3))
        counters, reads_per_push = [], []
        reading = await first
        while True:
            counters.append(reading.frame_counter or 0)
            reads_per_push.append(reads)
            reads = 0
            if len(counters) == 3:
                break
            reading = await anext(readings)
        await readings.aclose()
        await sending
        meter.close()
        return counters, reads_per_push, len(meter.sent)

    counters, reads_per_push, sent = asyncio.run(scenario())
    assert sent == 3
    assert counters == list(range(counters[0], counters[0] + 3))
    assert pieces >= 3 * 60  # the meter's bytes came in pieces, as an adapter hands them on
    # a piece read the moment a frame's length is known, then the frame's rest at once
    assert max(reads_per_push) <= 8, reads_per_push


def test_a_rest_that_ends_before_the_bytes_waits_for_them(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"

    async def scenario() -> bytes:
        meter = VirtualMeter(Simulator("vkw", key=bytes.fromhex(KEY)), link=link, pace=0)
        await meter.port.start()
        connection = await SerialConnector(str(link), (SerialSettings(2400, "E"),)).open()
        connection.expect(12)  # a rest of some 75 ms, with nothing coming in it
        assert (await connection.read(0.5)).data == b""  # silence, not a hung-up port
        meter.port.write(b"late bytes")
        data = (await connection.read(5)).data
        await connection.close()
        meter.close()
        return data

    assert asyncio.run(scenario()) == b"late bytes"
