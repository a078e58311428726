"""The APDUs a meter pushes: data-notification and General Block Transfer.

Green Book 9.5 / Blue Book: data-notification ::= ``0F`` long-invoke-id-and-priority (4 bytes)
date-time (OCTET STRING OPTIONAL: ``00`` absent, or ``0C`` and 12 bytes; Norwegian Kaifa meters
send it as a tagged octet-string ``09 0C ...``) notification-body (one ``Data`` value).

Several notifications in one APDU: a Landis+Gyr E450 in Switzerland sends three complete
data-notifications a minute apart in one HDLC frame, each after its own LLC header
(``E6 E7 00``); ``following_notifications`` finds them after the first.

General Block Transfer (Green Book 9.4.6.13): ``E0`` block-control (bit 7 last block,
bit 6 streaming, bits 0-5 window), block-number (2), block-number-ack (2), block-data (BER
length and bytes). The blocks, joined in order, form the APDU (usually a ciphered one).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DecodeError, TruncatedError
from ..message import N_
from . import axdr

__all__ = [
    "DATA_NOTIFICATION", "GENERAL_BLOCK_TRANSFER", "LLC_HEADERS", "DataNotification",
    "GbtBlock", "body_start", "build_gbt_blocks", "build_notification",
    "following_notifications", "parse_gbt_block", "parse_notification",
]

DATA_NOTIFICATION = 0x0F
GENERAL_BLOCK_TRANSFER = 0xE0
#: the IEC 8802-2 LLC headers before an APDU: to the meter (E6 E7 00), and as some send it
LLC_HEADERS = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")


@dataclass(frozen=True, slots=True)
class DataNotification:
    invoke_id: int
    date_time: bytes | None  # the 12 raw COSEM date-time bytes, if the meter sent them
    body: axdr.Node
    body_offset: int = 0  # where the body starts in the parsed buffer


def parse_notification(buf: bytes | bytearray, pos: int = 0) -> tuple[DataNotification, int]:
    """Parse a data-notification at ``pos``; return it and the position after it."""
    if len(buf) - pos < 6:
        raise TruncatedError(N_("data ends inside the data-notification header"))
    if buf[pos] != DATA_NOTIFICATION:
        raise DecodeError(N_("APDU tag 0x{tag:02X} is not a data-notification (0x0F)"),
                          tag=buf[pos])
    invoke_id = int.from_bytes(buf[pos + 1 : pos + 5], "big")
    marker = buf[pos + 5]
    at = pos + 6
    date_time = None
    if marker == 0x09:  # tagged octet-string: one more byte, the length 0C
        if len(buf) <= at:
            raise TruncatedError(N_("data ends inside the notification date-time"))
        marker = buf[at]
        at += 1
        if marker == 0x00:
            marker = -1  # an empty octet-string: no date-time
    if marker == 0x0C:
        if len(buf) < at + 12:
            raise TruncatedError(N_("data ends inside the notification date-time"))
        date_time = bytes(buf[at : at + 12])
        at += 12
    elif marker not in (0x00, -1):
        raise DecodeError(N_("notification date-time with length 0x{length:02X}, expected 0 or "
                             "12"), length=marker)
    body, end = axdr.decode(buf, at)
    return DataNotification(invoke_id, date_time, body, at - pos), end


def following_notifications(apdu: bytes, end: int) -> list[bytes] | None:
    """The complete data-notifications that fill ``apdu`` from ``end`` (where the first one
    ended), each perhaps after an LLC header; None when the bytes there are anything else:
    only whole notifications with an array or structure body make readings of their own."""
    parts: list[bytes] = []
    at = end
    while at < len(apdu):
        if apdu[at : at + 3] in LLC_HEADERS:
            at += 3
        if apdu[at : at + 1] != b"\x0f":
            return None
        try:
            notification, stop = parse_notification(apdu, at)
        except DecodeError:
            return None
        if notification.body[0] not in (axdr.ARRAY, axdr.STRUCTURE):
            return None
        parts.append(apdu[at:stop])
        at = stop
    return parts or None


def body_start(apdu: bytes | bytearray) -> int:
    """Where a data-notification's body starts: after ``00``, ``0C`` + 12 or ``09 0C`` + 12."""
    marker = apdu[5] if len(apdu) > 5 else 0
    return 6 if marker == 0x00 else 18 if marker == 0x0C else 19


def build_notification(body: axdr.Node, *, invoke_id: int = 0, date_time: bytes | None = None,
                       tagged_date_time: bool = False) -> bytes:
    head = bytes((DATA_NOTIFICATION,)) + invoke_id.to_bytes(4, "big")
    if date_time is None:
        head += b"\x00"
    else:
        head += (b"\x09\x0c" if tagged_date_time else b"\x0c") + date_time
    return head + axdr.encode(body)


@dataclass(frozen=True, slots=True)
class GbtBlock:
    last: bool
    number: int
    data: bytes


def parse_gbt_block(apdu: bytes) -> GbtBlock:
    if len(apdu) < 6:
        raise TruncatedError(N_("General Block Transfer header cut off"))
    if apdu[0] != GENERAL_BLOCK_TRANSFER:
        raise DecodeError(N_("APDU tag 0x{tag:02X} is no General Block Transfer (0xE0)"),
                          tag=apdu[0])
    size, at = axdr.read_length(apdu, 6)
    if at + size != len(apdu):
        raise DecodeError(N_("General Block Transfer block announces {size} bytes but carries "
                             "{carried}"), size=size, carried=len(apdu) - at)
    return GbtBlock(bool(apdu[1] & 0x80), int.from_bytes(apdu[2:4], "big"), apdu[at:])


def build_gbt_blocks(apdu: bytes, block_size: int) -> list[bytes]:
    """Split an APDU into General Block Transfer blocks of at most ``block_size`` data bytes."""
    chunks = [apdu[i : i + block_size] for i in range(0, len(apdu), block_size)] or [b""]
    blocks = []
    for number, chunk in enumerate(chunks, start=1):
        control = 0x40 | (0x80 if number == len(chunks) else 0)
        blocks.append(bytes((GENERAL_BLOCK_TRANSFER, control)) + number.to_bytes(2, "big")
                      + b"\x00\x00" + axdr.encode_length(len(chunk)) + chunk)
    return blocks
