"""The pure parts of live reading: detection probe, settings, faults, captures, messages."""

from __future__ import annotations

import argparse
import errno
import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from livekit import until
from smartmeter_readout import Decoder
from smartmeter_readout.capture.format import format_chunk, format_header, is_capture, parse_capture
from smartmeter_readout.capture.redact import Redactor
from smartmeter_readout.dlms.bare import BARE_APDU_PARSERS
from smartmeter_readout.events import EventKind
from smartmeter_readout.link.frames import CutShortFrame, RawApdu
from smartmeter_readout.link.splitter import FrameSplitter
from smartmeter_readout.live.detect import ProbeResult, SettingProbe
from smartmeter_readout.operators import AUTO_SETTINGS, SerialSettings, operators_for_maker
from smartmeter_readout.sim import pty
from smartmeter_readout.sim.faults import Fault, FaultPlan, damage
from smartmeter_readout.sim.pty import VirtualSerialPort
from smartmeter_readout.sim.simulator import PROFILES, Simulator
from smartmeter_readout.sources.base import SourceFatal, SourceUnavailable
from smartmeter_readout.sources.serial import open_error
from smartmeter_readout.sources.tcp import parse_host_port

KEY = bytes(range(16))
AUTH = bytes(range(16, 32))
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def push(profile: str, index: int = 0) -> bytes:
    return Simulator(profile, key=KEY, auth_key=AUTH).push(T0 + timedelta(seconds=index)).wire


def test_probe_finds_frames_at_the_right_setting() -> None:
    probe = SettingProbe(started=0.0)
    assert probe.feed(push("vkw"), 1.0) is ProbeResult.FOUND
    assert probe.framing == "M-Bus"


def test_probe_ignores_the_burst_under_way_when_listening_began() -> None:
    probe = SettingProbe(started=0.0)
    assert probe.feed(b"\x55" * 40, 0.01) is None  # cut-off push: no verdict from it
    assert probe.idle(0.5) is None
    assert probe.feed(b"\xaa" * 40, 1.0) is None  # a whole burst of noise ...
    assert probe.idle(1.5) is ProbeResult.WRONG  # ... ends: wrong setting


def test_probe_silence_and_noise_without_gaps() -> None:
    assert SettingProbe(started=0.0, silence=5).idle(5.1) is ProbeResult.SILENT
    probe = SettingProbe(started=0.0, max_bytes=100)
    assert probe.feed(bytes(101), 0.01) is ProbeResult.WRONG


def test_probe_takes_a_bare_apdu_meter() -> None:
    probe = SettingProbe(started=0.0)
    assert probe.feed(push("e-netze"), 1.0) is ProbeResult.FOUND
    assert probe.framing == "bare APDU"


@pytest.mark.parametrize(("text", "expected"), [
    ("2400 8E1", SerialSettings(2400, "E")), ("9600", SerialSettings(9600, "N")),
    ("115200/8n1", SerialSettings(115200, "N"))])
def test_serial_settings_parse(text: str, expected: SerialSettings) -> None:
    assert SerialSettings.parse(text) == expected
    assert str(expected).startswith(text.split(maxsplit=1)[0].split("/", maxsplit=1)[0])


def test_serial_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="not like '2400 8N1'"):
        SerialSettings.parse("fast")


def _args(**kw: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{"baud": "auto", "parity": "auto", "operator": None, **kw})


def serial_candidates(args: argparse.Namespace) -> tuple[SerialSettings, ...]:
    """What a command's --baud/--parity/--operator resolve to, through the composition root."""
    from smartmeter_readout.cli.common import UsageError, load
    from smartmeter_readout.errors import ConfigError
    from smartmeter_readout.service import build

    try:
        return build.serial_candidates(load(args))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def test_serial_candidates_from_flags_and_operators() -> None:
    assert serial_candidates(_args()) == AUTO_SETTINGS
    assert serial_candidates(_args(operator="tinetz")) == (SerialSettings(2400, "E"),)
    assert serial_candidates(_args(operator="tinetz", parity="N")) == (SerialSettings(2400),)
    assert serial_candidates(_args(baud="9600")) == (SerialSettings(9600, "N"),
                                                     SerialSettings(9600, "E"))
    assert all(s.parity == "E" for s in serial_candidates(_args(parity="E")))


