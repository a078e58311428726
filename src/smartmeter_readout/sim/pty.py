"""A virtual serial port: the master side of a pseudo-terminal, for the simulator and replay.

The reader opens the slave side (printed path, or the ``link`` symlink to it) like any serial
device. Two things a real line does are imitated:

- Bytes nobody reads are lost. A UART's driver keeps what arrives while a program has the port
  open, however slowly it reads; without a reader the bytes are gone. The pty cannot tell
  whether a reader has the slave open (this side holds it open too), so it judges by reading:
  bytes that waited longer than ``_STALE`` with not one byte taken since the last write had no
  reader, and are flushed before the next frame. A reader that takes bytes, however slowly,
  never loses one (issue 21: the time was once taken at the start of the last frame, so after
  a frame longer than the limit the tail just written was flushed before the reader's next
  read, and a 2400-baud push arrived as 252 of its 256 bytes). A full buffer drops bytes
  instead of blocking the meter.
- A reader at the wrong baud rate gets noise. The pty carries the baud rate the reader set
  (the master sees the slave's termios), so the virtual meter can check it. Parity cannot be
  imitated: the Linux pty driver clears PARENB, so every parity reads a virtual meter.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import struct
import termios
import time
import tty
from pathlib import Path

from .line import Line

__all__ = ["VirtualSerialPort"]

_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in (
    300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)}
#: bytes waiting this long without a byte taken had no reader; a reader rests up to 1.5 s
#: while a frame comes in at the line's speed (``sources/_rest.py``)
_STALE = 3.0


class VirtualSerialPort(Line):
    def __init__(self, link: str | Path | None = None, *, baud: int | None = None,
                 seed: int = 0) -> None:
        super().__init__(baud)
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
        self._left = 0  # bytes waiting right after the last write
        self._untaken_since: float | None = None  # bytes waited since then, none taken

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
        waiting = self._judge()
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        self.dropped += len(data) - written
        # counted, not asked: the slave side shows written bytes a moment later
        self._left = waiting + written
        if self._untaken_since is None:
            self._untaken_since = time.monotonic()

    def before_frame(self) -> None:
        """Forget bytes nobody read: on a real line they were never received."""
        self._judge()
        if self._untaken_since is not None and time.monotonic() - self._untaken_since > _STALE:
            termios.tcflush(self._slave, termios.TCIFLUSH)
            self._left, self._untaken_since = 0, None

    def _judge(self) -> int:
        """The bytes waiting; if a reader took some since the last write (or none wait), the
        ones left are not stale."""
        waiting = self.waiting()
        if not waiting or waiting < self._left:
            self._untaken_since = None
        return waiting

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
