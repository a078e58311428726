"""Body fuzzing: mutate decrypted push bodies, then seal and frame them correctly.

Mutating whole frames (``test_fuzz``) mostly breaks a checksum or a tag, so the A-XDR and
layout code rarely sees the damage. Here the damage is done to the plaintext - types, lengths,
scalers, element counts, nesting - and the result is encrypted with a real key, tagged and
framed as a meter would, so every input reaches ``dlms.axdr``, ``cosem.layouts`` and the
fast-path template. Used by ``tests/test_fuzz_bodies.py`` and ``benchmarks/bench_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartmeter_readout import Decoder
from smartmeter_readout import decoder as decoder_module
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.security import encrypt_apdu
from smartmeter_readout.errors import DecodeError
from smartmeter_readout.sim.amis import amis_plaintext, seal_amis
from smartmeter_readout.sim.simulator import (
    PROFILES,
    ValueModel,
    bare_framer,
    hdlc_framer,
    mbus_framer,
)

KEY = bytes.fromhex("5C316162209EBB790B52EB0E7FC5B11C")
AUTH = bytes.fromhex("92705C5C97286064EABAE38D190F87A4")
TITLE = b"KFM\x10\x20\x00\x37\x74"
ROOT = Path(__file__).resolve().parent.parent

# values that break assumptions: type tags, BER length prefixes, extreme scalers and counts
TAGS = bytes((0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x0C, 0x0D, 0x0F, 0x10,
              0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0xFF))
LENGTHS = (b"\x00", b"\x01", b"\x7f", b"\x80", b"\x81\xff", b"\x82\xff\xff",
           b"\x84\xff\xff\xff\xff", b"\x85\x01\x01\x01\x01\x01", b"\x82\x00\x05")
SCALERS = bytes((0x00, 0x01, 0x13, 0x14, 0x7F, 0x80, 0x81, 0xEC, 0xFD, 0xFF))
SNIPPETS = (
    b"\x13\x00\x00\x00",  # compact-array of null: elements without bytes
    b"\x13\x02\x00\x05\x00",  # compact-array of an empty structure
    b"\x13\x01\xff\xff\x12\x02\x00\x00",  # compact-array of 65535 uint16, two bytes given
    b"\x13\x01\xff\xff\x01\xff\xff\x11\x01\x00",  # array of arrays: 4 billion elements
    b"\x01\x01" * 40 + b"\x00",  # nesting deeper than any meter
    b"\x02\x02\x0f\x7f\x16\x1b",  # scaler 127, unit volt... enum 27 = W
    b"\x02\x02\x0f\x80\x16\x21",  # scaler -128, unit A
    b"\x0d\xfa",  # bcd with a nibble above 9
    b"\x0c\xc3\x28",  # utf8-string that is no UTF-8
    b"\x04\x84\xff\xff\xff\xff",  # bit-string of 4 billion bits
    b"\x09\x06\x01\x00\x1f\x07\x00\xff\x06\xff\xff\xff\xff",  # current of 4294967295
    b"\x09\x06\x01\x00\x20\x07\x00\xff\x12\xff\xff",  # voltage of 65535
)


def simulated_plaintexts() -> list[bytes]:
    """Every simulator profile's push body as a plaintext data-notification."""
    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    out = []
    for profile in PROFILES.values():
        if profile.body is None:
            continue
        snapshot = ValueModel(seed=3, pv_peak=profile.pv_peak).snapshot(moment)
        push = profile.body(snapshot, profile.meter_id, profile.codes)
        out.append(build_notification(push.body, invoke_id=7, date_time=push.notification_time))
    return out


def captured_plaintexts() -> list[bytes]:
    """Plaintexts of the shared captures and the corpus, as the decoder parses them."""
    files = [ROOT.parent / "shared" / "vectors" / "vectors.json",
             *sorted((ROOT / "tests" / "corpus").glob("*.json"))]
    entries: list[dict[str, Any]] = []
    for path in files:
        entries.extend(json.loads(path.read_text()))
    plaintexts: list[bytes] = []
    original = decoder_module.parse_notification

    def recording(buf: bytes, pos: int = 0) -> Any:
        plaintexts.append(bytes(buf))
        return original(buf, pos)

    decoder_module.parse_notification = recording  # type: ignore[assignment]
    try:
        for entry in entries:
            if entry.get("verified") is not False and entry.get("hex"):
                Decoder(entry.get("key")).feed(bytes.fromhex(entry["hex"]))
    finally:
        decoder_module.parse_notification = original
    return plaintexts


