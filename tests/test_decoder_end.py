"""The end of an input, and several data-notifications in one frame (issue 22 item 4, issue 26
item 1).

A bare ciphered APDU has no end mark: the splitter holds one whose last bytes could begin the
next one's header until the next bytes show they do not. A live line always brings them; a
capture ends, and ``feed(..., final=True)`` says so. A Swiss L+G E450 sends three whole
notifications in one HDLC frame: each is a reading of its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import feed_ways
from smartmeter_readout import Decoder, Reading, decode, layout_from_config
from smartmeter_readout.capture.format import format_chunk, format_header
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.cosem_time import encode_datetime
from smartmeter_readout.events import EventKind
from smartmeter_readout.link.hdlc import build_hdlc_frame
from smartmeter_readout.live.reader import LiveReader
from smartmeter_readout.sim.simulator import LLC, PROFILES, Simulator, hdlc_framer
from smartmeter_readout.sources.replay import ReplayConnector

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AUTH = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
START = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parent / "corpus"


def _ending_in(last: int, *, moment: datetime = START, simulator: Simulator | None = None,
               ) -> bytes:
    """A bare ciphered APDU (Sagemcom T210-D, DSMR inside GCM) whose last byte is ``last``:
    the last byte of its GCM tag, which a decoder without the authentication key reads
    past (the tag unchecked)."""
    simulator = simulator or Simulator("e-netze", key=KEY)
    return simulator.push(moment, tamper=lambda apdu: apdu[:-1] + bytes((last,))).wire


def test_a_bare_apdu_ending_in_db_is_held_until_the_input_ends() -> None:
    wire = _ending_in(0xDB)
    decoder = Decoder(KEY)
    assert decoder.feed(wire) == []  # its last byte may be the next header's first
    [reading] = decoder.feed(b"", final=True)
    assert reading.values["1.0.1.8.0.255"].value > 0
    assert decode(wire, KEY)  # the one-shot decode() ends its input


def test_every_last_byte_of_a_bare_ciphered_apdu_gives_its_push() -> None:
    simulator = Simulator("e-netze", key=KEY)
    for last in range(256):
        moment = START + timedelta(seconds=10 * last)
        wire = _ending_in(last, moment=moment, simulator=simulator)
        readings = decode(wire, KEY)
        assert [r.time for r in readings] == [moment], last
        decoder = Decoder(KEY)  # fed in pieces, ended by an empty final feed
        readings = decoder.feed(wire[:-1]) + decoder.feed(wire[-1:])
        readings += decoder.feed(b"", final=True)
        assert [r.time for r in readings] == [moment], last


def _bare_ciphered(name: str) -> bool:
    """Does the profile push bare ciphered APDUs (whose last byte we may choose)?"""
    profile = PROFILES[name]
    return (profile.framer.__name__ == "bare_framer" and not profile.amis
            and profile.security_control is not None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PROFILES)), last=st.integers(0, 255), count=st.integers(1, 4),
       data=st.data())
def test_a_capture_ends_with_its_last_push_decoded_whatever_its_last_byte(
        name: str, last: int, count: int, data: st.DataObject) -> None:
    """Any framing, cut in any pieces; where the push is a bare APDU its last byte is any
    value. After the final feed every push has come out, and no byte is held."""
    simulator = Simulator(name, key=KEY, auth_key=AUTH)
    bare = _bare_ciphered(name)
    pushes = [simulator.push(START + timedelta(seconds=300 * i),
                             tamper=(lambda apdu: apdu[:-1] + bytes((last,))) if bare else None)
              for i in range(count)]
    stream = b"".join(push.wire for push in pushes)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = Decoder(KEY)  # no auth key: a tampered tag is read past, not rejected
    readings: list[Reading] = []
    previous = 0
    for cut in cuts:
        readings += decoder.feed(stream[previous:cut])
        previous = cut
    readings += decoder.feed(stream[previous:], final=True)
    assert [r.time for r in readings] == [p.time for p in pushes], decoder.take_events()
    assert decoder._splitter.pending == 0
    if not bare:
        for reading, push in zip(readings, pushes, strict=True):
            for key, value in push.expected.items():
                assert reading.values[key].value == value


def test_a_live_stream_needs_no_end_the_next_bytes_release_a_held_push() -> None:
    """Every push ends in DB: each waits, and the first byte of the next releases it (the
    next push begins with its own header, DB 08 SAG5..., which no tail of the last one
    continues)."""
    simulator = Simulator("e-netze", key=KEY)
    wires = [_ending_in(0xDB, moment=START + timedelta(seconds=10 * i), simulator=simulator)
             for i in range(5)]
    decoder = Decoder(KEY)
    seen: list[Reading] = []
    for index, wire in enumerate(wires):
        seen += decoder.feed(wire[:1], received=START)
        assert len(seen) == index  # the one before came out with this push's first byte
        seen += decoder.feed(wire[1:], received=START)
        assert len(seen) == index
    assert decoder.stats.ok == 4
    assert len(decoder.feed(b"", final=True)) == 1


def test_the_end_keeps_the_receive_time_of_the_last_bytes() -> None:
    wire = _ending_in(0xDB)
    decoder = Decoder(KEY)
    arrived = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert decoder.feed(wire, received=arrived) == []
    [reading] = decoder.feed(b"", final=True)
    assert reading.received == arrived


@pytest.mark.parametrize("framing", ["hdlc", "mbus", "bare"])
def test_an_input_that_ends_inside_a_frame_says_so_and_holds_nothing(framing: str) -> None:
    name = {"hdlc": "netzburgenland", "mbus": "vkw", "bare": "e-netze"}[framing]
    simulator = Simulator(name, key=KEY, auth_key=AUTH)
    whole, cut = simulator.push(START).wire, simulator.push(START + timedelta(minutes=5)).wire
    decoder = Decoder(KEY, AUTH if simulator.profile.authenticated else None)
    readings = decoder.feed(whole + cut[: len(cut) // 2], final=True)
    assert len(readings) == 1
    assert decoder._splitter.pending == 0
    events = decoder.take_events()
    if framing == "bare":  # no length check without a link: its bytes were noise
        assert decoder.stats[EventKind.GARBAGE] > 0
    else:
        [event] = [e for e in events if e.kind is EventKind.CUT_SHORT]
        assert "the input ends inside it" in str(event.message)
    # a decoder fed after its end reads a new input
    assert len(decoder.feed(simulator.push(START + timedelta(minutes=10)).wire,
                            final=True)) == 1


def test_an_input_that_ends_between_the_segments_of_a_push() -> None:
    simulator = Simulator("vkw", key=KEY)  # two M-Bus segments a push
    frames = simulator.push(START).frames
    assert len(frames) == 2
    decoder = Decoder(KEY)
    assert decoder.feed(frames[0], final=True) == []
    [event] = decoder.take_events()
    assert event.kind is EventKind.CUT_SHORT
    assert "between the segments" in str(event.message)
    assert decoder.feed(frames[1]) == []  # the second alone is no push
    assert len(decoder.feed(b"".join(simulator.push(START + timedelta(minutes=5)).frames))) == 1


def test_the_decode_command_prints_the_last_push_of_a_capture(tmp_path: Path) -> None:
    wires = [_ending_in(0xDB, moment=START + timedelta(seconds=10 * i)) for i in range(2)]
    raw = tmp_path / "capture.bin"
    raw.write_bytes(wires[0])
    recorded = tmp_path / "capture.txt"  # a recorded capture: the last push's receive time
    arrived = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    recorded.write_text(format_header("test") + format_chunk(arrived, wires[1]),
                        encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "smartmeter_readout", "decode", str(raw),
                             wires[1].hex(), str(recorded), "--key", KEY.hex(), "--format",
                             "json"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    readings = json.loads(result.stdout)
    assert len(readings) == 3, result.stderr
    assert readings[2]["received"].startswith("2025-06-01T12:00:00")


def test_a_replay_gives_its_last_push(tmp_path: Path) -> None:
    """``read --replay`` and the service read a capture through the live reader: when the
    capture has played, the decoder is told the input ended."""
    wires = [_ending_in(0xDB, moment=START + timedelta(seconds=10 * i)) for i in range(3)]
    capture = tmp_path / "capture.txt"
    capture.write_text(format_header("test") + "".join(
        format_chunk(START + timedelta(seconds=10 * i), wire) for i, wire in enumerate(wires)),
        encoding="utf-8")

    async def play() -> list[Reading]:
        reader = LiveReader(ReplayConnector(capture, speed=0), Decoder(KEY))
        return [reading async for reading in reader.readings()]

    readings = asyncio.run(play())
    assert len(readings) == 3
    assert readings[2].received == START + timedelta(seconds=20)


# ------------------------------------------------------------ several notifications a frame

E450_CH = json.loads((CORPUS / "austria.json").read_text(encoding="utf-8"))
E450_CH = next(e for e in E450_CH if e["id"] == "ch_lg_e450_three_notifications_gh74")


def _e450_decoder() -> Decoder:
    return Decoder(timezone="Europe/Zurich",
                   layouts=[layout_from_config("ch", E450_CH["layout"])])


def test_the_swiss_e450_frame_gives_three_readings_in_order() -> None:
    frame = bytes.fromhex(E450_CH["hex"])
    for way, chunks in feed_ways(frame).items():
        decoder = _e450_decoder()
        readings = [r for chunk in chunks for r in decoder.feed(chunk)]
        assert [r.time.isoformat() for r in readings if r.time] == [
            "2024-11-03T19:00:15+01:00", "2024-11-03T19:01:15+01:00",
            "2024-11-03T19:02:15+01:00"], (way, decoder.take_events())
        assert [r.values["1.0.1.8.0.255"].value for r in readings] == [
            21040168, 21040186, 21040203]
        assert all(r.meter_time for r in readings)
        assert not [e for e in decoder.take_events() if e.kind is not EventKind.GARBAGE], way


def test_without_a_layout_the_swiss_frame_names_its_unknown_list_not_its_length() -> None:
    decoder = Decoder(timezone="Europe/Zurich")
    assert decoder.feed(bytes.fromhex(E450_CH["hex"])) == []
    [event] = decoder.take_events()
    assert event.kind is EventKind.UNKNOWN_LAYOUT  # before: 66 unexpected bytes


def _several(security_control: int | None) -> Simulator:
    profile = replace(PROFILES["lg-e450-flat"], framer=hdlc_framer(), notifications=3,
                      interval=60.0, security_control=security_control)
    return Simulator(profile, key=KEY, auth_key=AUTH)


@pytest.mark.parametrize("security_control", [None, 0x30])
def test_simulated_frames_of_three_notifications_round_trip(security_control: int | None,
                                                             ) -> None:
    simulator = _several(security_control)
    pushes = simulator.pushes(START, 4, interval=180)
    warm = Decoder(KEY, AUTH)  # templates after the first frame
    readings = [r for push in pushes for r in warm.feed(push.wire)]
    assert len(readings) == 12, warm.take_events()
    wanted = [(moment, expected, push.frame_counter) for push in pushes
              for moment, expected in push.batch]
    for reading, (moment, expected, counter) in zip(readings, wanted, strict=True):
        assert reading.time == moment
        for key, value in expected.items():
            assert reading.values[key].value == value, key
        if security_control is not None:
            assert reading.frame_counter == counter  # the frame's one counter, shared
    times = [r.time for r in readings if r.time]
    assert times == sorted(times) and len(set(times)) == 12
    cold = [Decoder(KEY, AUTH).feed(push.wire) for push in pushes]  # the long way each time
    assert [r.to_dict() for group in cold for r in group] == [r.to_dict() for r in readings]


def _notification(minute: int, energy: int, body: axdr.Node | None = None) -> bytes:
    moment = datetime(2024, 11, 3, 19, minute, 15)
    return build_notification(body or (axdr.STRUCTURE, [(axdr.UINT32, energy), (axdr.UINT32, 0)]),
                              invoke_id=minute, date_time=encode_datetime(moment))


def test_notifications_back_to_back_without_llc_headers_too() -> None:
    info = LLC + b"".join(_notification(m, 100 + m) for m in range(3))
    decoder = _e450_decoder()
    readings = decoder.feed(build_hdlc_frame(info))
    assert [r.values["1.0.1.8.0.255"].value for r in readings] == [100, 101, 102]


@pytest.mark.parametrize("rest", [
    LLC + _notification(1, 101)[:-3],  # a notification cut off
    LLC + b"\x00\x00\x00\x00",  # anything else
    _notification(1, 101) + b"\x00",  # a whole one, then a stray byte
    LLC + _notification(1, 0, body=(axdr.UINT32, 7)),  # a body that is no list
])
def test_other_bytes_after_a_notification_stay_an_error(rest: bytes) -> None:
    decoder = _e450_decoder()
    assert decoder.feed(build_hdlc_frame(LLC + _notification(0, 100) + rest)) == []
    [event] = decoder.take_events()
    assert event.kind is EventKind.MALFORMED
    assert "unexpected bytes after the notification" in str(event.message)
