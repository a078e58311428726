"""The fast paths decode exactly what the long way decodes (issue 25).

A warm decoder takes a push like the last one without the splitter (``PushShape``) and its
body through the compiled template, with the clock derived from the last one; a cold
decoder (new for every push) takes the long way each time. Both must give equal readings
for every profile, across minute, hour, day and DST boundaries, and the same events for
damaged pushes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.events import EventKind
from smartmeter_readout.link.checksums import mbus_checksum, mbus_checksum_reference
from smartmeter_readout.link.mbus import PushShape
from smartmeter_readout.sim.simulator import PROFILES, Simulator

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AUTH = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
# before the autumn DST change in Vienna (02:00-03:00 local twice), pushes 7 s apart
AUTUMN = datetime(2024, 10, 27, 0, 58, 30, tzinfo=UTC)
SPRING = datetime(2024, 3, 31, 0, 59, 30, tzinfo=UTC)


def _decoder(name: str) -> Decoder:
    return Decoder(KEY, AUTH if PROFILES[name].authenticated else None)


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("start", [AUTUMN, SPRING], ids=["autumn", "spring"])
def test_a_warm_decoder_reads_what_a_cold_one_reads(name: str, start: datetime) -> None:
    simulator = Simulator(name, key=KEY, auth_key=AUTH, seed=11)
    pushes = simulator.pushes(start, 40, interval=7)
    warm = _decoder(name)
    for push in pushes:
        got = warm.feed(push.wire)
        cold = _decoder(name)
        expected = cold.feed(push.wire) + cold.feed(b"", final=True)
        got += warm.feed(b"", final=True)
        assert [r.to_dict(full=True) for r in got] == \
            [r.to_dict(full=True) for r in expected], push.time
        assert [r.time for r in got] == [r.time for r in expected]  # fold and zone too
        assert [r.time.utcoffset() for r in got if r.time] == \
            [r.time.utcoffset() for r in expected if r.time]
    assert warm.stats.ok >= len(pushes)


def test_the_clock_text_follows_the_second_minute_and_offset() -> None:
    simulator = Simulator("vkw", key=KEY, seed=2)
    decoder = Decoder(KEY)
    for push in simulator.pushes(AUTUMN, 200, interval=13):
        (reading,) = decoder.feed(push.wire)
        clock = reading.values["0.0.1.0.0.255"].value
        assert clock == reading.time.isoformat(), (clock, reading.time)
        assert datetime.fromisoformat(clock).timestamp() == push.time.timestamp()


def test_the_shape_check_rejects_what_the_splitter_rejects() -> None:
    """Damage in a push of the last push's shape: the splitter judges it, as before."""
    simulator = Simulator("vkw", key=KEY, seed=5)
    pushes = [push.wire for push in simulator.pushes(AUTUMN, 8, interval=5)]
    decoder = Decoder(KEY)
    assert len(decoder.feed(pushes[0])) == 1
    assert PushShape.of(pushes[1]) is not None
    broken = bytearray(pushes[1])
    broken[100] ^= 0x01  # inside the first frame: its checksum fails
    assert decoder.feed(bytes(broken)) == []
    kinds = {event.kind for event in decoder.take_events()}
    assert EventKind.BAD_FRAME in kinds
    no_stop = bytearray(pushes[2])
    no_stop[-1] = 0x17
    assert decoder.feed(bytes(no_stop)) == []
    assert decoder.take_events()
    assert len(decoder.feed(pushes[3])) == 1  # and the next whole push is read again
    halves = pushes[4][:100], pushes[4][100:]  # in pieces: the splitter's way
    assert decoder.feed(halves[0]) == [] and len(decoder.feed(halves[1])) == 1
    assert len(decoder.feed(pushes[5] + pushes[6])) == 2  # two at once: the splitter's
    assert len(decoder.feed(pushes[7])) == 1
    assert decoder.take_events() == []
    assert decoder.stats.ok == 6


def test_a_shape_is_only_whole_numbered_segments() -> None:
    simulator = Simulator("vkw", key=KEY, seed=5)
    wire = simulator.pushes(AUTUMN, 1)[0].wire
    first = wire[1] + 6
    assert PushShape.of(wire) is not None
    assert PushShape.of(wire[:first]) is None  # segment 0 without its last one
    assert PushShape.of(wire[first:]) is None  # segment 1 without segment 0
    assert PushShape.of(wire + wire) is None  # two pushes
    assert PushShape.of(wire[:-1]) is None
    assert PushShape.of(b"\x00" + wire) is None


def test_the_fast_mbus_checksum_is_the_byte_sum() -> None:
    for size in [*range(0, 520), 1000, 4096]:
        for data in (os.urandom(size), b"\xff" * size, bytes(size)):
            assert mbus_checksum(data) == mbus_checksum_reference(data), size
            assert mbus_checksum(bytearray(data)) == mbus_checksum_reference(data)
            assert mbus_checksum(memoryview(data)) == mbus_checksum_reference(data)


