"""An asyncio protocol that collects received bytes for ``read(timeout)``.

A live reader waits for bytes a hundred times a second on a fast line: each wait is one
future, and the timeout one timer that is moved on, not a timer scheduled and cancelled per
chunk (``asyncio.timeout`` did that: a tenth of the reader's cost per push,
benchmarks/bench_footprint.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..i18n import _
from .base import NOTHING, Chunk, SourceLost

__all__ = ["Inbox"]

#: the loop runs a timer up to its clock's resolution early
_EARLY = time.get_clock_info("monotonic").resolution
_MAX_BUFFER = 1 << 20  # a reader that falls this far behind loses the oldest bytes


class Inbox(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self._data = bytearray()
        self._waiter: asyncio.Future[None] | None = None  # the read waiting for bytes
        self._deadline = 0.0  # when that read gives up (loop time)
        self._timer: asyncio.TimerHandle | None = None  # fires at or before the deadline
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
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        return False  # close the transport: the peer is gone

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._error = exc
        if self._timer is not None:  # nothing is left behind on the loop (Home Assistant
            self._timer.cancel()  # checks for lingering timers)
            self._timer = None
        self._wake()
        self.closed.set()

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Until the transport has really let go of the device (a reopen may follow)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)

    async def read(self, timeout: float) -> Chunk:
        if not self._data and not self._lost:
            loop = asyncio.get_running_loop()
            self._deadline = deadline = loop.time() + timeout
            timer = self._timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(deadline, self._expire)
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
            if not self._data and not self._lost:
                return NOTHING
        if self._data:
            data = bytes(self._data)
            self._data.clear()
            return Chunk(None, data)
        if self._error:
            raise SourceLost(_("{source} went away ({reason})", source=self.name,
                               reason=self._error))
        raise SourceLost(_("{source} went away", source=self.name))

    def _expire(self) -> None:
        """The timer: end the waiting read if its deadline has come, else wait on for it."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        if loop.time() + _EARLY >= self._deadline:
            waiter.set_result(None)
        else:
            self._timer = loop.call_at(self._deadline, self._expire)
