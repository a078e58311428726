"""Split an arriving byte stream into checked link frames, whatever the framing.

Theory of operation: bytes are appended to one buffer. The splitter searches (with one
compiled pattern, in C) for the next byte that can start a frame: ``68`` M-Bus, ``7E`` HDLC,
``DB``/``DC`` a bare ciphered APDU, ``0F`` a bare plain notification, ``/`` a DSMR telegram.
The parser for that byte answers: a frame (consume it), need more data (stop, keep the buffer
from here), noise (skip one byte) or a broken frame (report it, skip one byte: a real frame
may start inside the broken one). Skipping only one byte after a failure is what makes
resynchronisation work after truncated frames, flipped bits and false start bytes.

A false start that claims a long frame would hold back the real frames behind it until its
claimed length has arrived. So while a candidate waits for more data, the splitter looks
ahead once for a complete *checksummed* frame (M-Bus or HDLC) later in the buffer; if there
is one, the waiting candidate was noise. The look-ahead remembers how far it searched and
never searches the same bytes twice. Inside the extent of a broken checksummed frame only
checksummed frames are accepted: an unframed APDU found there would be the broken frame's
own content, one flipped bit away from a wrong value. For the same reason, once the stream
has shown checksummed frames (a meter keeps its framing), unframed APDUs are no longer
looked for: a frame with a damaged header must not be read from its inside. The buffer is
capped; consumed bytes are dropped in one ``del`` per feed.

A frame whose start and length field arrived but whose rest did not is told apart from one
that fails its checks: when the next frame's head (its header checked as far as its kind
allows) begins inside the claimed extent, bytes were lost on the way, and the frame is reported
as cut short (``CutShortFrame``) instead of broken or noise. That names the cause a user can
fix (a loose contact, a second program reading the same port) instead of a wrong setting.
An unframed APDU has no checksum to fail: its parser reports it broken only when the next one
begins inside it, so it is always cut short.

A live stream has no end: whatever waits is judged when the next bytes arrive. A capture has
one, and ``feed(..., final=True)`` says so: nothing that waits for more can get it, so a
candidate that is whole unless more bytes follow (a bare APDU whose last bytes might begin
the next one's header) is handed out, one that announced its length is reported cut short
at the end, and any other start byte was noise. Then no byte is held.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .bare import parse_dsmr_text
from .frames import BrokenFrame, CutShortFrame, Garbage, LinkEvent
from .hdlc import hdlc_header_ok, parse_hdlc
from .mbus import SHORT_START, parse_mbus, parse_mbus_short
from .results import NEED_MORE, NOT_A_FRAME, Broken, Found, NeedMore, Parser

__all__ = ["FrameSplitter"]

_LINK_PARSERS: dict[int, Parser] = {0x68: parse_mbus, 0x7E: parse_hdlc, 0x2F: parse_dsmr_text,
                                     SHORT_START: parse_mbus_short}
_FRAMINGS = {0x68: "mbus", 0x7E: "hdlc", 0x2F: "dsmr", SHORT_START: "mbus"}  # any other: an APDU
_CHECKSUMMED_START = re.compile(rb"[\x68\x7e]")
_HEAD_START = re.compile(rb"[\x10\x68\x7e]")  # where the next checksummed frame may begin
_DSMR = 0x2F
_DSMR_START = re.compile(b"/")
_CHECKSUMMED = frozenset((0x68, 0x7E, SHORT_START))  # a short frame has a checksum too: an
# AMIS that lost its reader sends only these, and they must be heard after its long frames
_FLAG = 0x7E
_MBUS_HEAD = 4  # 68 L L 68
_HDLC_HEAD = 14  # the longest HDLC header: flag, format, 4 + 4 address bytes, control, HCS


class FrameSplitter:
    """Incremental splitter: ``feed(bytes) -> list of link events`` (never raises).

    ``unframed`` adds parsers for pushes without link framing by their start byte (the bare
    APDUs of ``dlms.bare``): the link layer finds M-Bus, HDLC and DSMR text by itself.
    """

    def __init__(self, max_buffer: int = 1 << 16, *, track_spans: bool = False,
                 unframed: Mapping[int, Parser] | None = None) -> None:
        self._parsers: dict[int, Parser] = {**_LINK_PARSERS, **(unframed or {})}
        self._start = re.compile(b"[" + b"".join(re.escape(bytes((byte,)))
                                                 for byte in sorted(self._parsers)) + b"]")
        self._buf = bytearray()
        self._consumed = 0  # stream offset of the buffer's first byte
        #: with ``track_spans``: each frame handed out, with its start and end stream offset
        self.spans: list[tuple[LinkEvent, int, int]] | None = [] if track_spans else None
        self._max_buffer = max_buffer
        self._garbage = 0
        self._ahead = 0  # the look-ahead searched up to here (buffer offset)
        self._broken_until = 0  # end of the last broken frame (buffer offset)
        self._framed = False  # checksummed frames seen: stop looking for unframed APDUs
        #: after a feed: the bytes the frame at the buffer's head still lacks, by its length
        #: field; 0 when no frame is under way, its length is not known or not to be trusted
        self.wanted = 0

    @property
    def held_from(self) -> int:
        """Stream offset from which bytes are still held back (not yet judged)."""
        return self._consumed

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def taken(self, size: int) -> bool:
        """The caller took ``size`` bytes as whole checksummed frames itself (the decoder's
        shape check of a push like the last one): the stream moves on as if fed here. Only
        while nothing is held: else False, and the bytes must be fed."""
        if self._buf:
            return False
        self._consumed += size
        self._framed = True
        return True

    def feed(self, data: bytes | bytearray | memoryview, *,
             final: bool = False) -> list[LinkEvent]:
        """The frames ``data`` completes; with ``final`` the input ends here: no byte is held
        back, what waited for more is handed out, reported cut short or skipped as noise."""
        buf = self._buf
        buf += data
        self.wanted = 0
        events: list[LinkEvent] = []
        pos = self._scan(buf, events, final)
        if pos:
            del buf[:pos]
            self._consumed += pos
            self._ahead = max(0, self._ahead - pos)
            self._broken_until = max(0, self._broken_until - pos)
        if len(buf) > self._max_buffer:
            drop = len(buf) - self._max_buffer
            del buf[:drop]
            self._consumed += drop
            self._garbage += drop
            self._ahead = max(0, self._ahead - drop)
            self._broken_until = max(0, self._broken_until - drop)
        self._flush_garbage(events)
        return events

    def _scan(self, buf: bytearray, events: list[LinkEvent], final: bool) -> int:
        pos = 0
        end = len(buf)
        parsers = self._parsers
        while pos < end:
            match = self._start.search(buf, pos)
            if match is None:
                self._garbage += end - pos
                return end
            start = match.start()
            self._garbage += start - pos
            first = buf[start]
            if first not in _CHECKSUMMED and (self._framed or start < self._broken_until):
                self._garbage += 1
                pos = start + 1
                continue
            result = parsers[first](buf, start)
            if final and isinstance(result, NeedMore) and result.at_end is not None:
                result = result.at_end  # no next header can begin in what never comes
            # the hot path: an isinstance test and tuple unpacking cost less than match
            if isinstance(result, Found):
                size, frame = result
                if first not in _CHECKSUMMED:
                    inner = self._framed_inside(buf, start, start + size, final)
                    if inner == 0:
                        return start
                    if inner > 0:  # the "APDU" is the inside of a cut-off framed stream
                        self._garbage += inner - start
                        pos = inner
                        continue
                self._flush_garbage(events)
                events.append(frame)
                if self.spans is not None:
                    self.spans.append((frame, self._consumed + start,
                                       self._consumed + start + size))
                pos = start + size
                if first in _CHECKSUMMED:
                    self._framed = True
            elif isinstance(result, NeedMore):
                later = self._complete_frame_after(buf, start)
                # a head that checks out as far as its kind allows (an HDLC header has its
                # own checksum; a stray 7E A7 FF claimed 2,000 bytes)
                real_head = first in _CHECKSUMMED and bool(result.total) and (
                    first != _FLAG or bool(hdlc_header_ok(buf, start)))
                if later < 0 and not final:
                    if real_head:  # a length a reader may rest on
                        self.wanted = result.total - (end - start)
                    return start
                if later < 0:  # the input ends inside it
                    if real_head:
                        self._flush_garbage(events)
                        events.append(CutShortFrame(_FRAMINGS[first], end - start, True))
                        return end
                    self._garbage += 1  # a start byte whose frame never came: noise
                    pos = start + 1
                    continue
                if real_head:
                    self._flush_garbage(events)  # a real head, and a whole frame inside it
                    events.append(CutShortFrame(_FRAMINGS[first], later - start))
                else:
                    self._garbage += later - start
                pos = later
            elif isinstance(result, Broken):
                reason, claimed = result
                framing = _FRAMINGS.get(first, "apdu")
                if first in _CHECKSUMMED or first == _DSMR:
                    # a closing HDLC flag may be the next frame's opening one
                    extent = start + claimed - (first == _FLAG)
                    inner = self._head_inside(buf, start, min(extent, end), first, final)
                    if inner == 0:
                        return start
                    if inner > 0 and first == 0x68 and inner - start < _MBUS_HEAD:
                        # the next head overlaps this one's: 68 68 68 68 ... is noise, not
                        # a frame cut short (an event a byte made a flood of them slow)
                        self._garbage += inner - start
                        pos = inner
                        continue
                    self._flush_garbage(events)
                    if inner > 0:
                        events.append(CutShortFrame(framing, inner - start))
                        pos = inner
                        continue
                    events.append(BrokenFrame(framing, reason, claimed))
                    if first == _DSMR:
                        pos = start + max(1, claimed)
                        continue
                    self._broken_until = max(self._broken_until, start + claimed)
                    pos = start + 1
                else:  # unframed: its own structure says where the next push begins
                    self._flush_garbage(events)
                    events.append(CutShortFrame(framing, claimed))
                    pos = start + max(1, claimed)
            else:  # NOT_A_FRAME
                if first != _FLAG:  # a lone 7E is a shared or doubled flag, not noise
                    self._garbage += 1
                pos = start + 1
        return pos

    def _framed_inside(self, buf: bytearray, start: int, end: int, final: bool) -> int:
        """Where a checksummed frame starts inside an unframed candidate: -1 nowhere,
        0 wait for more bytes to tell (never at the end of the input: none will come).

        Listening that begins inside an M-Bus or HDLC frame meets the ciphered APDU it
        carries without its header; a checksummed frame inside the extent unmasks it.
        """
        if self._framed:
            return -1
        pos = start + 1
        while (match := _CHECKSUMMED_START.search(buf, pos, end)) is not None:
            at = match.start()
            result = self._parsers[buf[at]](buf, at)
            if isinstance(result, Found):
                return at
            if isinstance(result, NeedMore) and not final and (
                    (buf[at] == 0x68 and len(buf) - at >= 4)
                    or (buf[at] == _FLAG and hdlc_header_ok(buf, at))):
                return 0
            pos = at + 1
        return -1

    def _head_inside(self, buf: bytearray, start: int, end: int, first: int,
                     final: bool = False) -> int:
        """Where the next frame's head begins inside ``start < at < end``: -1 nowhere, 0 wait
        for more bytes to tell. A checksummed frame's head must check out (M-Bus ``68 L L 68``,
        an HDLC header with its HCS, a whole short frame); DSMR text looks for a telegram's.
        At the end of the input a head that cannot show itself whole is none."""
        pattern = _HEAD_START if first != _DSMR else _DSMR_START
        pos = start + 1
        while (match := pattern.search(buf, pos, end)) is not None:
            at = match.start()
            byte = buf[at]
            if byte == _FLAG:
                head = hdlc_header_ok(buf, at)  # None also for an address that never ends
                if head is None and len(buf) - at < _HDLC_HEAD and not final:
                    return 0
                if head:
                    return at
            elif byte == _DSMR and len(buf) - at < 5:
                if not final:
                    return 0
            else:
                result = self._parsers[byte](buf, at)
                if result == NEED_MORE and byte != _DSMR:
                    if not final:
                        return 0
                elif result is not NOT_A_FRAME:
                    return at
            pos = at + 1
        return -1

    def _complete_frame_after(self, buf: bytearray, start: int) -> int:
        """Position of a complete checksummed frame after ``start``, or -1."""
        pos = max(start + 1, self._ahead)
        while True:
            match = _CHECKSUMMED_START.search(buf, pos)
            if match is None:
                self._ahead = len(buf)
                return -1
            at = match.start()
            result = self._parsers[buf[at]](buf, at)
            if isinstance(result, Found):
                self._ahead = 0
                return at
            if isinstance(result, NeedMore):
                self._ahead = at  # try this one again when more bytes arrive
                return -1
            pos = at + 1

    def _flush_garbage(self, events: list[LinkEvent]) -> None:
        if self._garbage:
            events.append(Garbage(self._garbage))
            self._garbage = 0