def test_unknown_and_unsupported_operators_are_usage_errors() -> None:
    from smartmeter_readout.cli.common import UsageError

    with pytest.raises(UsageError, match="valid are vkw, tinetz"):
        serial_candidates(_args(operator="nowhere"))
    with pytest.raises(UsageError, match="not documented yet"):
        serial_candidates(_args(operator="linznetz-mep"))
    assert serial_candidates(_args(operator="netzooe")) == (SerialSettings(9600, "E"),)


@pytest.mark.parametrize(("maker", "layout", "settings", "encrypted", "expected"), [
    ("KFM", "B", SerialSettings(2400), True, ["netznoe"]),
    ("SAG", "B", SerialSettings(2400), True, ["netznoe"]),
    ("KFM", "A", SerialSettings(2400), True, ["vkw", "tinetz", "salzburgnetz"]),
    ("KFM", "A", SerialSettings(2400, "E"), True, ["tinetz", "salzburgnetz"]),
    ("ISK", "D1", SerialSettings(9600), True, ["wienernetze"]),
    ("SMS", "D2", SerialSettings(115200), True, ["kaerntennetz", "eww-wels"]),
    ("KFM", "D3 Kaifa KFM_001 list 2 (3-phase)", None, False, ["norway"]),
    ("LGZ", "netzburgenland", None, True, ["netzburgenland"]),
    ("SAG", "F", SerialSettings(115200), True, ["e-netze", "luxembourg"]),
    ("KFM", None, SerialSettings(115200), True, []),
])
def test_the_likely_operators_follow_what_the_meter_showed(
        maker: str, layout: str | None, settings: SerialSettings | None, encrypted: bool,
        expected: list[str]) -> None:
    from smartmeter_readout.operators import likely_operators

    found = likely_operators(maker, layout=layout, settings=settings, encrypted=encrypted)
    assert [op.name for op in found] == expected


def test_makers_lead_to_operators() -> None:
    names = [op.name for op in operators_for_maker("KFM")]
    assert {"vkw", "tinetz", "salzburgnetz", "netznoe"} <= set(names)
    assert operators_for_maker(None) == []


@pytest.mark.parametrize(("error", "kind", "words"), [
    (PermissionError(errno.EACCES, "Permission denied"), SourceFatal, "dialout"),
    (FileNotFoundError(errno.ENOENT, "No such file"), SourceUnavailable, "plugged in"),
    (OSError(errno.EBUSY, "busy"), SourceUnavailable, "another program"),
    (OSError(errno.ENOTTY, "Inappropriate ioctl"), SourceFatal, "not a serial port"),
])
def test_open_errors_name_the_fix(error: OSError, kind: type, words: str) -> None:
    port = "/dev/null" if kind is not SourceUnavailable or words != "plugged in" else "/x/y"
    found = open_error(port, error)
    assert isinstance(found, kind) and words in str(found)


def test_host_port() -> None:
    assert parse_host_port("192.168.1.50:8888") == ("192.168.1.50", 8888)
    assert parse_host_port("[::1]:23") == ("::1", 23)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("bridge")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("127.0.0.1:0")  # to connect to
    assert parse_host_port("127.0.0.1:0", listen=True) == ("127.0.0.1", 0)  # a free one


def test_fault_plans() -> None:
    assert FaultPlan.parse("0.1").rates == {k: 0.1 for k in Fault if k is not Fault.UNPLUG}
    assert FaultPlan.parse("drop=0.5,unplug=0.1").rates == {Fault.DROP: 0.5,
                                                            Fault.UNPLUG: 0.1}
    assert FaultPlan.parse("none").rates == {}
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        FaultPlan.parse("melt=0.1")
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultPlan.parse("drop=2")


def test_capture_round_trip() -> None:
    text = format_header("/dev/ttyUSB0", "2400 8N1") + format_chunk(T0, b"\x68\xfa")
    assert is_capture(text.encode())
    [chunk] = parse_capture(text)
    assert chunk.received == T0 and chunk.data == b"\x68\xfa"
    with pytest.raises(ValueError, match="line 4"):
        list(parse_capture(text + "garbage here\n"))