def seeds() -> list[bytes]:
    return simulated_plaintexts() + captured_plaintexts()


def _positions(plaintext: bytes) -> tuple[list[int], list[int], list[int]]:
    """Offsets of A-XDR tags, of length bytes and of int8 scalers in a well-formed body."""
    tags: list[int] = []
    lengths: list[int] = []
    scalers: list[int] = []
    start = 6 + (12 if plaintext[5:6] == b"\x0c" else 0)

    def walk(pos: int, depth: int) -> int:
        tag = plaintext[pos]
        tags.append(pos)
        node, end = axdr.decode(plaintext, pos)
        if tag in (axdr.ARRAY, axdr.STRUCTURE, axdr.OCTET_STRING, axdr.VISIBLE_STRING):
            lengths.append(pos + 1)
        if tag in (axdr.ARRAY, axdr.STRUCTURE) and depth < 8:
            at = pos + 1 + len(axdr.encode_length(len(node[1])))
            for _ in node[1]:
                at = walk(at, depth + 1)
        if tag == axdr.INT8:
            scalers.append(pos + 1)
        return end

    with contextlib.suppress(DecodeError):  # a seed the walker cannot follow: bytes only
        walk(start, 0)
    return tags, lengths, scalers


def mutate(rng: random.Random, plaintext: bytes, where: tuple[list[int], list[int], list[int]]
           ) -> bytes:
    buf = bytearray(plaintext)
    tags, lengths, scalers = where
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        size = len(buf)
        if choice < 0.2 and tags:
            at = rng.choice(tags)
            if at < size:
                buf[at] = rng.choice(TAGS)
        elif choice < 0.35 and lengths:
            at = rng.choice(lengths)
            if at < size:
                buf[at : at + 1] = rng.choice(LENGTHS)
        elif choice < 0.5 and scalers:
            at = rng.choice(scalers)
            if at < size:
                buf[at] = rng.choice(SCALERS)
        elif choice < 0.62:
            at = rng.randrange(6, max(7, size))
            buf[at:at] = rng.choice(SNIPPETS)
        elif choice < 0.75 and size > 8:
            at = rng.randrange(6, size)
            buf[at] = rng.randrange(256)
        elif choice < 0.85 and size > 8:
            at = rng.randrange(6, size)
            del buf[at : at + rng.randint(1, 12)]
        elif choice < 0.93 and size > 8:
            start = rng.randrange(6, size)
            piece = buf[start : start + rng.randint(1, 40)]
            at = rng.randrange(6, size)
            buf[at:at] = piece
        else:
            del buf[rng.randrange(6, max(7, size)) :]
    return bytes(buf[:1800])


_FRAMERS = (bare_framer, hdlc_framer(), mbus_framer())


def inputs(count: int, seed: int = 20261130) -> Iterator[bytes]:
    """``count`` wire inputs: mutated bodies, sealed with KEY/AUTH (or plain) and framed."""
    rng = random.Random(seed)
    plaintexts = seeds()
    where = [_positions(p) for p in plaintexts]
    counter = 1
    for _ in range(count):
        index = rng.randrange(len(plaintexts))
        body = mutate(rng, plaintexts[index], where[index])
        counter += 1
        choice = rng.random()
        if choice < 0.7:
            apdu = encrypt_apdu(body, key=KEY, system_title=TITLE, frame_counter=counter,
                                security_control=0x30 if choice < 0.35 else 0x20,
                                auth_key=AUTH)
            framer = _FRAMERS[counter % 3]
        else:
            apdu = body
            framer = _FRAMERS[1]  # plain APDUs travel in HDLC
        try:
            frames = framer(apdu)
        except ValueError:  # longer than the framing can carry
            frames = hdlc_framer(segment=200)(apdu)
        yield b"".join(frames)


