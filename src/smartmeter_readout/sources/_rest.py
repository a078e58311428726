"""Leave a slow line alone while a frame comes in.

A 2400-baud meter's push arrives in some 80 pieces (a USB adapter hands bytes on every
16 ms, a serial bridge forwards what it has), and a reader that wakes for each spends 3.6
times a bare read loop's CPU on a push (benchmarks/bench_footprint.py ``--paced``). Once the
decoder knows from a frame's length field how many bytes are still to come
(``Decoder.wanted``), a connection may stop watching its line until they can be there: the
kernel keeps them meanwhile. A serial port knows its line's speed from its settings; a
bridge's is measured here from the bytes it has forwarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["LONGEST", "SHORTEST", "SLACK", "LineRate", "Rest", "rest_for"]

#: a rest ends this much after the last byte is due: an adapter hands bytes on every 16 ms
#: (FTDI's latency timer), and a rest that ends early costs a wake-up for the last few
SLACK = 0.02
SHORTEST = 0.05  # seconds: below this a rest saves too few wake-ups to matter
#: seconds: a length field that claims more is looked at again then (a 2400-baud M-Bus frame
#: takes 1.2 s at most)
LONGEST = 1.5
_QUIET = 0.1  # seconds without bytes (and no rest) that end a burst
_MEASURED = 0.05  # seconds of a burst before its pace is trusted


def rest_for(size: int, byte_time: float) -> float:
    """Seconds to leave the line alone for ``size`` more bytes; 0: not worth a rest."""
    seconds = size * byte_time + SLACK
    return min(seconds, LONGEST) if seconds >= SHORTEST else 0.0


class Rest:
    """One rest at a time: ``pause`` the line's reading, ``resume`` it when the rest is
    over; ``cancel`` (the connection closes) leaves nothing on the event loop."""

    def __init__(self, pause: Callable[[], object], resume: Callable[[], object]) -> None:
        self._pause, self._resume = pause, resume
        self._timer: asyncio.TimerHandle | None = None

    def take(self, seconds: float) -> None:
        if self._timer is not None or not seconds:
            return
        self._pause()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._over)

    def _over(self) -> None:
        self._timer = None
        self._resume()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class LineRate:
    """The seconds a byte takes on a line whose settings are not known (a serial bridge):
    the fastest pace a burst has shown, the bytes after its first piece over the time since
    that piece. A network delay, a rest that outlasts its frame or a meter that waits for
    an answer only ever make a burst look slower than its line, never faster; so the fastest
    is the line's, and a slow sample cannot make every later rest too long. A write ends a
    burst (the meter's next bytes wait for it). A bridge that forwards whole frames at once
    shows no pace, and is never rested."""

    def __init__(self) -> None:
        self._start = self._last = 0.0
        self._bytes = -1  # no burst under way
        self.byte_time: float | None = None

    def arrived(self, size: int, now: float) -> None:
        """``size`` bytes read at ``now``."""
        if self._bytes < 0 or now - self._last > _QUIET:
            self._start, self._bytes = now, 0
        else:
            self._bytes += size
            elapsed = now - self._start
            if elapsed >= _MEASURED:
                pace = elapsed / self._bytes
                if self.byte_time is None or pace < self.byte_time:
                    self.byte_time = pace
        self._last = now

    def rested(self, now: float) -> None:
        """A rest ended at ``now``: the line's quiet is counted from here, not from the
        last read (bytes kept meanwhile are the burst's, read at once)."""
        self._last = now

    def wrote(self) -> None:
        """Something was sent to the meter: what comes next waited for it."""
        self._bytes = -1
