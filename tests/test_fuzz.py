"""Fuzzing Decoder.feed: random and mutated inputs never raise, hang or leak a key."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from conftest import VECTORS
from smartmeter_readout import Decoder
from smartmeter_readout.sim.simulator import PROFILES, Simulator

KEY_HEX = "5C316162209EBB790B52EB0E7FC5B11C"
AUTH_HEX = "92705C5C97286064EABAE38D190F87A4"
START_BYTES = bytes((0x68, 0x7E, 0xDB, 0xDC, 0x0F, 0x2F, 0xE0, 0xA0, 0x16, 0x00, 0xFF))


def _seeds() -> list[bytes]:
    seeds = [bytes.fromhex(v["hex"]) for v in VECTORS]
    key = bytes.fromhex(KEY_HEX)
    for name in PROFILES:
        push = Simulator(name, key=key, auth_key=bytes.fromhex(AUTH_HEX)).push(
            datetime(2024, 1, 1, tzinfo=UTC))
        seeds.append(push.wire)
    return seeds


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        if not buf:
            buf += rng.randbytes(rng.randint(1, 64))
        elif choice < 0.3:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice < 0.45:
            buf[rng.randrange(len(buf))] = rng.choice(START_BYTES)
        elif choice < 0.6:
            at = rng.randrange(len(buf))
            del buf[at : at + rng.randint(1, 16)]
        elif choice < 0.75:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif choice < 0.85:
            del buf[rng.randrange(len(buf)) :]
        else:
            other = rng.choice(seeds)
            at = rng.randrange(len(other))
            buf += other[at : at + rng.randint(1, 200)]
    return bytes(buf)


def test_100k_random_and_mutated_inputs() -> None:
    rng = random.Random(20261121)
    seeds = _seeds()
    secrets = {KEY_HEX.lower(), AUTH_HEX.lower()}
    decoders = [Decoder(KEY_HEX, AUTH_HEX), Decoder(KEY_HEX), Decoder()]
    fed = 0
    for round_ in range(100_000):
        if round_ % 10 == 0:
            data = rng.randbytes(rng.randint(0, 300))
        else:
            data = _mutate(rng, rng.choice(seeds), seeds)
        decoder = decoders[round_ % 3]
        # feed in two random pieces, as a serial port would deliver it
        cut = rng.randint(0, len(data))
        for piece in (data[:cut], data[cut:]):
            for reading in decoder.feed(piece):
                assert reading.values is not None
        fed += len(data)
        if round_ % 1000 == 0:
            for each in decoders:
                for event in each.take_events():
                    text = event.message.lower().replace(" ", "")
                    assert not any(secret in text for secret in secrets)
            assert not any(secret in repr(decoders).lower() for secret in secrets)
    assert fed > 1_000_000
    for each in decoders:
        assert each._splitter.pending < 1 << 17  # bounded buffer


def _telegram(*lines: str) -> bytes:
    from smartmeter_readout.link.checksums import crc16_arc

    text = "\r\n".join(("/EST5\\253833635_A", "", *lines)) + "\r\n!"
    return (text + f"{crc16_arc(text.encode()):04X}\r\n").encode()


def test_dsmr_digit_runs_beyond_int_are_text_not_an_exception() -> None:
    """Found by the fuzz benchmark: int() refuses more than 4300 digits (ValueError)."""
    decoder = Decoder()
    power = "1-0:1.7.0(01.193*kW)"
    for line in ("1-0:1.8.0(" + "9" * 5000 + "*kWh)", "1-0:1.8.0(" + "1" * 4400 + ")",
                 "1-0:1.8.0(0." + "5" * 5000 + "*kWh)"):
        [reading] = decoder.feed(_telegram(line, power))
        assert isinstance(reading.values["1.0.1.8.0.255"].value, str)  # no number: text
        assert reading.values["1.0.1.7.0.255"].value == 1193
    [reading] = decoder.feed(_telegram("1-0:" + "9" * 5000 + ".8.0(000001.000*kWh)", power))
    assert list(reading.values) == ["1.0.1.7.0.255"]  # no OBIS code: left out


def test_a_value_that_turned_to_text_is_not_checked_as_a_number() -> None:
    """Found by the fuzz benchmark: the plausibility plan of a shape was reused for a push
    whose voltage line held text (ValueError from float())."""
    from smartmeter_readout.cosem.plausibility import PlausibilityCheck
    from smartmeter_readout.reading import Measurement

    check = PlausibilityCheck()
    good = {"1.0.32.7.0.255": Measurement("voltage_l1", 230.1, "V"),
            "1.0.31.7.0.255": Measurement("current_l1", 1.0, "A"),
            "1.0.1.7.0.255": Measurement("active_power_import", 200, "W"),
            "1.0.1.8.0.255": Measurement("active_energy_import", 1000, "Wh")}
    assert check.check(good) == []
    for key, measurement in good.items():
        damaged = {**good, key: Measurement(measurement.name, "1.8.0", None)}
        assert check.check(damaged) == []
    assert check.check(good) == []


def test_m_bus_real32_nan_or_infinity_with_a_scale_is_no_exception() -> None:
    """Found by the fuzz benchmark: int(NaN) raised ValueError when a REAL32 record of NaN
    had a scaling VIF (0x02: 0.1 Wh)."""
    import math
    import struct

    import fuzzkit
    from smartmeter_readout.link.mbus import build_mbus_telegram

    header = fuzzkit._amis_header()[:10] + b"\x00\x00"  # the AMIS's header, unencrypted
    for number in (math.nan, math.inf, -math.inf):
        records = b"\x05\x02" + struct.pack("<f", number) + b"\x04\x2b\x10\x00\x00\x00"
        decoder = Decoder()
        [reading] = decoder.feed(build_mbus_telegram(0x72, header + records))
        assert reading.values["1.0.1.7.0.255"].value == 16  # the record after it
