"""The wire between the virtual meter and a reader: what a pseudo-terminal and a TCP bridge share.

A meter's UART sends a frame byte after byte at its baud rate; a reader sees it arrive in
pieces, and the next frame may follow without a pause. ``Line.send`` imitates that pace from
the clock (the bytes the line has carried by now, written every tick), so a loaded event loop
sends bigger pieces rather than a slower line. What happens to bytes on the way (a reader at
the wrong baud rate, nobody listening) is the concrete line's business.
"""

from __future__ import annotations

import asyncio
from typing import Self

__all__ = ["Line"]

_TICK = 0.02  # paced frames go out in pieces of about this many seconds of line time


class Line:
    """The base of both: ``write`` and ``close`` are the concrete line's."""

    path: str  # where a reader finds the line: a device path, host:port

    def __init__(self, baud: int | None = None) -> None:
        self.baud = baud  # the meter's rate; None: any reader setting gets clean bytes
        self.byte_bits = 10  # start bit, 8 data bits, stop bit (11 with a parity bit)
        self.dropped = 0  # bytes nobody could take (a full buffer)
        self.closed = False

    async def start(self) -> None:
        """Get ready for readers (a TCP bridge starts listening); called before each frame."""

    def reader_baud(self) -> int | None:
        """The baud rate the reader set, None if the line cannot tell."""
        return None

    def write(self, data: bytes, *, baud: int | None = None) -> None:
        """Hand ``data`` to the reader's side at once (``baud``: the meter's rate this time)."""
        raise NotImplementedError

    def before_frame(self) -> None:
        """A frame is about to start (the pty forgets bytes nobody read)."""

    def received(self) -> bytes:
        """What readers sent towards the meter since the last call (an AMIS reader's E5)."""
        return b""

    def close(self) -> None:
        """Hang up: readers see the line go away."""
        raise NotImplementedError

    async def send(self, frame: bytes, *, pace: float = 0.0, baud: int | None = None) -> None:
        """One frame. ``pace`` 1 sends it at the line's speed (a 2400-baud frame of 256 bytes
        takes about a second), 3 three times as fast, 0 at once; ``baud``: this frame goes at
        another rate than the meter's own (an IEC 62056-21 answer at 300 baud). Returns when
        the last byte is written."""
        await self.start()
        self.before_frame()
        rate = baud or self.baud
        if not pace or rate is None:
            self.write(frame, baud=baud)
            return
        loop = asyncio.get_running_loop()
        per_second = rate / self.byte_bits * pace
        began = loop.time()
        sent = 0
        while sent < len(frame):
            await asyncio.sleep(_TICK)
            carried = min(len(frame), int((loop.time() - began) * per_second) + 1)
            if carried > sent:
                self.write(frame[sent:carried], baud=baud)
                sent = carried

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
