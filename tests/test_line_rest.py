"""Issue 25: a serial port or a serial bridge rests while the frame under way cannot have
arrived.

A 2400-baud meter's push comes in some 80 pieces (a USB adapter hands bytes on every 16 ms;
the virtual meter every 20 ms); a reader that wakes for each spent 3.9 times a bare read
loop's CPU on a push, and resting 0.3 times (``benchmarks/bench_footprint.py --paced``).

- The decoder says what the frame under way lacks by its length field (M-Bus, HDLC), and
  nothing where no length is known (DSMR text, between frames).
- On a virtual meter sending at its line's speed, on a pseudo-terminal and behind a virtual
  TCP bridge, the reader takes each push in a few reads instead of one per piece, and loses
  none; bytes that come later than due (a rest that ends with nothing there) are waited
  for, not taken for a hung-up port.
- A bridge's line speed is measured from the bytes of a burst; one that forwards whole
  frames shows none and is never rested.
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
from smartmeter_readout.sources._rest import LineRate, rest_for
from smartmeter_readout.sources.serial import SerialConnection, SerialConnector
from smartmeter_readout.sources.tcp import TcpConnector

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


def test_a_head_that_does_not_check_out_is_not_rested_on() -> None:
    decoder = Decoder(KEY)
    decoder.feed(b"\x00\x7e\xa7\xff\x12\x34\x56\x78\x9a")  # HDLC-like, its checksum wrong
    assert decoder.wanted == 0


def test_a_dsmr_telegram_has_no_length_to_wait_for() -> None:
    simulator = Simulator("netzooe", key=bytes(16))  # its text, before it is ciphered
    telegram, _values = dsmr_telegram(simulator.model.snapshot(MOMENT), "1ESY1161229886")
    decoder = Decoder()
    decoder.feed(telegram[:40])
    assert decoder.wanted == 0
    assert len(decoder.feed(telegram[40:])) == 1


@pytest.mark.parametrize("line", ["pty", "tcp"])
def test_a_push_at_the_lines_speed_takes_a_few_reads_and_none_is_lost(
        tmp_path: Path, line: str) -> None:
    link = tmp_path / "ttyMETER"
    pieces = reads = 0

    def chunk(data: bytes, when: datetime) -> None:
        nonlocal reads
        reads += 1

    async def scenario() -> tuple[list[int], list[int], int]:
        nonlocal pieces, reads
        meter = VirtualMeter(Simulator("vkw", key=bytes.fromhex(KEY)), link=link,
                             interval=2.0, pace=1.0,
                             tcp=("127.0.0.1", 0) if line == "tcp" else None)
        await meter.port.start()
        write = meter.port.write

        def counted(data: bytes, *, baud: int | None = None) -> None:
            nonlocal pieces
            pieces += 1
            write(data, baud=baud)

        meter.port.write = counted  # type: ignore[method-assign]
        connector = SerialConnector(str(link), (SerialSettings(2400),)) if meter.tcp is None \
            else TcpConnector(*meter.tcp)
        reader = LiveReader(connector, Decoder(KEY), on_bytes=chunk)
        readings = reader.readings()
        first = asyncio.ensure_future(anext(readings))
        for _ in range(3000):  # until the reader is on the port (on a real line, bytes
            if reader.state is SourceState.CONNECTED:  # sent before are lost)
                break
            await asyncio.sleep(0.01)
        assert reader.state is SourceState.CONNECTED, reader.state_message
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
    # a piece read the moment a frame's length is known, then the frame's rest at once (a
    # bridge's pace is measured first, from the first frame's first pieces)
    assert max(reads_per_push[1:]) <= 8, reads_per_push
    assert reads_per_push[0] <= (8 if line == "pty" else 16), reads_per_push


def test_a_bridges_pace_is_measured_from_a_burst_and_whole_frames_show_none() -> None:
    paced = LineRate()
    for moment in (99.0, 99.06, 99.12):  # a first burst slowed by a meter that waited
        paced.arrived(5, moment)
    assert paced.byte_time == pytest.approx(0.012)
    paced.wrote()  # the answer: what comes next waited for it, a new burst
    for piece in range(10):  # 5 bytes every 20 ms: 4 ms a byte
        paced.arrived(5, 100 + piece * 0.02)
    assert paced.byte_time == pytest.approx(0.004)  # the fastest pace shown is the line's
    paced.rested(100.5)  # a rest: the bytes kept meanwhile are the same burst's
    paced.arrived(80, 100.5)
    assert paced.byte_time == pytest.approx(0.5 / 125)
    paced.arrived(5, 101.5)  # after a quiet second: a new burst
    paced.arrived(5, 101.52)
    paced.arrived(5, 101.58)  # slower (a network's delay): the line's pace is kept
    assert paced.byte_time == pytest.approx(0.5 / 125)
    whole = LineRate()
    whole.arrived(256, 200.0)
    whole.arrived(120, 200.001)
    assert whole.byte_time is None  # a bridge that forwards frames at once: never rested
    assert rest_for(250, 0.004) == pytest.approx(1.02)
    assert rest_for(2000, 0.004) == 1.5  # a length field claiming more: looked at again
    assert rest_for(250, 0.0001) == 0.0  # a fast line: no rest worth it


def test_a_meter_that_waits_for_answers_is_never_rested_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AMIS waits for E5 after each frame and gives up after half a second: a rest that
    ends 20 ms after the frame is due made each answer 10 ms later."""
    rests = 0
    expect = SerialConnection.expect

    def counted(self: SerialConnection, size: int) -> None:
        nonlocal rests
        rests += 1
        expect(self, size)

    monkeypatch.setattr(SerialConnection, "expect", counted)

    async def scenario() -> tuple[int, int]:
        meter = VirtualMeter(Simulator("netzooe", key=bytes(range(16)), seed=2),
                             link=tmp_path / "ttyAMIS", interval=0.3, pace=1.0)
        await meter.port.start()
        running = asyncio.create_task(meter.run())
        reader = LiveReader(SerialConnector(str(meter.path), (SerialSettings(9600),)),
                            Decoder(bytes(range(16)).hex()))
        taken = 0
        async for _reading in reader.readings():
            taken += 1
            if taken == 5:
                break
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        meter.close()
        return taken, meter.searches

    taken, searches = asyncio.run(scenario())
    assert (taken, searches) == (5, 0)
    assert rests == 0


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
