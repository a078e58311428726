"""Does this serial setting show meter frames? A sans-I/O judge for auto-detection.

Theory of operation: at the wrong baud rate or parity a UART still delivers bytes, but no
frame checksum ever matches. So the probe feeds what arrives at one setting to a link-only
``FrameSplitter`` and decides:

- FOUND: a checksummed frame (M-Bus, HDLC, DSMR) or a bare APDU appeared, or one cut short
  (its head checked out and the next one began inside it: the setting is right, the bytes go
  missing on the way, which the reader then says);
- WRONG: a whole burst (bytes framed by quiet gaps, i.e. one push) held no frame, or a lot
  of bytes did. The burst that was already under way when listening began does not count:
  its start is missing, so it could not show a frame even at the right setting;
- SILENT: no byte at all for ``silence`` seconds; other settings will not help.

Times come from the caller, as seconds on a monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..dlms.bare import BARE_APDU_PARSERS
from ..link.frames import (
    CutShortFrame,
    DsmrTelegram,
    HdlcFrame,
    MbusSegment,
    MbusShort,
    MbusTelegram,
    RawApdu,
)
from ..link.splitter import FrameSplitter

__all__ = ["ProbeResult", "SettingProbe"]

_FRAMINGS = {MbusSegment: "M-Bus", HdlcFrame: "HDLC", DsmrTelegram: "DSMR text",
             RawApdu: "bare APDU", MbusTelegram: "M-Bus", MbusShort: "M-Bus"}  # the last
# two: an AMIS meter (its link reset is all it sends until a reader answers)
_CUT_FRAMINGS = {"mbus": "M-Bus", "hdlc": "HDLC", "dsmr": "DSMR text", "apdu": "bare APDU"}


class ProbeResult(StrEnum):
    FOUND = "found"
    WRONG = "wrong"
    SILENT = "silent"


@dataclass(slots=True)
class SettingProbe:
    started: float
    quiet: float = 0.25  # a gap this long ends a burst (meters send a frame without pauses)
    silence: float = 20.0
    max_bytes: int = 4096
    min_burst: int = 16
    result: ProbeResult | None = None
    framing: str | None = None
    received: bytearray = field(default_factory=bytearray)
    _splitter: FrameSplitter = field(
        default_factory=lambda: FrameSplitter(unframed=BARE_APDU_PARSERS))
    _last: float | None = None
    _burst_start: int = 0
    _counts: bool = False  # the current burst began after a quiet gap
    _bursts: int = 0

    def feed(self, data: bytes, now: float) -> ProbeResult | None:
        if self.result is not None or not data:
            return self.result
        gap = now - (self._last if self._last is not None else self.started)
        if gap >= self.quiet:
            self._end_burst()
            if self.result is not None:
                return self.result
            self._burst_start = len(self.received)
            self._counts = True
        self._last = now
        self.received += data
        for frame in self._splitter.feed(data):
            framing = _CUT_FRAMINGS.get(frame.framing) if isinstance(frame, CutShortFrame) \
                else _FRAMINGS.get(type(frame))
            if framing is not None:
                self.framing = framing
                self.result = ProbeResult.FOUND
                return self.result
        if len(self.received) > self.max_bytes:
            self.result = ProbeResult.WRONG
        return self.result

    def idle(self, now: float) -> ProbeResult | None:
        """Called when nothing arrived for a while: a burst may have ended."""
        if self.result is not None:
            return self.result
        if self._last is None:
            if now - self.started >= self.silence:
                self.result = ProbeResult.SILENT
            return self.result
        if now - self._last >= self.quiet:
            self._end_burst()
        if self.result is None and now - self._last >= self.silence:
            self.result = ProbeResult.SILENT
        return self.result

    def _end_burst(self) -> None:
        size = len(self.received) - self._burst_start
        if self._counts and size:
            self._bursts += 1
            if size >= self.min_burst or self._bursts >= 3:
                self.result = ProbeResult.WRONG
        self._counts = False
        self._burst_start = len(self.received)
