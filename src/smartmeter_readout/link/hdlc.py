"""HDLC frames of the DLMS/COSEM HDLC profile (IEC 62056-46, ISO/IEC 13239 frame format type 3).

    7E | A S LLLLLLLLLLL | dest (1-4) | src (1-4) | ctrl | HCS | [E6 E7 00] info | FCS | 7E

The format field is 16 bits: type 0xA in the top nibble, the segmentation bit S (0x0800) and an
11-bit frame length that counts everything between the flags. Addresses extend until a byte
with bit 0 set. HCS covers format..ctrl, FCS format..info, both CRC-16/X.25 little-endian; a
frame without information field has only the FCS. Consecutive frames may share one flag, so
the parser leaves the closing flag in the stream for the next frame.
"""

from __future__ import annotations

from ..message import N_
from .checksums import crc16_x25
from .frames import HdlcFrame
from .results import NEED_MORE, NOT_A_FRAME, Broken, Found, NeedMore, ParseResult

__all__ = ["build_hdlc_frame", "hdlc_header_ok", "parse_hdlc"]

FLAG = 0x7E
_new = tuple.__new__  # a frame of every push: the named tuples without their Python __new__
_MIN_LENGTH = 7  # format 2, dest 1, src 1, ctrl 1, FCS 2


def _address_end(buf: bytes | bytearray, pos: int, limit: int) -> int:
    """Return the position after an address starting at ``pos``, or -1."""
    for end in range(pos, min(pos + 4, limit)):
        if buf[end] & 1:
            return end + 1
    return -1


def parse_hdlc(buf: bytes | bytearray, pos: int) -> ParseResult:
    """Parse the frame starting at ``buf[pos] == 0x7E`` (see ``results`` for the answer)."""
    if len(buf) - pos < 3:
        return NEED_MORE
    fmt = buf[pos + 1]
    if fmt & 0xF0 != 0xA0:
        return NOT_A_FRAME
    length = ((fmt & 0x07) << 8) | buf[pos + 2]
    if length < _MIN_LENGTH:
        return NOT_A_FRAME
    total = length + 2
    if len(buf) - pos < total:
        return NeedMore(total)
    last = pos + total - 1  # the closing flag
    src = _address_end(buf, pos + 3, last)
    ctrl = _address_end(buf, src, last) if src > 0 else -1
    if ctrl < 0:
        return NOT_A_FRAME
    header_end = ctrl + 1
    fcs_at = last - 2
    if header_end == fcs_at:
        info_start = header_end  # no information field, no HCS
    else:
        info_start = header_end + 2
        if info_start > fcs_at:
            return NOT_A_FRAME
        hcs = crc16_x25(buf[pos + 1 : header_end])
        if hcs != buf[header_end] | buf[header_end + 1] << 8:
            return NOT_A_FRAME  # a header that fails its own CRC was never a header
    if buf[last] != FLAG:
        return Broken(N_("no closing flag 0x7E where the length field says the frame ends"), total)
    if crc16_x25(buf[pos + 1 : fcs_at]) != buf[fcs_at] | buf[fcs_at + 1] << 8:
        return Broken(N_("frame check sequence (FCS) mismatch"), total)
    frame = _new(HdlcFrame, (bool(fmt & 0x08), bytes(buf[info_start:fcs_at]), buf[ctrl]))
    return _new(Found, (total - 1, frame))


def hdlc_header_ok(buf: bytes | bytearray, pos: int) -> bool | None:
    """Does a frame header start at ``pos`` (HCS verified)? None: not enough bytes yet."""
    if len(buf) - pos < 3 or buf[pos + 1] & 0xF0 != 0xA0:
        return None if len(buf) - pos < 3 else False
    src = _address_end(buf, pos + 3, len(buf))
    ctrl = _address_end(buf, src, len(buf)) if src > 0 else -1
    if ctrl < 0 or ctrl + 3 > len(buf):
        return None
    return crc16_x25(buf[pos + 1 : ctrl + 1]) == buf[ctrl + 1] | buf[ctrl + 2] << 8


def build_hdlc_frame(info: bytes, *, segmented: bool = False, dest: bytes = b"\xce\xff",
                     src: bytes = b"\x03", control: int = 0x13) -> bytes:
    """Frame one information field (the caller adds the LLC header where it belongs)."""
    length = 2 + len(dest) + len(src) + 1 + (2 + len(info) if info else 0) + 2
    if length > 0x7FF:
        raise ValueError("an HDLC frame holds at most 2047 bytes")
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    head = fmt.to_bytes(2, "big") + dest + src + bytes((control,))
    body = head
    if info:
        body += crc16_x25(head).to_bytes(2, "little") + info
    return bytes((FLAG,)) + body + crc16_x25(body).to_bytes(2, "little") + bytes((FLAG,))

