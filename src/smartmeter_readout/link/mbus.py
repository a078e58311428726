"""M-Bus long frames carrying DLMS segments (EN 13757-2, IEC 62056-7-6 wired M-Bus profile).

    68 L L 68 | C A CI STSAP DTSAP <DLMS bytes> | CS 16
                 \\______________ L bytes ______/

CS is the sum of the L bytes modulo 256. CI's low nibble numbers the segment and bit 0x10
marks the last one (0x10 = a single unsegmented frame). Quirk: some Sagemcom T210-D send a
257-byte segment with L = 0x01 (only the low byte of the length); an L too short for any
DLMS frame (< 5) is therefore read as L + 256, and the checksum decides.
"""

from __future__ import annotations

import re
from zlib import adler32

from ..message import N_, Message
from .checksums import mbus_checksum
from .frames import BrokenFrame, MbusSegment, MbusShort, MbusTelegram
from .results import NEED_MORE, NOT_A_FRAME, Broken, Found, NeedMore, ParseResult

__all__ = ["PushShape", "build_mbus_frame", "build_mbus_telegram", "parse_mbus",
           "parse_mbus_short"]

SHORT_START = 0x10
#: CI values of the EN 13757-3 application layer a wired meter sends (long header 0x5B and
#: 0x72, short header 0x7A): the frame holds data records, not DLMS
APPLICATION_CI = frozenset((0x5B, 0x72, 0x7A))

START, STOP = 0x68, 0x16
_new = tuple.__new__  # a frame of every push: the named tuples without their Python __new__
_HEADER = 4  # 68 L L 68
_DLMS_HEAD = 5  # C A CI STSAP DTSAP


def parse_mbus(buf: bytes | bytearray, pos: int) -> ParseResult:
    """Parse the long frame starting at ``buf[pos] == 0x68`` (see ``results`` for the answer)."""
    if len(buf) - pos < _HEADER:
        return NEED_MORE
    length = buf[pos + 1]
    if buf[pos + 2] != length or buf[pos + 3] != START:
        return NOT_A_FRAME
    overflow = length < _DLMS_HEAD
    if overflow:
        length += 256
    total = length + 6
    if len(buf) - pos < total:
        return NeedMore(total)
    body_end = pos + _HEADER + length
    if buf[body_end + 1] != STOP:
        return Broken(N_("no stop byte 0x16 where the length field says the frame ends"), total)
    if mbus_checksum(buf[pos + _HEADER : body_end]) != buf[body_end]:
        return Broken(N_("checksum mismatch"), total)
    ci = buf[pos + 6]
    if ci in APPLICATION_CI:
        return Found(total, MbusTelegram(buf[pos + 4], buf[pos + 5], ci,
                                         bytes(buf[pos + 7 : body_end])))
    if ci & 0xE0:
        return Found(total, BrokenFrame("mbus", Message(N_(
            "M-Bus frame with CI 0x{ci:02X} carries no DLMS"), ci=ci), total))
    return _new(Found, (total, _new(MbusSegment, (ci, bytes(buf[pos + 9 : body_end]), overflow))))


class PushShape:
    """The M-Bus frames of the last push, to take the next push of the same shape without the
    splitter: a live reader gets a push per read, and the next one has the same frame lengths
    and CI fields. ``payload`` checks what ``parse_mbus`` checks (head, stop byte, checksum)
    and joins the DLMS segments; any other bytes are for the splitter."""

    __slots__ = ("_fullmatch", "frames")

    def __init__(self, frames: tuple[tuple[int, int], ...], heads: re.Pattern[bytes]) -> None:
        self.frames = frames  # (start, end of the data) per frame
        self._fullmatch = heads.fullmatch  # 68 L L 68, CI and 16 where they were, the length

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> PushShape | None:
        """The shape of ``data`` when it is nothing but DLMS long frames (no length overflow)
        whose CI fields number the segments of one push (0, 1, ... and the last bit on the
        last), else None."""
        frames: list[tuple[int, int]] = []
        pattern = bytearray()
        pos = last = 0
        while len(data) - pos >= _HEADER + _DLMS_HEAD + 2:
            length = data[pos + 1]
            if data[pos] != START or length < _DLMS_HEAD:  # no Sagemcom overflow here
                return None
            end = pos + _HEADER + length
            ci = data[pos + 6]
            if ci & 0xE0 or ci & 0x0F != len(frames) or last:
                return None
            last = ci & 0x10
            frames.append((pos, end))
            pattern += re.escape(bytes(data[pos : pos + _HEADER])) + b".." + re.escape(
                bytes((ci,))) + b".{%d}\x16" % (length - 2)
            pos = end + 2
        if pos != len(data) or not frames or not last:
            return None
        return cls(tuple(frames), re.compile(bytes(pattern), re.DOTALL))

    def payload(self, data: bytes | bytearray | memoryview) -> bytes | None:
        """The joined DLMS segments of ``data`` if it has this shape and every frame checks
        out, else None."""
        if self._fullmatch(data) is None:
            return None
        parts = []
        for start, end in self.frames:
            # the checksum as mbus_checksum computes it (a frame's L is below 256 here)
            if (adler32(data[start + _HEADER : end]) - 1) & 0xFF != data[end]:
                return None
            parts.append(data[start + _HEADER + _DLMS_HEAD : end])
        return b"".join(parts)


def parse_mbus_short(buf: bytes | bytearray, pos: int) -> ParseResult:
    """``10 C A CS 16`` at ``buf[pos]``; anything else there is not a frame (0x10 is a common
    byte: it is never reported as a broken frame)."""
    if len(buf) - pos < 5:
        return NEED_MORE
    control, address = buf[pos + 1], buf[pos + 2]
    if buf[pos + 4] != STOP or (control + address) & 0xFF != buf[pos + 3]:
        return NOT_A_FRAME
    return Found(5, MbusShort(control, address))


def build_mbus_telegram(ci: int, payload: bytes, *, control: int = 0x53,
                        address: int = 0xF0) -> bytes:
    """A long frame of the application layer (the AMIS meter's SND_UD)."""
    body = bytes((control, address, ci)) + payload
    if len(body) > 0xFF:
        raise ValueError("an M-Bus long frame holds at most 255 bytes")
    return bytes((START, len(body), len(body), START)) + body + bytes((mbus_checksum(body),
                                                                       STOP))


def build_mbus_frame(ci: int, payload: bytes, *, control: int = 0x53, address: int = 0xFF,
                     stsap: int = 0x01, dtsap: int = 0x67) -> bytes:
    """Frame one DLMS segment; L wraps to its low byte as the Sagemcom firmware does."""
    body = bytes((control, address, ci, stsap, dtsap)) + payload
    if len(body) > 0x1FF:
        raise ValueError("an M-Bus segment holds at most 511 bytes")
    length = len(body) & 0xFF
    return bytes((START, length, length, START)) + body + bytes((mbus_checksum(body), STOP))
