"""Wireless M-Bus telegrams (EN 13757-4 link layer), as a receiver hands them over.

    L C M M A A A A A A | CI ...          (the link header: 10 bytes, L counts what follows it)
      A = identification (4, BCD, least significant first), version, device type (medium)

On the air a telegram carries CRCs (CRC-16, polynomial 0x3D65, initial 0, inverted, sent
most significant byte first), in one of two frame formats:

- **format A** (modes T and S, LINZ NETZ): the first block is the 10 header bytes, then 16
  data bytes a block, the last one shorter; every block ends in its CRC. L counts no CRC.
- **format B** (mode C): block 1 is the 10 header bytes without a CRC, block 2 runs to at
  most 128 bytes and ends in a CRC over blocks 1 and 2, an optional block 3 has its own. L
  counts the CRCs.

Receivers differ: most check and remove the CRCs (iM871A, Amber, rtl_wmbus), culfw passes
them on. ``parse_wmbus`` takes either: it tells them apart by the CRCs themselves (a format A
telegram is found by the first block's CRC, and every block is then checked).

Pure, like the rest of the link layer: bytes in, a ``WmbusFrame`` out, ``FrameError`` with a
sentence for anything broken.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import DecodeError
from ..message import N_

__all__ = ["BLOCK_A_DATA", "WmbusError", "WmbusFrame", "build_format_a", "build_format_b",
           "crc_en13757", "format_a_size", "maker_code", "parse_wmbus", "strip_crcs"]

HEADER = 10  # L C M M A A A A A A
BLOCK_A_DATA = 16  # data bytes of every format A block after the first
_B_BLOCK2_END = 128  # format B: blocks 1 and 2 together hold at most 128 bytes with the CRC
_POLY = 0x3D65


class WmbusError(DecodeError):
    """A wireless telegram that is cut off or fails its CRCs."""


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc_en13757(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/EN-13757: polynomial 0x3D65, initial 0, final XOR 0xFFFF, not reflected."""
    crc = 0
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def _crc_ok(data: bytes, start: int, end: int) -> bool:
    return crc_en13757(data[start:end]).to_bytes(2, "big") == data[end : end + 2]


