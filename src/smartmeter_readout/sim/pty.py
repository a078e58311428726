"""A virtual serial port: the master side of a pseudo-terminal, for the simulator and replay.

The reader opens the slave side (printed path, or the ``link`` symlink to it) like any serial
device. Two things a real line does are imitated:

- Bytes nobody reads are lost: before each write, input still waiting on the slave side is
  flushed, and a full buffer drops bytes instead of blocking the meter.
- A reader at the wrong baud rate gets noise. The pty carries the baud rate the reader set
  (the master sees the slave's termios), so the virtual meter can check it. Parity cannot be
  imitated: the Linux pty driver clears PARENB, so every parity reads a virtual meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import struct
import termios
import time
import tty
from pathlib import Path

__all__ = ["VirtualSerialPort"]

_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in (
    300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)}
_TICK = 0.02  # paced writes go out in pieces of this many seconds of line time
_STALE = 0.5  # bytes unread for this long had no reader


class VirtualSerialPort:
    def __init__(self, link: str | Path | None = None, *, baud: int | None = None,
                 seed: int = 0) -> None:
        self.baud = baud  # the meter's rate; None: any reader setting gets clean bytes
        self.link = Path(link) if link is not None else None
        self._noise = random.Random(seed)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link is not None:
            temporary = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.path)
            temporary.replace(self.link)  # atomic: readers never see a half-made link
        self.dropped = 0
        self.closed = False
        self._last_write = 0.0

    def reader_baud(self) -> int | None:
        """The baud rate the reader set on its side, None if not a standard one."""
        return _SPEEDS.get(termios.tcgetattr(self._slave)[4])

    def waiting(self) -> int:
        """Bytes written but not yet read by anyone."""
        raw = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

    def write(self, data: bytes, *, baud: int | None = None) -> None:
        """``baud``: this time the meter sends at another rate than its own (an IEC
        62056-21 answer at 300 baud)."""
        rate = baud or self.baud
        if rate is not None and self.reader_baud() != rate:
            data = self._misread(data, rate)
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        self.dropped += len(data) - written

    async def send(self, frame: bytes, *, pace: bool = False, baud: int | None = None) -> None:
        """One frame, at line speed with ``pace`` (a 2400-baud frame takes its time)."""
        now = time.monotonic()
        if now - self._last_write > _STALE and self.waiting():
            termios.tcflush(self._slave, termios.TCIFLUSH)  # nobody read it: lost on a line
        self._last_write = now
        rate = baud or self.baud
        if not pace or rate is None:
            self.write(frame, baud=baud)
            return
        step = max(1, int(rate / 10 * _TICK))
        for start in range(0, len(frame), step):
            if start:
                await asyncio.sleep(_TICK)
            self.write(frame[start : start + step], baud=baud)  # returns right after the
            # last byte

    def _misread(self, data: bytes, rate: int) -> bytes:
        """What a UART at the wrong rate makes of ``data``: a different number of noise bytes."""
        ratio = (self.reader_baud() or 9600) / rate
        size = max(1, min(len(data) * 20, round(len(data) * min(ratio, 1 / ratio) ** 0.5)))
        return self._noise.randbytes(size)

    def received(self) -> bytes:
        """What the reader wrote to its side since the last call (an AMIS reader's E5)."""
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Hang up: the reader's next read fails as if the adapter were unplugged."""
        if self.closed:
            return
        self.closed = True
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink() and os.readlink(self.link) == self.path:
                    self.link.unlink()
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> VirtualSerialPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
