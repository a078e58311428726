"""Fuzzing every parser of the core: mutated inputs, each shaped so it reaches its parser.

Mutating whole frames (``test_fuzz``) mostly breaks a checksum or a tag, so the parsers behind
the link layer rarely see the damage. Here the damage is done where each parser reads it, and
what carries it is made right again (encrypted with a real key, tagged, framed, checksummed):

- ``mbus``, ``hdlc``, ``apdu``: push bodies (types, lengths, scalers, element counts, nesting
  of real and simulated bodies) sealed and framed as M-Bus long frames, HDLC (whole, A8
  segments, General Block Transfer) or bare APDUs, so they reach ``dlms.axdr``,
  ``cosem.layouts`` and the fast-path template; a quarter of them damaged on the link too;
- ``dsmr``: DSMR / P1 text telegrams (``cosem.dsmr``) with values, units, OBIS codes, clocks
  and lines changed, the CRC made right again, plain or inside GCM;
- ``records``: M-Bus record sets (``oms.records``, the AMIS) under AES-CBC or plain, and
  damaged telegram headers;
- ``iec62056_21``: sign-on identifications and data readouts (``link.iec62056_21``) with the
  BCC made right again.

Used by ``tests/test_fuzz_bodies.py`` and ``benchmarks/bench_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartmeter_readout import Decoder
from smartmeter_readout import decoder as decoder_module
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.security import encrypt_apdu
from smartmeter_readout.errors import DecodeError
from smartmeter_readout.link.checksums import crc16_arc
from smartmeter_readout.link.iec62056_21 import (
    build_identification,
    build_readout,
    meter_number,
    parse_identification,
    parse_readout,
)
from smartmeter_readout.link.mbus import build_mbus_telegram
from smartmeter_readout.sim.amis import amis_plaintext, seal_amis
from smartmeter_readout.sim.simulator import (
    PROFILES,
    ValueModel,
    bare_framer,
    gbt_framer,
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


def _recorded(parser: str) -> list[bytes]:
    """What the decoder hands its parser ``parser`` (``parse_notification``,
    ``parse_telegram``) while it decodes the shared captures and the corpus."""
    files = [ROOT.parent / "shared" / "vectors" / "vectors.json",
             *sorted((ROOT / "tests" / "corpus").glob("*.json"))]
    entries: list[dict[str, Any]] = []
    for path in files:
        entries.extend(json.loads(path.read_text()))
    found: list[bytes] = []
    original = getattr(decoder_module, parser)

    def recording(buf: bytes, *args: Any, **kwargs: Any) -> Any:
        found.append(bytes(buf))
        return original(buf, *args, **kwargs)

    setattr(decoder_module, parser, recording)
    try:
        for entry in entries:
            if entry.get("verified") is not False and entry.get("hex"):
                Decoder(entry.get("key")).feed(bytes.fromhex(entry["hex"]))
    finally:
        setattr(decoder_module, parser, original)
    return found


def captured_plaintexts() -> list[bytes]:
    """Plaintexts of the shared captures and the corpus, as the decoder parses them."""
    return _recorded("parse_notification")


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


# ------------------------------------------------------------------ link damage


def damage(rng: random.Random, wire: bytes) -> bytes:
    """Damage on the line: bits flipped, start bytes where none belong, bytes lost or added."""
    buf = bytearray(wire)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if not buf:
            buf += rng.randbytes(rng.randint(1, 32))
        elif roll < 0.35:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif roll < 0.55:
            buf[rng.randrange(len(buf))] = rng.choice(START_BYTES)
        elif roll < 0.75:
            at = rng.randrange(len(buf))
            del buf[at : at + rng.randint(1, 16)]
        elif roll < 0.9:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        else:
            del buf[rng.randrange(len(buf)) :]
    return bytes(buf)


START_BYTES = bytes((0x68, 0x7E, 0xDB, 0xDC, 0x0F, 0x2F, 0xE0, 0xA0, 0x16, 0x10, 0xE5, 0x00,
                     0xFF))


# ------------------------------------------------------------------ push bodies, by framing

_FRAMINGS: dict[str, tuple[Callable[[bytes], list[bytes]], ...]] = {
    "mbus": (mbus_framer(), mbus_framer(120)),
    "hdlc": (hdlc_framer(), hdlc_framer(segment=120), gbt_framer()),
    "apdu": (bare_framer,),
}


def framed_inputs(framing: str, count: int, seed: int = 20261130) -> Iterator[bytes]:
    """``count`` mutated bodies, sealed (or plain) and framed as ``framing`` says; one in four
    damaged on the link as well."""
    rng = random.Random(f"{framing}:{seed}")
    plaintexts = seeds()
    where = [_positions(p) for p in plaintexts]
    framers = _FRAMINGS[framing]
    for counter in range(2, count + 2):
        index = rng.randrange(len(plaintexts))
        body = mutate(rng, plaintexts[index], where[index])
        roll = rng.random()
        apdu = body if roll >= 0.8 else encrypt_apdu(
            body, key=KEY, system_title=TITLE, frame_counter=counter,
            security_control=0x30 if roll < 0.4 else 0x20, auth_key=AUTH)
        try:
            wire = b"".join(rng.choice(framers)(apdu))
        except ValueError:  # longer than the framing can carry
            wire = b"".join(framers[0](apdu[:1000]))
        yield damage(rng, wire) if rng.random() < 0.25 else wire


# ------------------------------------------------------------------ DSMR text

#: what a value group may hold instead: long digit runs, odd signs and decimals, clocks that
#: are no time, numbers beyond a float, bytes that are no ASCII
DSMR_VALUES = (
    b"", b"9" * 5000, b"1" * 4301 + b"*kWh", b"0." + b"5" * 5000 + b"*kW", b"-0.5*kWh",
    b"+12.25*kW", b"12.*kWh", b".5*kWh", b"1e309*kW", b"000001.000*VArh", b"5*", b"*kWh",
    b"9" * 400 + b"*MWh", b"123456789012345678901234567890*Wh", b"230817152425X",
    b"991331256161S", b"000000000000W", b"000229000000S", b"20250230 25:61:61",
    b"20250101 00:00:00", b"\xff\xfe\x80", b"0" * 20, b"4B464D" * 200, b"48656c6c6f",
    b"00\xc3\x28", b"1.8.0", b"-", b"0x10*kWh", b"\xd9\xa3*kW",
)
DSMR_UNITS = (b"kWh", b"Wh", b"MWh", b"GWh", b"kW", b"W", b"V", b"A", b"kvarh", b"kVArh",
              b"VArh", b"varh", b"kVAr", b"var", b"kVA", b"VA", b"m3", b"m\xc2\xb3", b"GJ",
              b"Hz", b"s", b"", b"*", b"k", b"kkWh", b"\xff")
DSMR_CODES = (b"1-0:1.8.0", b"1-0:1.8.0*255", b"1-0:1.8.0*999", b"999-0:1.8.0",
              b"1-0:" + b"9" * 5000 + b".8.0", b"1-0:1.8.00000000000000000000001",
              b"0-0:1.0.0", b"1-0:0.9.1", b"1-0:0.9.2", b"0-0:96.1.0", b"0-0:96.1.1",
              b"1-0:32.7.0", b"1-0:99.97.0", b"0-1:24.2.1", b"1-0:1.7.0", b"1-0:13.7.0",
              b"0-0:96.7.21", b"1-3:0.2.8")


def dsmr_seeds() -> list[bytes]:
    """DSMR telegrams as the decoder parses them: the simulator's and those of the shared
    captures and the corpus (plain or decrypted)."""
    from smartmeter_readout.sim.simulator import dsmr_telegram

    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    own = [dsmr_telegram(ValueModel(seed=seed).snapshot(moment), "SAG1234567")[0]
           for seed in (1, 2)]
    return own + [raw for raw in _recorded("parse_telegram") if raw.startswith(b"/")]


def mutate_dsmr(rng: random.Random, telegram: bytes) -> bytes:
    """Change values, units, codes, clocks and lines of a telegram; then end it with a CRC
    that fits (mostly), none (DSMR 2.2) or the old one."""
    bang = telegram.rfind(b"!")
    lines = telegram[: bang if bang > 0 else len(telegram)].split(b"\n")
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        at = rng.randrange(len(lines)) if lines else 0
        line = lines[at] if lines else b""
        if roll < 0.25 and b"(" in line:
            head, _, rest = line.partition(b"(")
            groups = rest.split(b"(")
            which = rng.randrange(len(groups))
            groups[which] = rng.choice(DSMR_VALUES) + b")" + (b"\r" if line.endswith(b"\r")
                                                              else b"")
            lines[at] = head + b"(" + b"(".join(groups)
        elif roll < 0.4 and b"*" in line:
            head, _, rest = line.rpartition(b"*")
            lines[at] = head + b"*" + rng.choice(DSMR_UNITS) + rest[rest.find(b")"):]
        elif roll < 0.55 and b"(" in line:
            lines[at] = rng.choice(DSMR_CODES) + line[line.index(b"(") :]
        elif roll < 0.65 and lines:
            lines.insert(rng.randrange(len(lines) + 1), line)
        elif roll < 0.72 and len(lines) > 1:
            del lines[at]
        elif roll < 0.8:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(DSMR_CODES)
                         + b"(" + rng.choice(DSMR_VALUES) + b")" * rng.randint(0, 2) + b"\r")
        elif roll < 0.9 and line:
            buf = bytearray(line)
            buf[rng.randrange(len(buf))] = rng.choice(b"()*:.-!/\r\x00\xff0123456789")
            lines[at] = bytes(buf)
        elif line:
            cut = rng.randrange(len(line))
            lines[at] = line[:cut]
    text = b"\n".join(lines)[:8000]
    if not text.startswith(b"/"):
        text = b"/" + text
    roll = rng.random()
    if roll < 0.8:
        return text + b"!" + f"{crc16_arc(text + b'!'):04X}".encode() + b"\r\n"
    if roll < 0.9:
        return text + b"!\r\n"
    return text + telegram[bang:] if bang > 0 else text + b"!0000\r\n"


def dsmr_inputs(count: int, seed: int = 20261130) -> Iterator[bytes]:
    """``count`` mutated DSMR telegrams: on the P1 line, or inside GCM as a bare APDU (the
    Sagemcom T210-D of Energienetze Steiermark); one in ten damaged on the line as well."""
    rng = random.Random(f"dsmr:{seed}")
    telegrams = dsmr_seeds()
    for counter in range(2, count + 2):
        text = mutate_dsmr(rng, rng.choice(telegrams))
        if rng.random() < 0.35 and len(text) < 4000:
            wire = encrypt_apdu(text, key=KEY, system_title=TITLE, frame_counter=counter,
                                security_control=0x30, auth_key=AUTH)
        else:
            wire = text
        yield damage(rng, wire) if rng.random() < 0.1 else wire


# ------------------------------------------------------------------ M-Bus records (AMIS)

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


#: the AMIS's long header as it seals it: identification, maker, version, medium, access,
#: status, configuration word
def _amis_header() -> bytes:
    return next(amis_inputs(1))[7:19]


def records_inputs(count: int, seed: int = 20261130) -> Iterator[bytes]:
    """``count`` M-Bus telegrams whose record sets were mutated: sealed under AES-CBC as the
    AMIS does (most), plain (mode 0), or with a damaged header (CI, configuration word)."""
    rng = random.Random(f"records:{seed}")
    sealed = amis_inputs(count, seed)
    plaintexts = amis_seeds()
    header = _amis_header()
    for _ in range(count):
        roll = rng.random()
        if roll < 0.6:
            wire = next(sealed)
        elif roll < 0.85:
            plain = mutate_records(rng, rng.choice(plaintexts))
            wire = build_mbus_telegram(0x72, header[:10] + b"\x00\x00" + plain)
        else:
            head = bytearray(header)
            for _ in range(rng.randint(1, 3)):
                head[rng.randrange(len(head))] = rng.randrange(256)
            ci = rng.choice((0x5B, 0x72, 0x7A, 0x78, 0x51, rng.randrange(256)))
            body = mutate_records(rng, rng.choice(plaintexts))
            wire = build_mbus_telegram(ci, bytes(head[: rng.choice((12, 12, 4, 0, 7))]) + body)
        yield damage(rng, wire) if rng.random() < 0.1 else wire


# ------------------------------------------------------------------ IEC 62056-21 sign-on

IEC_PIECES = (b"\x02", b"\x03", b"(", b")", b"*", b"!", b"/", b"\r\n", b"()", b"(((",
              b"0.0.0(", b"C.1.0(", b"96.1.0(", b"*kWh)", b"\x00", b"\xff", b"/?!\r\n",
              b"\x06050\r\n", b"/SIE5", b"/ABC\x80\r\n", b"(" + b"9" * 5000 + b")")


def iec_seeds() -> list[bytes]:
    names = [build_identification("SIE", "TD3511-SIM"), build_identification("LGZ", "ZMD120AP"),
             build_identification("ISK", "MT174", "6")]
    readouts = [build_readout({"0.0.0": "70012345"}),
                build_readout({"C.1.0": "12345678", "0.0.0": "", "1.8.0": "0001234.567*kWh",
                               "F.F": "00000000"}),
                build_readout({"96.1.0": "1SAM0001", "1.8.1": "000123.4*kWh",
                               "0.9.1": "123456", "0.9.2": "240601"})]
    return names + readouts + [name + readout for name, readout in zip(names, readouts,
                                                                       strict=True)]


def mutate_iec(rng: random.Random, data: bytes) -> bytes:
    """Damage an identification or a readout; then (mostly) make its BCC fit again, so the
    damage reaches the line parser."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        roll, at = rng.random(), rng.randrange(len(buf) + 1)
        if roll < 0.3 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif roll < 0.6:
            buf[at:at] = rng.choice(IEC_PIECES)
        elif roll < 0.75:
            del buf[at : at + rng.randint(1, 12)]
        elif roll < 0.85:
            buf[at:at] = buf[at : at + rng.randint(1, 40)] * rng.randint(1, 50)
        else:
            buf[at:at] = rng.randbytes(rng.randint(1, 20))
    buf = buf[:8192]
    start = buf.find(0x02)
    end = buf.find(0x03, start + 1) if start >= 0 else -1
    if end > 0 and rng.random() < 0.7:
        bcc = 0
        for byte in buf[start + 1 : end + 1]:
            bcc ^= byte
        buf[end + 1 : end + 2] = bytes((bcc,))
    return bytes(buf)


