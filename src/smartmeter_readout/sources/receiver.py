"""A wireless M-Bus receiver stick on a serial port, at its own baud rate (LINZ NETZ).

Each stick talks at its own rate (``link.receivers.RECEIVER_BAUD``: iM871A 57600, AMB8465
9600, CUL with culfw 38400). A named receiver is opened at its rate; without a name, or
with ``auto``, each receiver's rate is tried in turn until the bytes are one receiver's
protocol (``detect_receiver``), and those bytes are handed on to the decoder. The wired
auto-detection (``live.detect``) looks for meters' frames, not a stick's, so this search is
the connector's: the reader sees one setting, the one found.
"""

from __future__ import annotations

import time

from ..capture.format import Chunk
from ..link.receivers import RECEIVER_BAUD, AutoStream, detect_receiver
from ..operators import SerialSettings
from .base import Connection, Connector, SettingUnsupported

__all__ = ["ReceiverSearch", "for_receiver"]

#: how long one rate is listened to: two of LN-666's 5 s cycles and some
LISTEN = 12.0
_ENOUGH = 4096  # bytes at one rate that are no receiver's protocol: the wrong rate


def for_receiver(connector: Connector, receiver: str, baud: str) -> Connector:
    """``connector`` at the receiver's own rate: the one given (``baud``), the named
    receiver's, or each receiver's in turn (``auto``)."""
    if baud != "auto":
        return connector
    if receiver in RECEIVER_BAUD:
        connector.settings = (SerialSettings(RECEIVER_BAUD[receiver]),)
        return connector
    if receiver != "auto":  # rtl_wmbus on a serial line, or bare telegrams: as given
        return connector
    return ReceiverSearch(connector)


class ReceiverSearch:
    """Tries each receiver's rate; keeps the one found for the next connection."""

    def __init__(self, inner: Connector, *, listen: float = LISTEN) -> None:
        self.inner = inner
        self.name = inner.name
        self.readout: SerialSettings | None = None
        self.listen = listen
        rates = dict.fromkeys(RECEIVER_BAUD.values())  # in the table's order, once each
        self.candidates = tuple(SerialSettings(rate) for rate in rates)
        self.found: SerialSettings | None = None
        #: what the reader sees: one setting, the one found once found
        self.settings: tuple[SerialSettings, ...] = (self.candidates[0],)

    async def open(self, settings: SerialSettings | None = None) -> Connection:
        if self.found is not None:
            return await self.inner.open(self.found)
        for candidate in self.candidates:
            try:
                connection = await self.inner.open(candidate)
            except SettingUnsupported:
                continue
            try:
                held = await self._listen(connection)
            except BaseException:
                await connection.close()
                raise
            if held is not None:
                self.found, self.settings = candidate, (candidate,)
                return _Held(connection, held, candidate)
            await connection.close()
        # no receiver at any rate: the first one's, for the decoder and doctor to judge
        first = self.candidates[0]
        return _Held(await self.inner.open(first), b"", first)

    async def _listen(self, connection: Connection) -> bytes | None:
        """The bytes heard at this rate if they are a receiver's protocol, else None."""
        connection.write(AutoStream().start())  # an Amber hears nothing before it is set up
        heard = bytearray()
        deadline = time.monotonic() + self.listen
        while (left := deadline - time.monotonic()) > 0 and len(heard) <= _ENOUGH:
            heard += (await connection.read(min(left, 1.0))).data
            if heard and detect_receiver(bytes(heard)) is not None:
                return bytes(heard)
        return None


class _Held:
    """A connection whose first read gives the bytes the search already took."""

    def __init__(self, inner: Connection, held: bytes, settings: SerialSettings) -> None:
        self._inner = inner
        self._held = held
        self.settings = settings

    async def read(self, timeout: float) -> Chunk:
        if self._held:
            held, self._held = self._held, b""
            return Chunk(None, held)
        return await self._inner.read(timeout)

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    async def close(self) -> None:
        await self._inner.close()
