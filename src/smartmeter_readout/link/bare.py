"""Pushes without link framing: a bare APDU, or a DSMR P1 text telegram.

The Sagemcom T210-D on a P1 port sends the ciphered APDU itself (``DB 08 ...``), its end known
from its BER length; decrypted captures hold a plain data-notification (``0F ...``), its end
known only by decoding it. A DSMR telegram runs from ``/`` to ``!`` and four hex digits of
CRC-16/ARC (DSMR 5) or to ``!`` alone (DSMR 2.2/3). None of these carries a link checksum, so
a false start in noise is rejected by its structure (system title length, security control,
A-XDR shape, telegram header, CRC).
"""

from __future__ import annotations

import re

from ..dlms.apdu import body_start, parse_notification
from ..dlms.security import AUTHENTICATED, ENCRYPTED, header_length
from ..dlms.untagged import looks_untagged, parse_untagged
from ..errors import DecodeError, TruncatedError
from .checksums import crc16_arc
from .frames import DsmrTelegram, RawApdu
from .results import BROKEN, NEED_MORE, NOT_A_FRAME

__all__ = ["MAX_BARE", "parse_bare_ciphered", "parse_bare_notification", "parse_dsmr_text"]

MAX_BARE = 4096  # no push is longer; a "start" claiming more is noise
_SC_OK = frozenset(sc | suite for sc in (ENCRYPTED, AUTHENTICATED, ENCRYPTED | AUTHENTICATED)
                   for suite in (0, 1))
_DSMR_HEADER = re.compile(rb"/[A-Za-z]{3}[0-9A-Za-z]")
_UNTAGGED_HEAD = b"\x02\x02\x16"  # structure of 2, enum: the Czech push (dlms.untagged)
_DSMR_END = re.compile(rb"!([0-9A-Fa-f]{4})?\r?\n")


def parse_bare_ciphered(buf: bytes | bytearray, pos: int) -> tuple[int, object]:
    try:
        total, sc_at = header_length(buf, pos)
    except TruncatedError:
        return NEED_MORE, 0
    except DecodeError:
        return NOT_A_FRAME, None
    if total > MAX_BARE or total < sc_at - pos + 5:
        return NOT_A_FRAME, None
    if len(buf) <= sc_at:
        return NEED_MORE, total
    if buf[sc_at] not in _SC_OK:
        return NOT_A_FRAME, None
    # Without a link checksum, a byte lost on the line shows only here: the next push (same
    # tag and system title) starts inside this one's claimed length.
    header = bytes(buf[pos : pos + 2 + buf[pos + 1]])
    end = pos + total
    again = buf.find(header, pos + 1, end + len(header) - 1)
    if again > 0:
        return BROKEN, ("bare APDU cut short: the next one starts inside it", again - pos)
    if len(buf) < end:
        return NEED_MORE, total
    if len(buf) < end + len(header) - 1 and any(
            header.startswith(buf[at:]) for at in range(end - len(header) + 1, end)):
        return NEED_MORE, total  # what may be the next header's start must show itself
    return total, RawApdu(bytes(buf[pos:end]))


def parse_bare_notification(buf: bytes | bytearray, pos: int) -> tuple[int, object]:
    if len(buf) - pos >= 6 and buf[pos + 5] not in (0x00, 0x09, 0x0C):
        return NOT_A_FRAME, None
    try:
        notification, end = parse_notification(buf, pos)
    except TruncatedError:
        return (NEED_MORE, 0) if len(buf) - pos < MAX_BARE else (NOT_A_FRAME, None)
    except DecodeError:
        return _untagged_notification(buf, pos)
    if notification.body[0] not in (1, 2):  # a push body is an array or a structure
        return NOT_A_FRAME, None
    return end - pos, RawApdu(bytes(buf[pos:end]))


def _untagged_notification(buf: bytes | bytearray, pos: int) -> tuple[int, object]:
    """The Czech push, whose body is no A-XDR (``dlms.untagged``): its end from its entries."""
    chunk = bytes(buf[pos : pos + MAX_BARE])
    start = body_start(chunk)
    head = chunk[start : start + 5]
    if not (head[:3] == _UNTAGGED_HEAD[: len(head)][:3] and head[4:5] in (b"", b"\x01")):
        return NOT_A_FRAME, None
    try:
        _, end = parse_untagged(chunk, start)
    except TruncatedError:
        return (NEED_MORE, 0) if len(buf) - pos < MAX_BARE else (NOT_A_FRAME, None)
    except DecodeError:
        return NOT_A_FRAME, None
    if not looks_untagged(chunk[:end], start):
        return NOT_A_FRAME, None
    return end, RawApdu(chunk[:end])


def parse_dsmr_text(buf: bytes | bytearray, pos: int) -> tuple[int, object]:
    if len(buf) - pos < 5:
        return NEED_MORE, 0
    if not _DSMR_HEADER.match(buf, pos):
        return NOT_A_FRAME, None
    end = _DSMR_END.search(buf, pos, pos + MAX_BARE * 2)
    if end is None:
        if len(buf) - pos >= MAX_BARE * 2:
            return NOT_A_FRAME, None
        return NEED_MORE, 0
    crc = end.group(1)
    bang = end.start()
    if crc is not None and crc16_arc(buf[pos : bang + 1]) != int(crc, 16):
        return BROKEN, ("DSMR telegram CRC mismatch", end.end() - pos)
    return end.end() - pos, DsmrTelegram(bytes(buf[pos : end.end()]))
