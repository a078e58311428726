"""An asyncio protocol that collects received bytes for ``read(timeout)``."""

from __future__ import annotations

import asyncio
import contextlib

from ..i18n import _
from .base import NOTHING, Chunk, SourceLost

__all__ = ["Inbox"]

_MAX_BUFFER = 1 << 20  # a reader that falls this far behind loses the oldest bytes


class Inbox(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self._data = bytearray()
        self._ready = asyncio.Event()
        self._lost = False
        self._error: BaseException | None = None
        self.closed = asyncio.Event()
        self.dropped = 0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > _MAX_BUFFER:
            excess = len(self._data) - _MAX_BUFFER
            del self._data[:excess]
            self.dropped += excess
        self._ready.set()

    def eof_received(self) -> bool:
        return False  # close the transport: the peer is gone

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._error = exc
        self._ready.set()
        self.closed.set()

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Until the transport has really let go of the device (a reopen may follow)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)

    async def read(self, timeout: float) -> Chunk:
        if not self._data and not self._lost:
            try:
                async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                    await self._ready.wait()
            except TimeoutError:
                return NOTHING
        self._ready.clear()
        if self._data:
            data = bytes(self._data)
            self._data.clear()
            return Chunk(None, data)
        if self._error:
            raise SourceLost(_("{source} went away ({reason})", source=self.name,
                               reason=self._error))
        raise SourceLost(_("{source} went away", source=self.name))