def test_bare_apdu_cut_short_keeps_the_next_one() -> None:
    first, second = push("e-netze", 0), push("e-netze", 1)
    damaged = first[:100] + first[101:]  # one byte lost on the line
    events = FrameSplitter(unframed=BARE_APDU_PARSERS).feed(damaged + second)
    assert any(isinstance(e, CutShortFrame) for e in events)
    assert [e.payload for e in events if isinstance(e, RawApdu)] == [second]


def _cut_stream(profile: str, cut: int = 4) -> tuple[list[bytes], bytes]:
    """Three pushes; the first frame of the second lost its last ``cut`` bytes."""
    sim = Simulator(profile, key=KEY, auth_key=AUTH)
    pushes = [list(sim.push(T0 + timedelta(seconds=i)).frames) for i in range(3)]
    pushes[1][0] = pushes[1][0][:-cut]
    return pushes[1], b"".join(b"".join(frames) for frames in pushes)


@pytest.mark.parametrize("profile", ["vkw", "wienernetze", "klagenfurt", "e-netze", "netzooe"])
@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_a_frame_cut_short_is_named_so_and_the_next_push_decodes(profile: str,
                                                                 step: int) -> None:
    """Start and length field arrived, then the next frame began: lost bytes, not a bad
    checksum or noise, however the bytes come in."""
    _, stream = _cut_stream(profile)
    decoder = Decoder(KEY, AUTH)
    readings = [r for at in range(0, len(stream), step)
                for r in decoder.feed(stream[at : at + step])]
    assert len(readings) == 2
    assert decoder.stats[EventKind.CUT_SHORT] == 1
    assert decoder.stats[EventKind.BAD_FRAME] == decoder.stats[EventKind.GARBAGE] == 0
    [event] = [e for e in decoder.take_events() if e.kind is EventKind.CUT_SHORT]
    assert "cut short after" in event.message


def test_a_flipped_bit_stays_a_broken_frame_not_one_cut_short() -> None:
    sim = Simulator("wienernetze", key=KEY)
    first, second = sim.push(T0).wire, sim.push(T0 + timedelta(seconds=1)).wire
    damaged = bytearray(first)
    damaged[-3] ^= 0x01  # the frame check sequence
    decoder = Decoder(KEY)
    assert len(decoder.feed(bytes(damaged) + second)) == 1
    assert decoder.stats[EventKind.BAD_FRAME] == 1 and not decoder.stats[EventKind.CUT_SHORT]


def test_a_false_head_inside_a_cut_frame_does_not_hold_the_stream() -> None:
    """An HDLC flag and format byte inside the cut frame, but an address that never ends:
    no head, and no reason to wait for more bytes."""
    frames, stream = _cut_stream("wienernetze")
    cut = frames[0]
    bogus = cut[:20] + b"\x7e\xa0\x10" + bytes(8) + cut[31:]
    stream = stream.replace(cut, bogus)
    decoder = Decoder(KEY, AUTH)
    readings = [r for byte in range(len(stream)) for r in decoder.feed(stream[byte : byte + 1])]
    assert len(readings) == 2 and decoder.stats[EventKind.CUT_SHORT] == 1


def test_the_probe_takes_frames_cut_short_for_the_right_setting() -> None:
    """Their heads check out: the setting is right, the reader then says bytes go missing."""
    sim = Simulator("vkw", key=KEY)
    cut = [frame[:-10] for frame in sim.push(T0).frames]
    probe = SettingProbe(started=0.0)
    assert probe.feed(b"".join(cut) + sim.push(T0).frames[0][:60], 1.0) is ProbeResult.FOUND
    assert probe.framing == "M-Bus"


def test_the_cut_fault_loses_a_frame_tail_after_its_head() -> None:
    frames = Simulator("vkw", key=KEY).push(T0).frames
    rng = random.Random(2)
    for _ in range(50):
        damaged = damage(frames, Fault.CUT, rng)
        shorter = [(a, b) for a, b in zip(frames, damaged, strict=True) if a != b]
        assert len(shorter) == 1
        whole, cut = shorter[0]
        assert 8 <= len(cut) < len(whole) - 1 and whole.startswith(cut)