def iec_inputs(count: int, seed: int = 20261130) -> Iterator[bytes]:
    rng = random.Random(f"iec:{seed}")
    texts = iec_seeds()
    for _ in range(count):
        yield mutate_iec(rng, rng.choice(texts))


def parse_iec(data: bytes) -> int:
    """What a reader does with a sign-on answer: the identification, the readout, the meter's
    number; 1 when a number came out."""
    parse_identification(data)
    readout = parse_readout(data)
    return 1 if readout is not None and meter_number(readout) else 0


# ------------------------------------------------------------------ the run

#: each parser of the core, and what reaches it
PARSERS: dict[str, str] = {
    "mbus": "push bodies in M-Bus long frames (DLMS segments)",
    "hdlc": "push bodies in HDLC frames, A8 segments and General Block Transfer",
    "apdu": "push bodies as bare APDUs",
    "dsmr": "DSMR / P1 text telegrams, plain and inside GCM",
    "records": "M-Bus record sets of the AMIS (oms.records), sealed and plain",
    "iec62056_21": "IEC 62056-21 identifications and data readouts",
}


def streams(count: int, seed: int = 20261130) -> dict[str, Iterator[bytes]]:
    """``count`` inputs in all, shared out evenly over the parsers."""
    share, rest = divmod(count, len(PARSERS))
    makers: dict[str, Callable[[int, int], Iterator[bytes]]] = {
        "mbus": functools.partial(framed_inputs, "mbus"),
        "hdlc": functools.partial(framed_inputs, "hdlc"),
        "apdu": functools.partial(framed_inputs, "apdu"),
        "dsmr": dsmr_inputs, "records": records_inputs, "iec62056_21": iec_inputs}
    return {name: makers[name](share + (1 if number < rest else 0), seed)
            for number, name in enumerate(PARSERS)}


