"""Serial ports: pyserial opens and configures them, the event loop reads them.

Opening is where most installation problems show, so every ``errno`` a user can meet is
translated into a message that names the fix: a missing device (adapter unplugged), no
permission (the ``dialout`` group), a port held by another program, a path that is no
serial port.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import termios
from pathlib import Path

import serial

from ..i18n import _, os_error_text
from ..operators import AUTO_SETTINGS, SerialSettings
from ._inbox import Inbox
from ._rest import Rest, rest_for
from .base import Chunk, SettingUnsupported, SourceFatal, SourceLost, SourceUnavailable

__all__ = ["SerialConnection", "SerialConnector", "open_error"]

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class SerialConnector:
    """``/dev/ttyUSB0`` with fixed settings, or with a list of settings to try in turn."""

    def __init__(self, port: str, settings: tuple[SerialSettings, ...] = AUTO_SETTINGS, *,
                 readout: SerialSettings | None = None) -> None:
        self.name = port
        self.port = port
        self.settings = settings
        self.readout = readout

    async def open(self, settings: SerialSettings | None = None) -> SerialConnection:
        chosen = settings or self.settings[0]
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, self._open, chosen)
        try:
            # shielded: a caller cancelled meanwhile (Home Assistant unloading) cannot stop
            # the thread, so the port it opens is closed when it is there, not left open
            port = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_unwanted)
            raise
        except termios.error as exc:
            if exc.args and exc.args[0] == errno.EINVAL:
                raise SettingUnsupported(_("{port} does not support {settings}", port=self.port,
                                           settings=chosen)) from None
            raise open_error(self.port, exc) from None
        except (serial.SerialException, OSError) as exc:
            raise open_error(self.port, exc) from None
        return SerialConnection(port, Inbox(self.port), chosen)

    def _open(self, chosen: SerialSettings) -> serial.Serial:
        return serial.Serial(self.port, baudrate=chosen.baud, parity=_PARITY[chosen.parity],
                             bytesize=chosen.bytesize, stopbits=chosen.stopbits, timeout=0,
                             exclusive=True)


class SerialConnection:
    """Reads straight from the port's file descriptor when the event loop says it is ready.

    pyserial opens and configures the port (termios, locking); reading bypasses its
    ``read()``, whose select() and timeout bookkeeping cost more than the os.read itself
    on every chunk (benchmarks/bench_footprint.py).
    """

    def __init__(self, port: serial.Serial, inbox: Inbox, settings: SerialSettings) -> None:
        self._port = port
        self._inbox = inbox
        self._fd = port.fileno()
        self.settings = settings
        self._byte_time = settings.byte_bits / settings.baud  # seconds
        loop = asyncio.get_running_loop()
        # after a rest the loop calls _readable at once if bytes came meanwhile; it is not
        # called then: with none there, a serial port read without a timeout (VMIN 0)
        # answers b"", which is also what a hung-up port answers
        self._rest = Rest(lambda: loop.remove_reader(self._fd),
                          lambda: loop.add_reader(self._fd, self._readable))
        loop.add_reader(self._fd, self._readable)

    def expect(self, size: int) -> None:
        """The frame under way lacks ``size`` bytes: leave the port alone until the line can
        have carried them (``_rest``). Bytes that come later than due are read then, and
        waited for anew."""
        if self._port.is_open:
            self._rest.take(rest_for(size, self._byte_time))

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._stop(exc)
            return
        if data:
            self._inbox.data_received(data)
        else:  # end of file: the device hung up
            self._stop(None)

    def _stop(self, exc: BaseException | None) -> None:
        self._rest.cancel()
        asyncio.get_running_loop().remove_reader(self._fd)
        self._inbox.connection_lost(exc)

    async def read(self, timeout: float) -> Chunk:
        try:
            return await self._inbox.read(timeout)
        except SourceLost:
            raise SourceLost(_("{port} disconnected (adapter unplugged?)",
                               port=self._inbox.name)) from None

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise SourceLost(_("{port}: cannot send ({reason})", port=self._inbox.name,
                               reason=exc)) from None

    async def close(self) -> None:
        if not self._port.is_open:
            return
        self._rest.cancel()
        asyncio.get_running_loop().remove_reader(self._fd)
        self._port.close()
        self._inbox.connection_lost(None)  # its timer goes: nothing is left on the loop


def _close_unwanted(opening: asyncio.Future[serial.Serial]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


def _errno(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    if isinstance(exc, termios.error) and exc.args and isinstance(exc.args[0], int):
        return int(exc.args[0])
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        return number
    match = re.search(r"\[Errno (\d+)\]", str(exc))
    return int(match.group(1)) if match else None


def open_error(port: str, exc: BaseException) -> SourceUnavailable | SourceFatal:
    """The one sentence a user needs when ``port`` cannot be opened."""
    number = _errno(exc)
    text = str(exc)
    if number == errno.EACCES or "Permission denied" in text:
        return SourceFatal(_(
            "permission denied on {port}: add your user to the dialout group "
            "(sudo usermod -aG dialout $USER, then log out and in again) or run the service "
            "as a user in that group", port=port))
    if number in (errno.ENOENT, errno.ENXIO, errno.ENODEV) or not Path(port).exists():
        return SourceUnavailable(_(
            "{port} is not there: is the adapter plugged in? (ls /dev/serial/by-id lists "
            "the connected adapters)", port=port))
    if number in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
        return SourceUnavailable(_(
            "{port} is in use by another program (another reader, ModemManager or a "
            "terminal program): stop it first", port=port))
    if number == errno.ENOTTY or "configure port" in text:
        return SourceFatal(_("{port} is not a serial port: give the adapter's device, e.g. "
                             "/dev/ttyUSB0 or /dev/serial/by-id/...", port=port))
    if number == errno.EIO:
        return SourceUnavailable(_("{port} reports an I/O error (adapter unplugged or "
                                   "failing?)", port=port))
    return SourceUnavailable(_("cannot open {port}: {reason}", port=port,
                               reason=os_error_text(exc)))
