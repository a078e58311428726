"""The link layer's checksums, each written once and table-driven.

- CRC-16/X.25 (HDLC HCS/FCS, IEC 62056-46 / ISO 13239): poly 0x1021 reflected (0x8408),
  init 0xFFFF, final XOR 0xFFFF, sent little-endian.
- CRC-16/ARC (DSMR P1 telegrams, "CRC16" in NEN-EN-IEC 62056-21 mode D / DSMR 5.0.2 §6.12):
  poly 0x8005 reflected (0xA001), init 0, no final XOR.
- M-Bus long-frame checksum (EN 13757-2): arithmetic sum of the bytes from C to the end of
  the data, modulo 256.
"""

from __future__ import annotations

import binascii
import zlib

__all__ = ["crc16_arc", "crc16_x25", "mbus_checksum"]


def _table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_X25 = _table(0x8408)
_ARC = _table(0xA001)


_ADLER_CHUNK = 256
_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    # X.25 is CRC-16/CCITT-FALSE (binascii.crc_hqx, in C) on bit-reversed bytes, with the
    # 16-bit result reversed and inverted: about 30x faster than a Python table loop.
    crc = binascii.crc_hqx(bytes(data).translate(_REVERSED_BITS), 0xFFFF)
    return ((_REVERSED_BITS[crc & 0xFF] << 8) | _REVERSED_BITS[crc >> 8]) ^ 0xFFFF


def crc16_x25_reference(data: bytes | bytearray | memoryview) -> int:
    """Plain table-driven CRC-16/X.25, kept as the test oracle for the fast version."""
    crc = 0xFFFF
    table = _X25
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    crc = 0
    table = _ARC
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def mbus_checksum(data: bytes | bytearray | memoryview) -> int:
    # Adler-32's first half is 1 + the byte sum modulo 65521: exact for up to 256 bytes
    # (256 x 255 < 65521), so one C call per 256 bytes instead of sum() over Python ints
    # (1.2 us -> 0.2 us for a 250-byte M-Bus frame).
    if len(data) <= _ADLER_CHUNK:
        return (zlib.adler32(data) - 1) & 0xFF
    total = 0
    for start in range(0, len(data), _ADLER_CHUNK):
        total += (zlib.adler32(data[start : start + _ADLER_CHUNK]) & 0xFFFF) - 1
    return total & 0xFF


def mbus_checksum_reference(data: bytes | bytearray | memoryview) -> int:
    """The byte sum modulo 256 written out, kept as the test oracle for the fast version."""
    return sum(data) & 0xFF