def _escaped(exceptions: list[str], name: str, number: int, data: bytes) -> None:
    shown = data.hex() if len(data) <= 1024 else f"{data[:1024].hex()}... ({len(data)} bytes)"
    exceptions.append(f"{name} input {number}: {shown}\n{traceback.format_exc()}")


def _through_decoders(name: str, inputs: Iterator[bytes], exceptions: list[str],
                      ) -> tuple[int, int, float]:
    """Feed each input to decoders with both keys, the key alone and none (every fourth in
    two pieces, as a serial port delivers it); inputs, readings, seconds spent parsing."""
    keys: tuple[tuple[bytes, ...], ...] = ((KEY, AUTH), (KEY,), ())
    decoders = [Decoder(*k) for k in keys]
    count = readings = 0
    spent = 0.0
    for number, data in enumerate(inputs):
        count += 1
        decoder = decoders[number % 3]
        cut = (number * 7919) % len(data) if number % 4 == 3 and data else len(data)
        started = time.perf_counter()
        try:
            readings += len(decoder.feed(data[:cut]))
            if cut < len(data):
                readings += len(decoder.feed(data[cut:]))
            decoder.take_events()
            decoder.data_to_send()
        except BaseException:  # that is what is counted
            if sys.exc_info()[0] is KeyboardInterrupt:
                raise
            _escaped(exceptions, name, number, data)
            decoders[number % 3] = Decoder(*keys[number % 3])
        spent += time.perf_counter() - started
    return count, readings, spent


