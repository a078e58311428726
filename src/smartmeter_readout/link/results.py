"""What a frame parser answers (h11's style: a typed value, never a raise on wire bytes).

A parser looks at a buffer at one position and answers with one of:

- ``Found(size, frame)``: a checked frame of ``size`` bytes (``frame`` may itself be a
  ``BrokenFrame`` when the frame is intact but carries nothing this reader can use);
- ``NeedMore(total, at_end)``: wait; ``total`` is how many bytes the frame needs in all, 0
  unknown; ``at_end`` is the frame the bytes make if no more arrive (a bare APDU is complete,
  but its last bytes may be the start of the next one's header: only the next bytes, or the
  end of the input, tell);
- ``NOT_A_FRAME``: the start byte was noise;
- ``Broken(reason, size)``: a plausible frame fails its checks; ``size`` is what it claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

from .frames import LinkEvent

__all__ = ["NOT_A_FRAME", "Broken", "Found", "NeedMore", "NotAFrame", "ParseResult", "Parser"]


# named tuples, not frozen dataclasses: one is made for every frame on the hot path, and a
# tuple is built several times faster; ``match`` reads them the same way
class Found(NamedTuple):
    size: int
    frame: LinkEvent


class NeedMore(NamedTuple):
    total: int = 0
    at_end: Found | None = None


class Broken(NamedTuple):
    reason: str
    size: int


class NotAFrame(Enum):
    NOT_A_FRAME = "not a frame"


NOT_A_FRAME = NotAFrame.NOT_A_FRAME
NEED_MORE = NeedMore()  # when the total is not known yet
ParseResult = Found | NeedMore | Broken | NotAFrame
Parser = Callable[[bytearray, int], ParseResult]
