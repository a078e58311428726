"""The contract between the service and its outputs.

An output is an async context manager: the service opens all of them together
(``AsyncExitStack``) and leaving the block closes each within a time limit, so a hung server
cannot hold a stop up. ``start`` makes the first contact (a network output's is retried by the
service until it works); ``write`` delivers a batch in order or raises ``SinkError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from ..reading import Reading

__all__ = ["CLOSE_SECONDS", "Sink", "SinkBase", "SinkError"]

CLOSE_SECONDS = 3.0


class SinkError(Exception):
    """An output cannot take readings now (server down, disk full); the message says why."""


class Sink(Protocol):
    #: a short name for logs, metrics and the outbox: "sqlite", "mqtt", ...
    name: str
    #: True for outputs behind a network: their readings wait in the durable outbox
    durable: bool

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None: ...

    async def start(self) -> None: ...

    async def write(self, readings: Sequence[Reading]) -> None:
        """Deliver a batch, in order; raise SinkError to have it retried later."""

    async def close(self) -> None: ...


class SinkBase:
    """What every output shares: its lifetime as an ``async with`` block."""

    name: str
    durable = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS):  # a hung server cannot hold us
                await self.close()

    async def start(self) -> None:
        """First contact; nothing to do for most outputs."""

    async def close(self) -> None:
        """Let go of connections and files."""
