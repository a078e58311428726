"""The contract between the service and its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..reading import Reading

__all__ = ["Sink", "SinkError"]


class SinkError(Exception):
    """An output cannot take readings now (server down, disk full); the message says why."""


class Sink(Protocol):
    #: a short name for logs, metrics and the outbox: "sqlite", "mqtt", ...
    name: str
    #: True for outputs behind a network: their readings wait in the durable outbox
    durable: bool

    async def start(self) -> None: ...

    async def write(self, readings: Sequence[Reading]) -> None:
        """Deliver a batch, in order; raise SinkError to have it retried later."""

    async def close(self) -> None: ...
