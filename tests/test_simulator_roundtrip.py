"""The simulator's pushes, for every profile, come back out of the decoder unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartmeter_readout import Decoder, Reading
from smartmeter_readout.sim.simulator import PROFILES, Simulator, Snapshot

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AUTH = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
START = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)  # across the spring DST change in Vienna


def check(reading: Reading, expected: dict[str, object], moment: datetime) -> None:
    for key, value in expected.items():
        got = reading.values[key]
        assert got.value == value, (key, got, value)
    assert reading.time == moment


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_round_trips_push_after_push(name: str) -> None:
    simulator = Simulator(name, key=KEY, auth_key=AUTH, seed=7)
    decoder = Decoder(KEY, AUTH if simulator.profile.authenticated else None)
    pushes = simulator.pushes(START, 40, interval=300)
    readings = [r for push in pushes for r in decoder.feed(push.wire)]
    readings += decoder.feed(b"", final=True)
    assert len(readings) == len(pushes), decoder.take_events()
    for reading, push in zip(readings, pushes, strict=True):
        check(reading, push.expected, push.time)
        if simulator.profile.security_control is not None:
            assert reading.frame_counter == push.frame_counter
    assert decoder.stats.ok == len(pushes)


@pytest.mark.parametrize("name", sorted(name for name, profile in PROFILES.items()
                                        if profile.body is not None and not profile.amis))
def test_several_notifications_a_frame_round_trip_in_every_framing(name: str) -> None:
    """The profile option of the Swiss E450: three notifications a minute apart in one
    frame (one APDU, one frame counter), whatever the framing carries it."""
    from dataclasses import replace

    simulator = Simulator(replace(PROFILES[name], notifications=3, interval=60.0), key=KEY,
                          auth_key=AUTH, seed=3)
    decoder = Decoder(KEY, AUTH if simulator.profile.authenticated else None)
    pushes = simulator.pushes(START, 5, interval=180)
    readings = [r for push in pushes for r in decoder.feed(push.wire)]
    readings += decoder.feed(b"", final=True)
    batch = [(push, moment, expected) for push in pushes for moment, expected in push.batch]
    assert len(readings) == len(batch) == 15, decoder.take_events()
    for reading, (push, moment, expected) in zip(readings, batch, strict=True):
        check(reading, expected, moment)
        if simulator.profile.security_control is not None:
            assert reading.frame_counter == push.frame_counter


def test_profiles_cover_every_layout_and_framing() -> None:
    decoder_layouts = set()
    for name in PROFILES:
        simulator = Simulator(name, key=KEY, auth_key=AUTH)
        [reading] = Decoder(KEY, AUTH).feed(simulator.push(START).wire, final=True)
        decoder_layouts.add(reading.layout)
    assert {"A", "B", "C", "D1", "D2", "E", "F", "netzburgenland"} <= decoder_layouts


def test_counters_rise_with_power_and_pv_exports_at_noon() -> None:
    simulator = Simulator("vkw", key=KEY)
    noon = simulator.push(datetime(2024, 6, 21, 10, 0, tzinfo=UTC))
    assert noon.expected["1.0.2.7.0.255"] > 0  # PV export at noon
    later = simulator.push(datetime(2024, 6, 21, 11, 0, tzinfo=UTC))
    assert later.expected["1.0.2.8.0.255"] >= noon.expected["1.0.2.8.0.255"]
    voltages = [later.expected[c] for c in ("1.0.32.7.0.255", "1.0.52.7.0.255")]
    assert all(220 < float(v) < 240 for v in voltages)


values = st.fixed_dictionaries({
    "voltage": st.tuples(*[st.floats(0, 400)] * 3),
    "current": st.tuples(*[st.floats(0, 60)] * 3),
    "power_import": st.floats(0, 40_000), "power_export": st.floats(0, 40_000),
    "reactive_import": st.floats(0, 9_000), "reactive_export": st.floats(0, 9_000),
    "energy_import": st.floats(0, 4e9), "energy_export": st.floats(0, 4e9),
    "reactive_energy_import": st.floats(0, 4e9), "reactive_energy_export": st.floats(0, 4e9),
    "power_factor": st.floats(0, 1),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PROFILES)), first=values, second=values,
       seconds=st.integers(0, 10**8))
def test_random_values_round_trip_and_fast_path_equals_long_way(
        name: str, first: dict, second: dict, seconds: int) -> None:
    simulator = Simulator(name, key=KEY, auth_key=AUTH)
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    pushes = [simulator.push(moment, Snapshot(moment, **first)),
              simulator.push(moment + timedelta(seconds=1), Snapshot(moment, **second))]
    warm = Decoder(KEY, AUTH)  # the second push goes through the template fast path
    warm_readings = [r for push in pushes for r in warm.feed(push.wire)]
    warm_readings += warm.feed(b"", final=True)  # a bare APDU may wait for the input's end
    cold_readings = [Decoder(KEY, AUTH).feed(push.wire, final=True)[0] for push in pushes]
    assert [r.to_dict() for r in warm_readings] == [r.to_dict() for r in cold_readings]
    for reading, push in zip(warm_readings, pushes, strict=True):
        check(reading, push.expected, push.time)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(PROFILES)), data=st.data())
def test_random_chunking_and_garbage_between_pushes_lose_nothing(name: str,
                                                                 data: st.DataObject) -> None:
    simulator = Simulator(name, key=KEY, auth_key=AUTH)
    pushes = simulator.pushes(START, 4)
    framed = simulator.profile.framer.__name__ != "bare_framer"
    stream = b""
    for push in pushes:
        # noise between pushes: for unframed APDUs only bytes that cannot start one
        noise = data.draw(st.binary(max_size=40))
        if not framed:
            noise = bytes(b for b in noise if b not in (0xDB, 0xDC, 0x0F, 0x2F))
        stream += noise + push.wire
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    decoder = Decoder(KEY, AUTH)
    readings = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        readings += decoder.feed(stream[previous:cut], final=cut == len(stream))
        previous = cut
    assert [r.time for r in readings] == [p.time for p in pushes]
    for reading, push in zip(readings, pushes, strict=True):
        check(reading, push.expected, push.time)


@settings(max_examples=40, deadline=None)
@given(segment=st.integers(40, 250), block=st.integers(16, 200))  # M-Bus: <= 16 segments
def test_random_segment_and_block_sizes(segment: int, block: int) -> None:
    from smartmeter_readout.sim.simulator import gbt_framer, hdlc_framer, mbus_framer

    for framer in (mbus_framer(segment), hdlc_framer(segment=segment), gbt_framer(block)):
        profile = PROFILES["vkw"]
        simulator = Simulator(profile, key=KEY)
        push = simulator.push(START)
        apdu_frames = framer(_apdu_of(push))
        [reading] = Decoder(KEY).feed(b"".join(apdu_frames))
        check(reading, push.expected, push.time)


def _apdu_of(push: object) -> bytes:
    """Re-frame the push's APDU: take it back out of the M-Bus frames the profile made."""
    frames = push.frames  # type: ignore[attr-defined]
    return b"".join(frame[9:-2] for frame in frames)