def format_a_size(length: int) -> int:
    """Bytes on the air of a format A telegram whose L field is ``length`` (CRCs included)."""
    rest = max(length + 1 - HEADER, 0)
    return length + 1 + 2 * (1 + -(-rest // BLOCK_A_DATA))


def maker_code(manufacturer: bytes) -> str:
    """The three letters of an M field as sent (two bytes, least significant first)."""
    code = int.from_bytes(manufacturer, "little")
    return "".join(chr(((code >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


class WmbusFrame(NamedTuple):
    """A checked wireless telegram, CRCs removed."""

    control: int
    manufacturer: bytes  # the M field as sent
    identification: bytes  # 4 bytes as sent (least significant first)
    version: int
    medium: int  # the device type (02 electricity)
    ci: int
    payload: bytes  # everything after CI, as far as L reaches
    form: str  # "A", "B" (CRCs were there and checked) or "plain" (the receiver removed them)
    extra: int = 0  # bytes after what L covers (ignored)

    @property
    def maker(self) -> str:
        return maker_code(self.manufacturer)

    @property
    def meter_id(self) -> str:
        """The identification number as printed on the meter and in receivers' logs."""
        return self.identification[::-1].hex().upper()

    @property
    def address(self) -> bytes:
        """M field and A field: the eight bytes that name the meter on the air."""
        return (self.manufacturer + self.identification
                + bytes((self.version, self.medium)))


def strip_crcs(data: bytes) -> tuple[bytes, str, int]:
    """The telegram without CRCs (L C M A CI ...), its form and the bytes after it.

    Format A is recognised by the first block's CRC; format B by the CRC of its second
    block; anything else is taken as a telegram whose CRCs the receiver already removed."""
    if len(data) < HEADER + 1:
        raise WmbusError(N_("a wireless M-Bus telegram of {size} bytes is cut off (the link "
                            "header alone has 10)"), size=len(data))
    length = data[0]
    if length < HEADER:
        raise WmbusError(N_("L field {length} is too short for a wireless M-Bus telegram"),
                         length=length)
    if len(data) >= HEADER + 2 and _crc_ok(data, 0, HEADER):
        return _strip_a(data, length)
    if len(data) >= length + 1 and _format_b_ok(data, length):
        return _strip_b(data, length)
    if len(data) >= length + 1:
        extra = len(data) - length - 1
        if len(data) >= format_a_size(length):
            raise WmbusError(N_("the CRC of the first block is wrong (or the telegram is "
                                "{extra} bytes longer than its L field says)"), extra=extra)
        return bytes(data[: length + 1]), "plain", extra
    raise WmbusError(N_("the telegram is cut off: {size} bytes where its L field says "
                        "{expected}"), size=len(data), expected=length + 1)


def _strip_a(data: bytes, length: int) -> tuple[bytes, str, int]:
    size = format_a_size(length)
    if len(data) < size:
        raise WmbusError(N_("the telegram is cut off: {size} bytes where its L field says "
                            "{expected} with CRCs"), size=len(data), expected=size)
    out = bytearray(data[:HEADER])
    at = HEADER + 2
    block = 2
    while len(out) < length + 1:
        take = min(BLOCK_A_DATA, length + 1 - len(out))
        if not _crc_ok(data, at, at + take):
            raise WmbusError(N_("CRC of block {block} is wrong"), block=block)
        out += data[at : at + take]
        at += take + 2
        block += 1
    return bytes(out), "A", len(data) - size


def _format_b_ok(data: bytes, length: int) -> bool:
    end = min(length + 1, _B_BLOCK2_END) - 2
    if end <= HEADER or not _crc_ok(data, 0, end):
        return False
    return length + 1 <= _B_BLOCK2_END or _crc_ok(data, _B_BLOCK2_END, length - 1)


def _strip_b(data: bytes, length: int) -> tuple[bytes, str, int]:
    if length + 1 <= _B_BLOCK2_END:
        body = data[: length - 1]
    else:
        body = data[: _B_BLOCK2_END - 2] + data[_B_BLOCK2_END : length - 1]
    return bytes((len(body) - 1,)) + bytes(body[1:]), "B", len(data) - length - 1


def parse_wmbus(data: bytes | bytearray | memoryview) -> WmbusFrame:
    """One wireless telegram, with or without its CRCs, checked and split into its fields."""
    plain, form, extra = strip_crcs(bytes(data))
    return WmbusFrame(plain[1], plain[2:4], plain[4:8], plain[8], plain[9], plain[10],
                      plain[11:], form, extra)


def build_format_a(plain: bytes) -> bytes:
    """A telegram (L C M A CI ..., L right) with its format A CRCs (the simulators' side)."""
    out = bytearray(plain[:HEADER])
    out += crc_en13757(plain[:HEADER]).to_bytes(2, "big")
    for at in range(HEADER, len(plain), BLOCK_A_DATA):
        block = plain[at : at + BLOCK_A_DATA]
        out += block + crc_en13757(block).to_bytes(2, "big")
    return bytes(out)


def build_format_b(plain: bytes) -> bytes:
    """A telegram (L C M A CI ..., L without CRCs) in format B, L counting the CRCs."""
    body = bytearray(plain)
    if len(body) + 2 <= _B_BLOCK2_END:
        body[0] = len(body) + 1
        return bytes(body) + crc_en13757(body).to_bytes(2, "big")
    body[0] = len(body) + 3
    first, rest = body[: _B_BLOCK2_END - 2], body[_B_BLOCK2_END - 2 :]
    return (bytes(first) + crc_en13757(first).to_bytes(2, "big") + bytes(rest)
            + crc_en13757(rest).to_bytes(2, "big"))