# M-Bus record pieces that break assumptions: DIF/DIFE chains without end, variable length
# (0x0D) with every LVAR range, VIF extension tables, plain-text VIFs with long texts,
# manufacturer-specific VIF and DIF, special functions, BCD with bad nibbles, CP48 out of range
RECORD_PIECES = (
    b"\x8f" * 12, b"\x80" * 11 + b"\x00\x03", b"\x0d\x03\xff", b"\x0d\xbf", b"\x0d\xc9",
    b"\x0d\xe5", b"\x0d\xf0", b"\x0d\xfe", b"\x04\xfb" + b"\xff" * 11, b"\x04\xfd\xff\xff",
    b"\x04\x7c\x7f", b"\x04\xfc\x05abc", b"\x02\xff\x00", b"\x0f\x01\x02\x03",
    b"\x1f", b"\x2f\x2f", b"\x0c\x03\xfa\xfa\xfa\xfa", b"\x06\x6d\xff\xff\xff\xff\xff\xff",
    b"\x04\x6d\xff\xff\xff\xff", b"\x02\x6c\xff\xff", b"\x05\x03\x00\x00\xc0\x7f",
    b"\x07\x03" + b"\xff" * 8, b"\x84\x40\x03\x01\x00\x00\x00", b"\x03\xef\x00\x00\x00",
)


def amis_seeds() -> list[bytes]:
    moment = datetime(2026, 3, 29, 1, 59, 58, tzinfo=UTC)
    values = {"1.0.1.8.0.255": 123456, "1.0.2.8.0.255": 789, "1.0.3.8.1.255": 4321,
              "1.0.4.8.1.255": 12, "1.0.1.7.0.255": 2098, "1.0.2.7.0.255": 0,
              "1.0.3.7.0.255": 150, "1.0.4.7.0.255": 0, "1.0.1.128.0.255": -5}
    return [amis_plaintext(moment, values), amis_plaintext(moment, {k: 0 for k in values})]


def mutate_records(rng: random.Random, plaintext: bytes) -> bytes:
    """Damage an M-Bus record set: bytes changed, record pieces put in, slices cut or
    repeated; padded with 2F filler to whole AES blocks (at most 15, as the header allows)."""
    buf = bytearray(plaintext)
    for _ in range(rng.randint(1, 4)):
        roll, at = rng.random(), rng.randrange(2, max(3, len(buf)))
        if roll < 0.35:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif roll < 0.7:
            buf[at:at] = rng.choice(RECORD_PIECES)
        elif roll < 0.85:
            del buf[at : at + rng.randint(1, 12)]
        else:
            buf[at:at] = buf[at : at + rng.randint(1, 16)]
    buf = buf[:240]
    return bytes(buf + b"\x2f" * (-len(buf) % 16))


def amis_inputs(count: int, seed: int = 20261130) -> Iterator[bytes]:
    """``count`` AMIS telegrams whose record sets were mutated, sealed under CBC with KEY."""
    rng = random.Random(seed)
    plaintexts = amis_seeds()
    for access in range(count):
        plain = mutate_records(rng, rng.choice(plaintexts))
        yield seal_amis(KEY, plain, access, control=0x73 if access % 2 else 0x53)


def run(count: int, *, memory_mb: int | None = None, seed: int = 20261130) -> dict[str, Any]:
    """Feed ``count`` inputs to decoders with and without keys; count what escapes.

    With ``memory_mb`` the process's address space is capped first (``resource.setrlimit``),
    so a blow-up ends as a MemoryError counted here rather than taking the machine down.
    """
    import resource
    import time
    import traceback

    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    decoders = [Decoder(KEY, AUTH), Decoder(KEY), Decoder()]
    exceptions: list[str] = []
    readings = 0
    started = time.perf_counter()
    amis = amis_inputs(count // 10 + 1, seed)
    for number, wire in enumerate(inputs(count, seed)):
        # one in ten: an AMIS telegram with mutated records
        data = next(amis) if number % 10 == 9 else wire
        decoder = decoders[number % 3]
        try:
            readings += len(decoder.feed(data))
            decoder.take_events()
        except BaseException as exc:  # that is what is counted
            if isinstance(exc, KeyboardInterrupt):
                raise
            exceptions.append(f"input {number}: {data.hex()}\n{traceback.format_exc()}")
            decoders[number % 3] = Decoder(*((KEY, AUTH), (KEY,), ())[number % 3])
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"inputs": count, "seconds": elapsed, "readings": readings,
            "exceptions": exceptions, "peak_rss_mb": peak_kb / 1024}


if __name__ == "__main__":
    import sys

    report = run(int(sys.argv[1]), memory_mb=int(sys.argv[2]) if len(sys.argv) > 2 else None)
    for text in report["exceptions"][:5]:
        print(text, file=sys.stderr)
    print(json.dumps({k: v if k != "exceptions" else len(v) for k, v in report.items()}))
