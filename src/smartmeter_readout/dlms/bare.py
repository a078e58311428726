"""APDUs on the wire without link framing: where a bare APDU ends is known from the APDU.

The Sagemcom T210-D on a P1 port sends the ciphered APDU itself (``DB 08 ...``), its end known
from its BER length; decrypted captures hold a plain data-notification (``0F ...``), its end
known only by decoding it (or, for the Czech push, by reading its untagged entries). None of
these carries a link checksum, so a false start in noise is rejected by its structure (system
title length, security control, A-XDR shape). These parsers answer the link layer's
``ParseResult``s and are handed to its ``FrameSplitter`` (``BARE_APDU_PARSERS``): the link
layer itself knows nothing of APDUs.
"""

from __future__ import annotations

from ..errors import DecodeError, TruncatedError
from ..link.frames import RawApdu
from ..link.results import NEED_MORE, NOT_A_FRAME, Broken, Found, NeedMore, Parser, ParseResult
from ..message import N_
from .apdu import body_start, parse_notification
from .security import AUTHENTICATED, ENCRYPTED, header_length
from .untagged import looks_untagged, parse_untagged

__all__ = ["BARE_APDU_PARSERS", "MAX_BARE", "parse_bare_ciphered", "parse_bare_notification"]

MAX_BARE = 4096  # no push is longer; a "start" claiming more is noise
_SC_OK = frozenset(sc | suite for sc in (ENCRYPTED, AUTHENTICATED, ENCRYPTED | AUTHENTICATED)
                   for suite in (0, 1))
_UNTAGGED_HEAD = b"\x02\x02\x16"  # structure of 2, enum: the Czech push (dlms.untagged)


def parse_bare_ciphered(buf: bytes | bytearray, pos: int) -> ParseResult:
    try:
        total, sc_at = header_length(buf, pos)
    except TruncatedError:
        return NEED_MORE
    except DecodeError:
        return NOT_A_FRAME
    if total > MAX_BARE or total < sc_at - pos + 5:
        return NOT_A_FRAME
    if len(buf) <= sc_at:
        return NeedMore(total)
    if buf[sc_at] not in _SC_OK:
        return NOT_A_FRAME
    # Without a link checksum, a byte lost on the line shows only here: the next push (same
    # tag and system title) starts inside this one's claimed length.
    header = bytes(buf[pos : pos + 2 + buf[pos + 1]])
    end = pos + total
    again = buf.find(header, pos + 1, end + len(header) - 1)
    if again > 0:
        return Broken(N_("bare APDU cut short: the next one starts inside it"), again - pos)
    if len(buf) < end:
        return NeedMore(total)
    if len(buf) < end + len(header) - 1 and any(
            header.startswith(buf[at:]) for at in range(end - len(header) + 1, end)):
        # what may be the next header's start must show itself, or the input end
        return NeedMore(total, Found(total, RawApdu(bytes(buf[pos:end]))))
    return Found(total, RawApdu(bytes(buf[pos:end])))


def parse_bare_notification(buf: bytes | bytearray, pos: int) -> ParseResult:
    if len(buf) - pos >= 6 and buf[pos + 5] not in (0x00, 0x09, 0x0C):
        return NOT_A_FRAME
    try:
        notification, end = parse_notification(buf, pos)
    except TruncatedError:
        return NEED_MORE if len(buf) - pos < MAX_BARE else NOT_A_FRAME
    except DecodeError:
        return _untagged_notification(buf, pos)
    if notification.body[0] not in (1, 2):  # a push body is an array or a structure
        return NOT_A_FRAME
    return Found(end - pos, RawApdu(bytes(buf[pos:end])))


def _untagged_notification(buf: bytes | bytearray, pos: int) -> ParseResult:
    """The Czech push, whose body is no A-XDR (``dlms.untagged``): its end from its entries."""
    chunk = bytes(buf[pos : pos + MAX_BARE])
    start = body_start(chunk)
    head = chunk[start : start + 5]
    if not (head[:3] == _UNTAGGED_HEAD[: len(head)][:3] and head[4:5] in (b"", b"\x01")):
        return NOT_A_FRAME
    try:
        _, end = parse_untagged(chunk, start)
    except TruncatedError:
        return NEED_MORE if len(buf) - pos < MAX_BARE else NOT_A_FRAME
    except DecodeError:
        return NOT_A_FRAME
    if not looks_untagged(chunk[:end], start):
        return NOT_A_FRAME
    return Found(end, RawApdu(chunk[:end]))


BARE_APDU_PARSERS: dict[int, Parser] = {
    0xDB: parse_bare_ciphered, 0xDC: parse_bare_ciphered, 0x0F: parse_bare_notification,
}
