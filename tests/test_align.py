"""A capture begins with a whole push, whatever moment the recording started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.capture.align import PushAligner
from smartmeter_readout.sim.simulator import Simulator

KEY = bytes(range(16))
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
PROFILES = ["vkw", "netznoe", "netznoe-sagemcom", "wienernetze", "kaerntennetz", "klagenfurt",
            "am550-segmented", "e-netze", "vkw-honeywell"]
UNFRAMED = {"e-netze"}  # bare APDUs: the first one may have been read from inside a frame


def pushes(profile: str, count: int = 4) -> list[bytes]:
    sim = Simulator(profile, key=KEY, seed=5)
    return [sim.push(T0 + timedelta(seconds=10 * i)).wire for i in range(count)]


def aligned(stream: bytes, chunk: int) -> tuple[bytes, PushAligner]:
    aligner = PushAligner()
    out = b"".join(aligner.feed(stream[i : i + chunk]) for i in range(0, len(stream), chunk))
    return out + aligner.flush(), aligner


@pytest.mark.parametrize("profile", PROFILES)
def test_a_recording_begins_at_the_next_whole_push(profile: str) -> None:
    wires = pushes(profile)
    stream = b"".join(wires)
    skipped = 1 if profile in UNFRAMED else 0
    first = sum(len(wire) for wire in wires[: 1 + skipped])
    start = len(wires[0])  # cut inside the first push
    for cut in sorted({1, 2, 9, start // 3, start // 2, start - 3, start - 1}):
        for chunk in (1, 7, 64, len(stream)):
            out, aligner = aligned(stream[cut:], chunk)
            assert out == stream[first:], (profile, cut, chunk)
            assert aligner.skipped == first - cut
            decoder = Decoder(KEY)
            assert len(decoder.feed(out)) == len(wires) - 1 - skipped
            assert not [e for e in decoder.take_events() if e.kind.problem]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_recording_that_starts_between_pushes_keeps_every_byte(profile: str) -> None:
    stream = b"".join(pushes(profile))
    out, aligner = aligned(stream, 5)
    first = len(pushes(profile)[0]) if profile in UNFRAMED else 0
    assert out == stream[first:] and aligner.skipped == first
    assert len(Decoder(KEY).feed(out)) == 4 - (profile in UNFRAMED)


def test_an_unknown_framing_is_recorded_as_it_comes() -> None:
    noise = bytes(range(256)).replace(b"\x68", b"").replace(b"\x7e", b"") * 10
    out, aligner = aligned(noise, 100)
    assert out == noise and not aligner.found
    long_noise = noise * 20  # past the limit: let through without waiting for the end
    first = PushAligner()
    assert first.feed(long_noise) == long_noise
