"""The pure parts of live reading: detection probe, settings, faults, captures, messages."""

from __future__ import annotations

import argparse
import errno
from datetime import UTC, datetime, timedelta

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.capture.format import format_chunk, format_header, is_capture, parse_capture
from smartmeter_readout.capture.redact import Redactor
from smartmeter_readout.dlms.bare import BARE_APDU_PARSERS
from smartmeter_readout.events import EventKind
from smartmeter_readout.link.frames import BrokenFrame, RawApdu
from smartmeter_readout.link.splitter import FrameSplitter
from smartmeter_readout.live.detect import ProbeResult, SettingProbe
from smartmeter_readout.operators import AUTO_SETTINGS, SerialSettings, operators_for_maker
from smartmeter_readout.sim.faults import Fault, FaultPlan
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
        serial_candidates(_args(operator="linznetz"))
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
    assert any(isinstance(e, BrokenFrame) for e in events)
    assert [e.payload for e in events if isinstance(e, RawApdu)] == [second]


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