def test_a_damaged_push_is_counted_alike_warm_and_cold() -> None:
    """Every single-bit flip of one push: the warm decoder's events equal a cold one's."""
    simulator = Simulator("vkw", key=KEY, seed=9)
    first, second = (push.wire for push in simulator.pushes(AUTUMN, 2, interval=5))
    for position in range(0, len(second), 7):
        damaged = bytearray(second)
        damaged[position] ^= 0x10
        warm = Decoder(KEY)
        warm.feed(first)
        warm.take_events()
        cold = Decoder(KEY)
        cold.feed(first)
        cold._shape = None  # the splitter's way for the damaged push
        cold.take_events()
        got = warm.feed(bytes(damaged)) + warm.feed(b"", final=True)
        expected = cold.feed(bytes(damaged)) + cold.feed(b"", final=True)
        assert [r.to_dict() for r in got] == [r.to_dict() for r in expected], position
        assert [e.kind for e in warm.take_events()] == [e.kind for e in cold.take_events()]


def test_pushes_from_now_on_the_live_clock() -> None:
    simulator = Simulator("vkw", key=KEY, seed=4)
    start = datetime.now(UTC).replace(microsecond=0)
    decoder = Decoder(KEY)
    for step in range(30):
        moment = start + timedelta(seconds=step)
        (reading,) = decoder.feed(simulator.push(moment).wire)
        assert reading.time.timestamp() == moment.timestamp()


def _reframed(wire: bytes, position: int, flip: int) -> bytes:
    """``wire`` with a bit flipped at ``position`` and every M-Bus checksum made right: the
    link layer passes it, the layers above must judge it."""
    data = bytearray(wire)
    data[position] ^= flip
    pos = 0
    while pos < len(data):
        end = pos + 4 + data[pos + 1]
        data[end] = mbus_checksum_reference(data[pos + 4 : end])
        pos = end + 2
    return bytes(data)


@pytest.mark.parametrize("name", ["vkw", "ekz_e450_mbus_shaped"] if "ekz_e450_mbus_shaped"
                         in PROFILES else ["vkw"])
def test_altered_content_that_passes_the_link_is_judged_alike(name: str) -> None:
    """Flipped bits in the ciphered APDU behind right checksums (system title, length,
    security control, counter, ciphertext): the lane of a warm decoder gives the push to the
    general path whenever it does not fit, so readings, events and what it has seen equal
    those of a decoder with the same past that takes the general path, and a cold one's."""
    simulator = Simulator(name, key=KEY, seed=13)
    first, second = (push.wire for push in simulator.pushes(AUTUMN, 2, interval=5))
    head = first[1] + 6
    positions = [*range(9, 40), *range(60, head - 2, 11), *range(head + 9, len(first) - 2, 13)]
    for position in positions:
        for flip in (0x01, 0x80):
            damaged = _reframed(second, position, flip)
            warm, general, cold = Decoder(KEY), Decoder(KEY), Decoder(KEY)
            for decoder in (warm, general):
                decoder.feed(first)
                decoder.take_events()
            general._lane = general._shape = None  # the general path, with the same past
            got = warm.feed(damaged) + warm.feed(b"", final=True)
            expected = general.feed(damaged) + general.feed(b"", final=True)
            alone = cold.feed(damaged) + cold.feed(b"", final=True)
            assert [r.to_dict(full=True) for r in got] == \
                [r.to_dict(full=True) for r in expected] == \
                [r.to_dict(full=True) for r in alone], (position, flip)
            assert [e.kind for e in warm.take_events()] == \
                [e.kind for e in general.take_events()], (position, flip)
            assert warm.seen == general.seen, (position, flip)


@pytest.mark.parametrize("auth", [AUTH, None], ids=["tag checked", "tag unchecked"])
def test_authenticated_pushes_take_the_lane_with_their_tag_checked(auth: bytes | None) -> None:
    """Netz Burgenland's E450 authenticates (SC 0x30): a broken tag behind a lane is
    rejected as the general path rejects it; without the key the unchecked tags are counted
    alike."""
    from smartmeter_readout.sim.faults import break_tag

    simulator = Simulator("netzburgenland", key=KEY, auth_key=AUTH, seed=21)
    start = AUTUMN
    warm, general = Decoder(KEY, auth), Decoder(KEY, auth)
    for step in range(12):
        push = simulator.push(start + timedelta(seconds=5 * step),
                              tamper=break_tag if step in (4, 5, 9) else None)
        general._lane = general._shape = None
        got, expected = warm.feed(push.wire), general.feed(push.wire)
        assert [r.to_dict(full=True) for r in got] == \
            [r.to_dict(full=True) for r in expected], step
        if auth is not None:
            assert len(got) == (0 if step in (4, 5, 9) else 1), step
        assert [e.kind for e in warm.take_events()] == \
            [e.kind for e in general.take_events()], step
    assert warm.stats == general.stats
    assert warm._lane is not None  # the lane was taken