def _through_iec(inputs: Iterator[bytes], exceptions: list[str]) -> tuple[int, int, float]:
    count = readings = 0
    spent = 0.0
    for number, data in enumerate(inputs):
        count += 1
        started = time.perf_counter()
        try:
            readings += parse_iec(data)
        except BaseException:
            if sys.exc_info()[0] is KeyboardInterrupt:
                raise
            _escaped(exceptions, "iec62056_21", number, data)
        spent += time.perf_counter() - started
    return count, readings, spent


def run(count: int, *, memory_mb: int | None = None, seed: int = 20261130) -> dict[str, Any]:
    """Feed ``count`` inputs, shared out over every parser; count what escapes, per parser.

    With ``memory_mb`` the process's address space is capped first (``resource.setrlimit``),
    so a blow-up ends as a MemoryError counted here rather than taking the machine down.
    """
    import resource

    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    exceptions: list[str] = []
    parsers: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for name, inputs in streams(count, seed).items():
        before, begun = len(exceptions), time.perf_counter()
        if name == "iec62056_21":
            fed, readings, spent = _through_iec(inputs, exceptions)
        else:
            fed, readings, spent = _through_decoders(name, inputs, exceptions)
        parsers[name] = {"inputs": fed, "readings": readings,
                         "exceptions": len(exceptions) - before,
                         "seconds": time.perf_counter() - begun, "parse_seconds": spent}
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"inputs": sum(p["inputs"] for p in parsers.values()), "seconds": elapsed,
            "readings": sum(p["readings"] for p in parsers.values()),
            "exceptions": exceptions, "peak_rss_mb": peak_kb / 1024, "parsers": parsers}


if __name__ == "__main__":
    report = run(int(sys.argv[1]), memory_mb=int(sys.argv[2]) if len(sys.argv) > 2 else None)
    for text in report["exceptions"][:5]:
        print(text, file=sys.stderr)
    print(json.dumps({k: v if k != "exceptions" else len(v) for k, v in report.items()}))
