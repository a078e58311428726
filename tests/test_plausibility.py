"""implausible_values: a list scaled wrong shows itself; real and simulated pushes do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.cosem.obis import parse_obis
from smartmeter_readout.cosem.plausibility import PlausibilityCheck
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.cosem_time import encode_datetime
from smartmeter_readout.dlms.security import encrypt_apdu
from smartmeter_readout.events import EventKind
from smartmeter_readout.reading import Measurement
from smartmeter_readout.sim.simulator import (
    PROFILES,
    Register,
    Simulator,
    ValueModel,
    mbus_framer,
    standard_registers,
)

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
TITLE = b"KFM\x10\x20\x00\x37\x74"
CURRENTS = ("1.0.31.7.0.255", "1.0.51.7.0.255", "1.0.71.7.0.255")


def wrongly_scaled_push(moment: datetime, counter: int, current_scaler: int) -> bytes:
    """A layout-A push whose currents carry 0.01 A counts but claim ``current_scaler``."""
    snapshot = ValueModel(seed=5).snapshot(moment)
    registers = standard_registers(snapshot)
    items: list[axdr.Node] = [(axdr.OCTET_STRING, parse_obis("0.0.1.0.0.255")),
                              (axdr.OCTET_STRING, encode_datetime(moment, deviation=True))]
    for code, sent in registers.items():
        register = (Register(code, sent.raw, current_scaler, 33, sent.tag) if code in CURRENTS
                    else sent)
        items.append((axdr.STRUCTURE, [register.obis_node(), register.node(),
                                       register.scaler_unit()]))
    apdu = build_notification((axdr.STRUCTURE, items), invoke_id=counter)
    sealed = encrypt_apdu(apdu, key=KEY, system_title=TITLE, frame_counter=counter)
    return b"".join(mbus_framer()(sealed))


def test_a_list_that_claims_amps_for_centiamps_is_reported_once_and_keeps_its_values() -> None:
    decoder = Decoder(KEY)
    start = datetime(2024, 1, 15, 18, tzinfo=UTC)  # evening: a household draws kilowatts
    readings = [decoder.feed(wrongly_scaled_push(start + timedelta(seconds=5 * n), n, 0))[0]
                for n in range(1, 21)]
    events = [e for e in decoder.take_events() if e.kind is EventKind.IMPLAUSIBLE]
    assert decoder.stats[EventKind.IMPLAUSIBLE] == 20  # every push is checked while it fails
    assert len(events) >= 1 and len(events) <= 20
    assert "100x too large" in events[0].message and "record --redact" in events[0].message
    assert isinstance(readings[0].values[CURRENTS[0]].value, int)  # kept as the meter sent it


def test_the_same_list_with_its_right_scaler_is_quiet_push_after_push() -> None:
    decoder = Decoder(KEY)
    start = datetime(2024, 1, 15, 18, tzinfo=UTC)
    for n in range(1, 41):
        assert decoder.feed(wrongly_scaled_push(start + timedelta(seconds=5 * n), n, -2))
    assert decoder.stats[EventKind.IMPLAUSIBLE] == 0


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_no_simulated_profile_is_implausible_over_a_day(name: str) -> None:
    simulator = Simulator(name, key=KEY, auth_key=KEY)
    decoder = Decoder(KEY, KEY)
    start = datetime(2024, 6, 21, tzinfo=UTC)  # midsummer: PV export at noon
    readings = [r for push in simulator.pushes(start, 96, interval=900)
                for r in decoder.feed(push.wire)]
    assert len(readings) >= 95  # a bare APDU's end shows only when the next one starts
    assert decoder.stats[EventKind.IMPLAUSIBLE] == 0, decoder.take_events()[-1:]


def _values(**numbers: tuple[float, str]) -> dict[str, Measurement]:
    return {code: Measurement("x", value, unit) for code, (value, unit) in numbers.items()}


def test_each_check_names_the_value_and_the_factor() -> None:
    check = PlausibilityCheck()
    voltage = check.check({"1.0.32.7.0.255": Measurement("voltage_l1", 2301, "V")})
    assert voltage[0].key == "1.0.32.7.0.255" and voltage[0].factor == pytest.approx(0.1)
    frequency = check.check({"1.0.14.7.0.255": Measurement("frequency", 5001, "Hz")})
    assert frequency[0].factor == pytest.approx(0.01)
    power_factor = check.check({"1.0.13.7.0.255": Measurement("power_factor", 941, "")})
    assert power_factor[0].factor == pytest.approx(0.001)
    assert not check.check({"1.0.13.7.0.255": Measurement("power_factor", 94, "%")})
    too_small = check.check({"1.0.32.7.0.255": Measurement("v", 230, "V"),
                             "1.0.31.7.0.255": Measurement("i", 0.05, "A"),
                             "1.0.1.7.0.255": Measurement("p", 1150, "W")})
    assert too_small[0].factor == pytest.approx(100) and "too small" in too_small[0].message


def test_counters_must_not_run_backwards_per_meter() -> None:
    check = PlausibilityCheck()
    assert not check.check({"1.0.1.8.0.255": Measurement("e", 1000, "Wh")}, "meter-a")
    assert not check.check({"1.0.1.8.0.255": Measurement("e", 5, "Wh")}, "meter-b")
    backwards = check.check({"1.0.1.8.0.255": Measurement("e", 999, "Wh")}, "meter-a")
    assert backwards and "ran backwards" in backwards[0].message


def test_phases_that_cancel_are_not_taken_for_a_scale_error() -> None:
    """Single-phase PV exporting on L1 while L2 and L3 draw: net power near zero."""
    values = {"1.0.32.7.0.255": Measurement("v", 235, "V"),
              "1.0.52.7.0.255": Measurement("v", 231, "V"),
              "1.0.72.7.0.255": Measurement("v", 232, "V"),
              "1.0.31.7.0.255": Measurement("i", 13.0, "A"),
              "1.0.51.7.0.255": Measurement("i", 7.0, "A"),
              "1.0.71.7.0.255": Measurement("i", 6.1, "A"),
              "1.0.1.7.0.255": Measurement("p", 120, "W"),
              "1.0.2.7.0.255": Measurement("p", 0, "W"),
              "1.0.3.7.0.255": Measurement("q", 80, "var")}
    assert not PlausibilityCheck().check(values)


def test_doctor_turns_the_event_into_a_verdict_that_asks_for_a_capture() -> None:
    from smartmeter_readout.live.doctor import implausible_verdict

    decoder = Decoder(KEY)
    decoder.feed(wrongly_scaled_push(datetime(2024, 1, 15, 18, tzinfo=UTC), 1, 0))
    event = next(e for e in decoder.take_events() if e.kind is EventKind.IMPLAUSIBLE)
    sentence = implausible_verdict(event.message)
    assert "currents look 100x too large" in sentence
    assert "record --redact" in sentence and "Please record" not in sentence.split("(")[1]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e-320, 10**400,
                                   0.0])
def test_values_no_meter_sends_are_findings_not_exceptions(value: float) -> None:
    """A damaged but sealed body can carry anything a float32/float64 or a scaler allows."""
    values = {code: Measurement("x", value, unit) for code, unit in (
        ("1.0.32.7.0.255", "V"), ("1.0.31.7.0.255", "A"), ("1.0.1.7.0.255", "W"),
        ("1.0.14.7.0.255", "Hz"), ("1.0.13.7.0.255", ""), ("1.0.1.8.0.255", "Wh"))}
    check = PlausibilityCheck()
    for _ in range(2):
        for finding in check.check(values):
            assert finding.factor is None or 0 < finding.factor < float("inf")
