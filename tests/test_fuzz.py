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
