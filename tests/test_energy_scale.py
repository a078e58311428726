"""Energy units judged over time (cosem.energy_scale): a counter's rise against its power.

Series are built from real captures (tests/corpus/nordic.json) by re-encoding their bodies
with a load that changes and counters that rise with it, and from the simulator's profiles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from smartmeter_readout import Decoder, Reading
from smartmeter_readout.cosem.energy_scale import EnergyScale, units_implied
from smartmeter_readout.cosem.obis import format_obis, parse_obis
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification, parse_notification
from smartmeter_readout.dlms.cosem_time import encode_datetime
from smartmeter_readout.dlms.security import encrypt_apdu
from smartmeter_readout.events import Event, EventKind
from smartmeter_readout.message import Message
from smartmeter_readout.reading import Measurement, MeterIdentity
from smartmeter_readout.sim.simulator import Simulator, hdlc_framer

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
VIENNA = ZoneInfo("Europe/Vienna")
NORDIC = {entry["id"]: entry for entry in json.loads(
    (Path(__file__).resolve().parent / "corpus" / "nordic.json").read_text(encoding="utf-8"))}
IMPORT = "1.1.1.8.0.255"


def implausible(decoder: Decoder) -> list[Event]:
    return [event for event in decoder.take_events() if event.kind is EventKind.IMPLAUSIBLE]


def load(moment: datetime) -> int:
    """A household in W: 600 W, and a 2.4 kW heater for 6 minutes in every 20."""
    return 600 + (2400 if moment.minute % 20 < 6 else 0)


# ------------------------------------------------------------------ Kamstrup from captures


def capture_body(entry_id: str) -> list[axdr.Node]:
    """The body items of a corpus capture (a Kamstrup HDLC frame: 8 header bytes, LLC)."""
    raw = bytes.fromhex(NORDIC[entry_id]["hex"])
    apdu = raw[11:-3]
    notification, end = parse_notification(apdu)
    assert end == len(apdu) and notification.body[0] == axdr.STRUCTURE
    return list(notification.body[1])


def rewritten(items: list[axdr.Node], numbers: dict[str, int], clock: bytes) -> axdr.Node:
    """The same body with new numbers for some codes (same types) and a new clock."""
    out = list(items)
    for index in range(len(out) - 1):
        tag, value = out[index]
        if tag != axdr.OCTET_STRING or len(value) != 6:
            continue
        code = format_obis(value)
        following = out[index + 1]
        if code in numbers:
            out[index + 1] = (following[0], numbers[code])
        elif following[0] == axdr.OCTET_STRING and len(following[1]) == 12:
            out[index + 1] = (axdr.OCTET_STRING, clock)
    return (axdr.STRUCTURE, out)


def kamstrup_series(list1: str, list2: str, hours: float, wh_per_count: int,
                    start: datetime) -> Iterator[tuple[datetime, bytes, int]]:
    """Kamstrup_V0001 pushes from two real captures: list 1 every 10 s, list 2 (counters)
    at ten seconds past every hour; the counters count ``wh_per_count`` Wh. Yields (time,
    HDLC frame, raw import count)."""
    short, hourly = capture_body(list1), capture_body(list2)
    first = next(value for (tag, value), (_, code) in zip(hourly[1:], hourly, strict=False)
                 if tag == axdr.UINT32 and code == parse_obis(IMPORT))
    energy = first * wh_per_count  # Wh
    frame = hdlc_framer()
    for n in range(int(hours * 360) + 1):
        moment = start + timedelta(seconds=10 * n)
        watts = load(moment)
        per_phase = round(watts / 3 / 230 * 100)  # 0.01 A
        numbers = {"1.1.1.7.0.255": watts, "1.1.2.7.0.255": 0, "1.1.3.7.0.255": 0,
                   "1.1.4.7.0.255": 0, "1.1.31.7.0.255": per_phase,
                   "1.1.51.7.0.255": per_phase, "1.1.71.7.0.255": per_phase}
        count = int(energy // wh_per_count)
        items = short
        if moment.minute == 0 and moment.second == 10:
            items, numbers[IMPORT] = hourly, count
        stamp = encode_datetime(moment, deviation=False)
        apdu = build_notification(rewritten(items, numbers, stamp), invoke_id=n,
                                  date_time=stamp)
        yield moment, b"".join(frame(apdu)), count
        energy += watts * 10 / 3600


def feed_series(decoder: Decoder, series: Iterator[tuple[datetime, bytes, int]]
                ) -> list[tuple[Reading, int]]:
    out = []
    for moment, wire, count in series:
        for reading in decoder.feed(wire, received=moment):
            out.append((reading, count))
    return out


START = datetime(2022, 2, 17, 17, 59, 50, tzinfo=VIENNA)


def test_norwegian_kamstrup_counting_10_wh_fits_its_power_hour_after_hour() -> None:
    decoder = Decoder()
    readings = feed_series(decoder, kamstrup_series(
        "no_kamstrup_omnipower_list1_3p_1", "no_kamstrup_omnipower_list2_3p_1", 4, 10, START))
    hourly = [(r, count) for r, count in readings if IMPORT in r.values]
    assert len(hourly) == 4 and len(readings) == 4 * 360 + 1
    assert implausible(decoder) == []
    assert decoder.stats[EventKind.IMPLAUSIBLE] == 0
    for reading, count in hourly:
        assert reading.values[IMPORT].value == count * 10  # the documented 10 Wh stays
    rise = hourly[-1][0].values[IMPORT].value - hourly[-2][0].values[IMPORT].value
    assert 1300 <= rise <= 1340  # 600 W + 2.4 kW for 18 of 60 minutes: 1.32 kWh


def test_swedish_kamstrup_counting_wh_is_found_and_read_in_wh_from_then_on() -> None:
    decoder = Decoder()
    readings = feed_series(decoder, kamstrup_series(
        "se_kamstrup_omnipower_list1_3p_gh239", "se_kamstrup_omnipower_list2_3p_gh239", 4, 1,
        START))
    hourly = [(r, count) for r, count in readings if IMPORT in r.values]
    events = implausible(decoder)
    assert len(events) == 1, events  # said once
    said = events[0].message
    assert IMPORT in said and "1.1.1.7.0.255" in said and "10x too large" in said
    assert "multiplied by 0.1" in said
    assert isinstance(said, Message) and said.params["obis"] == IMPORT
    # the first hour anchors, two clear hourly windows make the verdict: the third list 2
    # is read in Wh already, and every push after it
    assert [r.values[IMPORT].value for r, _ in hourly[:2]] == [c * 10 for _, c in hourly[:2]]
    for reading, count in hourly[2:]:
        assert reading.values[IMPORT].value == count
        assert reading.values[IMPORT].unit == "Wh"
        assert reading.values["1.1.2.8.0.255"].value == 0  # export corrected alike (0 stays 0)
    assert decoder.stats[EventKind.IMPLAUSIBLE] == 1


# ------------------------------------------------------------------ Danish Kamstrup

# The push Kamstrup documents for Danish operators' encrypted HAN port, as decoded in
# UtilitechAS/amsreader-firmware doc/Denmark/Kamstrup_encrypted_data.xml (commit c444a108,
# meter clock 2020-05-12 10:24:50): 65 elements, list id first, the 1.8 counters first,
# per-phase powers, power factors and counters. Facts (codes, types, values) only.
DK_PUSH: list[tuple[str, int, int | bytes]] = [
    ("1.1.1.8.0.255", axdr.UINT32, 0x1194CA), ("1.1.2.8.0.255", axdr.UINT32, 0),
    ("1.1.3.8.0.255", axdr.UINT32, 0x127E), ("1.1.4.8.0.255", axdr.UINT32, 0x9550E),
    ("1.1.0.0.1.255", axdr.UINT32, 0x144ADE1), ("1.1.1.7.0.255", axdr.UINT32, 0x531),
    ("1.1.2.7.0.255", axdr.UINT32, 0), ("1.1.3.7.0.255", axdr.UINT32, 0),
    ("1.1.4.7.0.255", axdr.UINT32, 0x54),
    ("0.1.1.0.0.255", axdr.OCTET_STRING, bytes.fromhex("07E4050C020A1832FF800080")),
    ("1.1.32.7.0.255", axdr.UINT16, 0xE4), ("1.1.52.7.0.255", axdr.UINT16, 0xE5),
    ("1.1.72.7.0.255", axdr.UINT16, 0xE3), ("1.1.31.7.0.255", axdr.UINT32, 0x4B),
    ("1.1.51.7.0.255", axdr.UINT32, 0x70), ("1.1.71.7.0.255", axdr.UINT32, 0x1E4),
    ("1.1.21.7.0.255", axdr.UINT32, 0x70), ("1.1.41.7.0.255", axdr.UINT32, 0xB5),
    ("1.1.61.7.0.255", axdr.UINT32, 0x40C), ("1.1.33.7.0.255", axdr.UINT16, 0x4D),
    ("1.1.53.7.0.255", axdr.UINT16, 0x4E), ("1.1.73.7.0.255", axdr.UINT16, 0x62),
    ("1.1.13.7.0.255", axdr.UINT16, 0x63), ("1.1.22.7.0.255", axdr.UINT32, 0),
    ("1.1.42.7.0.255", axdr.UINT32, 0), ("1.1.62.7.0.255", axdr.UINT32, 0),
    ("1.1.22.8.0.255", axdr.UINT32, 0), ("1.1.42.8.0.255", axdr.UINT32, 0),
    ("1.1.62.8.0.255", axdr.UINT32, 0), ("1.1.21.8.0.255", axdr.UINT32, 0xA8F97),
    ("1.1.41.8.0.255", axdr.UINT32, 0x4C152), ("1.1.61.8.0.255", axdr.UINT32, 0x243DF),
]
DK_TITLE = b"KAM" + bytes.fromhex("E01C2378C0")


def danish_push(numbers: dict[str, int], counter: int, clock: bytes | None = None) -> bytes:
    items: list[axdr.Node] = [(axdr.VISIBLE_STRING, "Kamstrup_V0001")]
    for code, tag, value in DK_PUSH:
        sent = clock if code == "0.1.1.0.0.255" and clock is not None else value
        items += [(axdr.OCTET_STRING, parse_obis(code)), (tag, numbers.get(code, sent))]
    assert len(items) == 0x41  # Gurux prints the element count in hex: 65
    apdu = build_notification((axdr.STRUCTURE, items), invoke_id=0x40000000 + counter)
    sealed = encrypt_apdu(apdu, key=KEY, system_title=DK_TITLE, frame_counter=counter,
                          security_control=0x30, auth_key=KEY)
    return b"".join(hdlc_framer()(sealed))


def test_the_documented_danish_push_reads_as_the_kamstrup_table_says() -> None:
    decoder = Decoder(KEY, KEY)
    [reading] = decoder.feed(danish_push({}, 1))
    values = reading.values
    assert reading.meter.system_title == DK_TITLE.hex().upper() and reading.layout == "C"
    assert units_implied(reading)
    # nothing in the push names its energy unit: the table's 10 Wh, as for Norway
    assert values[IMPORT].value == 11_522_020 and values[IMPORT].unit == "Wh"
    phases = sum(values[f"1.1.{c}.8.0.255"].value for c in (21, 41, 61))
    assert abs(phases - values[IMPORT].value) <= 30  # the phase counters add up to the total
    assert values["1.1.1.7.0.255"].value == 1329
    assert [values[f"1.1.{c}.7.0.255"].value for c in (32, 52, 72)] == [228, 229, 227]
    assert [values[f"1.1.{c}.7.0.255"].value for c in (31, 51, 71)] == [0.75, 1.12, 4.84]
    assert sum(values[f"1.1.{c}.7.0.255"].value for c in (21, 41, 61)) == 1329
    assert implausible(decoder) == []


@pytest.mark.parametrize(("wh_per_count", "verdict"), [(10, False), (1, True)])
def test_danish_pushes_every_10_s_settle_their_energy_unit_within_the_hour(
        wh_per_count: int, verdict: bool) -> None:
    """The Danish list carries its counters in every push: two quarter hours decide."""
    decoder = Decoder(KEY, KEY)
    energy = 0x1194CA * wh_per_count
    start = datetime(2024, 3, 1, 18, tzinfo=VIENNA)
    last: Reading | None = None
    count = 0
    for n in range(360):
        moment = start + timedelta(seconds=10 * n)
        watts = load(moment)
        count = int(energy // wh_per_count)
        per_phase = round(watts / 3 / 228 * 100)
        numbers = {IMPORT: count, "1.1.1.7.0.255": watts, "1.1.21.7.0.255": watts // 3,
                   "1.1.41.7.0.255": watts // 3, "1.1.61.7.0.255": watts - 2 * (watts // 3),
                   "1.1.31.7.0.255": per_phase, "1.1.51.7.0.255": per_phase,
                   "1.1.71.7.0.255": per_phase, "1.1.4.7.0.255": 0}
        readings = decoder.feed(danish_push(numbers, n + 2,
                                            encode_datetime(moment, deviation=False)),
                                received=moment)
        assert len(readings) == 1
        last = readings[0]
        energy += watts * 10 / 3600
    assert last is not None
    events = implausible(decoder)
    if verdict:
        assert len(events) == 1 and IMPORT in events[0].message
        assert last.values[IMPORT].value == count  # read in Wh
        # the phase counters share the list's unit: corrected with it
        assert last.values["1.1.21.8.0.255"].value == 0xA8F97
    else:
        assert events == [] and last.values[IMPORT].value == count * 10


# ------------------------------------------------------------------ simulated meters


def simulated(profile: str, start: datetime, count: int, step: float,
              snapshot: Callable[[Any], Any]) -> Iterator[tuple[datetime, bytes, dict[str, Any]]]:
    simulator = Simulator(profile, key=KEY, auth_key=KEY)
    for n in range(count):
        moment = start + timedelta(seconds=step * n)
        push = simulator.push(moment, snapshot(simulator.model.snapshot(moment)))
        yield moment, push.wire, push.expected


def tenfold(snap: Any) -> Any:
    """The meter counts energy in 0.1 Wh while the list says (or implies) 1 Wh."""
    return replace(snap, energy_import=snap.energy_import * 10,
                   energy_export=snap.energy_export * 10,
                   reactive_energy_import=snap.reactive_energy_import * 10,
                   reactive_energy_export=snap.reactive_energy_export * 10)


EVENING = datetime(2024, 1, 15, 17, tzinfo=VIENNA)


def test_a_simulated_list_without_scalers_and_a_wrong_energy_unit_is_corrected() -> None:
    decoder = Decoder(KEY, KEY)
    code = "1.0.1.8.0.255"
    seen = []
    for moment, wire, expected in simulated("lg-e450-flat", EVENING, 12 * 60, 5, tenfold):
        [reading] = decoder.feed(wire, received=moment)
        seen.append((reading, expected))
    events = implausible(decoder)
    assert events and all(event.message.startswith("energy counter ") for event in events)
    assert any(code in event.message and "10x too large" in event.message for event in events)
    reading, expected = seen[-1]
    assert reading.values[code].value == expected[code] / 10  # back to true Wh
    assert reading.values[code].unit == "Wh"
    assert seen[0][0].values[code].value == seen[0][1][code]  # before the verdict: as sent
    assert len({event.message.split(" rose")[0] for event in events}) == len(events)


def test_a_meter_that_sends_its_own_scaler_is_reported_and_never_overruled() -> None:
    decoder = Decoder(KEY, KEY)
    code = "1.0.1.8.0.255"
    last = None
    for moment, wire, expected in simulated("netznoe", EVENING, 12 * 60, 5, tenfold):
        [reading] = decoder.feed(wire, received=moment)
        assert reading.values[code].value == expected[code]  # as the meter says, always
        last = reading
    assert last is not None and not units_implied(last)
    events = implausible(decoder)
    import_events = [event for event in events if f"counter {code} " in event.message]
    assert len(import_events) == 1
    assert "10x too large" in import_events[0].message
    assert "own scaler" in import_events[0].message
    assert "record --redact" in import_events[0].message


def test_a_right_simulated_meter_stays_quiet_at_every_push_interval() -> None:
    for step, count in ((5, 2000), (60, 1500), (900, 300), (3600, 24 * 4)):
        decoder = Decoder(KEY, KEY)
        for moment, wire, _ in simulated("lg-e450-flat", EVENING, count, step, lambda s: s):
            decoder.feed(wire, received=moment)
        assert implausible(decoder) == [], step


def quiet(snap: Any) -> Any:
    """Standby only: 0-3 W, the counter rising by a unit now and then (and counted 10x)."""
    watts = snap.time.minute % 4
    return replace(tenfold(snap), power_import=float(watts), power_export=0.0,
                   current=(watts / 230, 0.0, 0.0), reactive_import=0.0)


def test_a_quiet_house_gives_no_verdict_from_noise_in_a_day() -> None:
    decoder = Decoder(KEY, KEY)
    simulator = Simulator("lg-e450-flat", key=KEY, auth_key=KEY)
    energy = 1_234_567.0
    for n in range(24 * 60):
        moment = EVENING + timedelta(minutes=n)
        snap = simulator.model.snapshot(moment)
        watts = float(n % 4)
        energy += watts / 60
        snap = replace(snap, power_import=watts, power_export=0.0, reactive_import=0.0,
                       current=(watts / 230, 0.0, 0.0), energy_import=energy * 10)
        decoder.feed(simulator.push(moment, snap).wire, received=moment)
    assert implausible(decoder) == []


def test_gaps_break_the_window_so_a_wrong_unit_seen_in_short_bursts_stays_unjudged() -> None:
    """Ten minutes of pushes, then twenty minutes of nothing, all day: no window reaches a
    quarter hour of consecutive pushes, and what the counter did in a gap is never judged."""
    decoder = Decoder(KEY, KEY)
    simulator = Simulator("lg-e450-flat", key=KEY, auth_key=KEY)
    for burst in range(48):
        for n in range(0, 600, 5):
            moment = EVENING + timedelta(minutes=30 * burst, seconds=n)
            snap = tenfold(simulator.model.snapshot(moment))
            decoder.feed(simulator.push(moment, snap).wire, received=moment)
    assert implausible(decoder) == []


# ------------------------------------------------------------------ the rule, unit by unit


def synthetic(minutes: float, watts: float, wh_per_count: float, layout: str = "C",
              step: float = 10) -> list[Reading]:
    """Readings as the decoder makes them: a constant load, a counter that follows it."""
    meter = MeterIdentity(None, "XYZ", "1", None, None)
    out = []
    for n in range(int(minutes * 60 / step) + 1):
        moment = EVENING + timedelta(seconds=step * n)
        count = int(1_000_000 + watts * step * n / 3600 / wh_per_count)
        values = {"1.0.1.7.0.255": Measurement("active_power_import", watts, "W"),
                  "1.0.1.8.0.255": Measurement("active_energy_import", count, "Wh")}
        out.append(Reading(moment, moment, meter, None, values, layout=layout))
    return out


def test_the_rule_needs_two_clear_windows_of_a_quarter_hour() -> None:
    said: list[str] = []
    scale = EnergyScale(said.append)
    readings = synthetic(45, 1000, 0.1)
    just_short = int(29.9 * 6)
    for reading in readings[:just_short]:
        assert scale.follow([reading]) == [reading]  # nothing decided, nothing changed
    assert said == []
    out = [scale.follow([reading])[0] for reading in readings[just_short:]]
    assert len(said) == 1 and "1.0.1.8.0.255" in said[0] and "10x too large" in said[0]
    assert out[-1].values["1.0.1.8.0.255"].value == readings[-1].values["1.0.1.8.0.255"].value / 10
    assert out[-1].values["1.0.1.7.0.255"] is readings[-1].values["1.0.1.7.0.255"]


@pytest.mark.parametrize(("watts", "wh_per_count", "layout", "verdict"), [
    (1000, 1, "C", None),  # fits
    (1000, 10, "C", "multiplied by 10"),  # counts 10 Wh, implied 1 Wh: 10x too small
    (1000, 0.001, "C", "multiplied by 0.001"),
    (1000, 0.1, "B", "own scaler"),  # a scaler from the meter: reported only
    (1000, 0.1, "my layout", "own scaler"),  # a user's layout states its scaler
    (15, 0.1, "C", None),  # 15 W: below the mean power that can decide
    (1000, 3, "C", None),  # 3x off: no power of ten, no verdict
])
def test_the_rule(watts: float, wh_per_count: float, layout: str, verdict: str | None) -> None:
    said: list[str] = []
    scale = EnergyScale(said.append)
    for reading in synthetic(120, watts, wh_per_count, layout):
        scale.follow([reading])
    if verdict is None:
        assert said == []
    else:
        assert len(said) == 1 and verdict in said[0], said


def test_power_sampled_hourly_with_energy_in_every_push_decides_after_two_hours() -> None:
    said: list[str] = []
    scale = EnergyScale(said.append)
    for reading in synthetic(60 * 6, 800, 0.1, step=3600):
        scale.follow([reading])
    assert len(said) == 1 and "10x too large" in said[0]


def test_a_gap_longer_than_an_hour_is_not_integrated() -> None:
    said: list[str] = []
    scale = EnergyScale(said.append)
    readings = synthetic(60 * 10, 800, 0.1, step=4000)  # samples 66 min apart: all gaps
    for reading in readings:
        scale.follow([reading])
    assert said == []