def test_the_pty_keeps_bytes_a_slow_reader_takes_and_forgets_those_nobody_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pty, "_STALE", 0.0)  # no byte taken since the last write: stale
    with VirtualSerialPort() as port:
        reader = os.open(port.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            port.write(b"a" * 100)
            until(lambda: port.waiting() == 100, "the bytes on the slave side")
            assert os.read(reader, 10) == b"a" * 10  # a reader, however slow
            port.before_frame()
            assert port.waiting() == 90  # kept for it
            port.write(b"b" * 10)
            until(lambda: port.waiting() == 100, "the bytes on the slave side")
            port.before_frame()  # not a byte taken since: nobody is reading
            assert port.waiting() == 0
        finally:
            os.close(reader)


def test_listening_from_inside_a_frame_decodes_no_fragment() -> None:
    sim = Simulator("vkw", key=KEY)
    stream = sim.push(T0).wire + sim.push(T0 + timedelta(seconds=5)).wire
    decoder = Decoder(KEY)
    readings = decoder.feed(stream[20:])  # started inside the first M-Bus frame
    assert [r.frame_counter for r in readings] == [1002]
    assert decoder.stats[EventKind.MALFORMED] == decoder.stats[EventKind.WRONG_KEY] == 0


def test_broken_frame_between_segments_drops_the_push() -> None:
    sim = Simulator("netznoe", key=KEY)
    one, two = sim.push(T0), sim.push(T0 + timedelta(seconds=5))
    broken_first = bytearray(two.frames[0])
    broken_first[-2] ^= 1
    decoder = Decoder(KEY)
    # push one loses its last segment; push two its first: never join one[0] + two[1]
    assert decoder.feed(one.frames[0] + bytes(broken_first) + two.frames[1]) == []
    assert decoder.stats[EventKind.SEGMENT_LOST] >= 1


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_redacted_stream_decodes_to_the_same_values_without_identifiers(profile: str) -> None:
    sim = Simulator(profile, key=KEY, auth_key=AUTH, seed=4)
    pushes = [sim.push(T0 + timedelta(seconds=10 * i)) for i in range(3)]
    stream = b"\x00\x11" + b"".join(p.wire for p in pushes)
    redactor = Redactor(KEY, AUTH)
    out = b"".join(redactor.feed(stream[i : i + 37]) for i in range(0, len(stream), 37))
    out += redactor.flush()
    assert len(out) == len(stream) and redactor.redacted == 3 and redactor.left_out == 0
    auth = AUTH if sim.profile.authenticated else None
    before, after = Decoder(KEY, auth).feed(stream), Decoder(KEY, auth).feed(out)
    assert len(after) == 3, profile
    ids = {"meter_id", "device_name"}
    for old, new in zip(before, after, strict=True):
        assert {k: m for k, m in old.values.items() if m.name not in ids} == \
            {k: m for k, m in new.values.items() if m.name not in ids}
        assert old.frame_counter == new.frame_counter
        if old.meter.system_title:
            assert new.meter.system_title != old.meter.system_title
            assert new.meter.manufacturer == old.meter.manufacturer
        for name in (old.meter.id, old.meter.device_name):
            if name and any(c.isdigit() for c in name):
                assert name.encode() not in out
    if sim.profile.system_title:
        assert sim.profile.system_title not in out


@pytest.mark.parametrize(("name", "operator"), [
    ("evn", "netznoe"), ("EVN", "netznoe"), ("NetzNOE", "netznoe"), ("Netz NOE", "netznoe"),
    ("netz-noe", "netznoe"), ("Wiener Netze", "wienernetze"), ("KELAG", "kaerntennetz"),
    ("Netz_Burgenland", "netzburgenland"), ("e-netze", "e-netze")])
def test_operators_are_found_by_the_names_people_use(name: str, operator: str) -> None:
    from smartmeter_readout.operators import find_operator

    assert find_operator(name).name == operator


def test_an_unknown_operator_gets_a_did_you_mean() -> None:
    from smartmeter_readout.operators import find_operator

    with pytest.raises(ValueError, match="did you mean 'tinetz'"):
        find_operator("tinetzz")


def test_decode_counts_frames_cut_short(capsys: pytest.CaptureFixture[str]) -> None:
    from smartmeter_readout.cli.main import main

    _, stream = _cut_stream("wienernetze")
    assert main(["decode", stream.hex(), "--key", KEY.hex(), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "1 frames cut short (bytes lost between meter and reader)" in captured.err
