"""Begin a capture with a whole push: the bytes before the first push start are left out.

A recording started while the meter is mid-push would open with the tail of that push: a
frame without its first segment, or half a frame. It decodes to nothing and looks like a
broken line to whoever reads the capture. The aligner finds frames with the link layer's own
splitter and lets bytes through from the first frame that certainly begins a push (M-Bus
segment 0, an HDLC first segment, GBT block 1, a DSMR telegram) or follows one that ended a
push (so a meter that sends bare APDUs is recorded from its second push on). If
no frame shows up in the first ``limit`` bytes (a framing the splitter does not know: the
very case a capture is made for), everything held is let through as it came.
"""

from __future__ import annotations

from ..dlms.apdu import LLC_HEADERS
from ..dlms.bare import BARE_APDU_PARSERS
from ..link.frames import DsmrTelegram, HdlcFrame, LinkEvent, MbusSegment, MbusTelegram, RawApdu
from ..link.splitter import FrameSplitter

__all__ = ["PushAligner", "ends_push", "starts_push"]

_GBT = 0xE0


def _block(frame: HdlcFrame) -> bytes:
    return frame.payload[3:] if frame.payload[:3] in LLC_HEADERS else frame.payload


def ends_push(frame: LinkEvent) -> bool:
    """The frame's own control bits say its push is complete (M-Bus CI "last", HDLC
    segmentation bit clear, GBT "last block")."""
    if isinstance(frame, MbusSegment):
        return frame.last
    if isinstance(frame, HdlcFrame):
        if frame.segmented:
            return False
        block = _block(frame)
        return block[:1] != bytes((_GBT,)) or bool(block[1] & 0x80)
    return True


def starts_push(frame: LinkEvent) -> bool:
    """The frame certainly begins a push: M-Bus segment 0; an HDLC frame with the LLC header
    (only a push's first segment carries it) and, if it holds GBT, block 1; a DSMR telegram.
    An HDLC frame without LLC may be a later segment, and a bare APDU may have been read
    from inside a frame that was cut off: they do not count (the frame after them does)."""
    if isinstance(frame, MbusSegment):
        return frame.number == 0
    if isinstance(frame, HdlcFrame):
        if frame.payload[:3] not in LLC_HEADERS:
            return False
        block = frame.payload[3:]
        return block[:1] != bytes((_GBT,)) or block[2:4] == b"\x00\x01"
    return isinstance(frame, DsmrTelegram | MbusTelegram)  # an AMIS telegram is a push


class PushAligner:
    """``feed(bytes) -> bytes``: nothing until a push begins, then everything unchanged."""

    def __init__(self, limit: int = 16384) -> None:
        self._splitter: FrameSplitter | None = FrameSplitter(track_spans=True,
                                                             unframed=BARE_APDU_PARSERS)
        self._held = bytearray()
        self._limit = limit
        self._after_end = False
        self._frames = False  # a frame was recognised (so what is held is a push's tail)
        self.skipped = 0  # bytes left out before the first push
        self.found = False  # a push start was found (else: the limit let everything through)

    @property
    def aligned(self) -> bool:
        return self._splitter is None

    def feed(self, data: bytes) -> bytes:
        splitter = self._splitter
        if splitter is None:
            return data
        self._held += data
        splitter.feed(data)
        spans = splitter.spans
        assert spans is not None
        for frame, start, _ in spans:
            if not isinstance(frame, MbusSegment | MbusTelegram | HdlcFrame | RawApdu |
                              DsmrTelegram):
                continue
            self._frames = True
            if self._after_end or starts_push(frame):
                self.found = True
                return self._release(start)
            self._after_end = ends_push(frame)
        spans.clear()
        if len(self._held) >= self._limit:
            return self._release(0)
        return b""

    def flush(self) -> bytes:
        """At the end: what is held if no frame at all was recognised (an unknown framing is
        kept as it came); the tail of a push alone is left out."""
        if self._splitter is None:
            return b""
        held = b"" if self._frames else bytes(self._held)
        self.skipped = len(self._held) - len(held)
        self._held = bytearray()
        self._splitter = None
        return held

    def _release(self, start: int) -> bytes:
        self.skipped = start
        out = bytes(self._held[start:])
        self._held = bytearray()
        self._splitter = None
        return out
