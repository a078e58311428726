"""The SQLite history as an output of the service: a thin adapter over ``history.store``.

Writes run off the event loop; the store's errors become ``SinkError`` so the service retries
them like any output's; raw readings older than ``keep_raw_days`` are pruned once an hour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from ..history.query import HistoryError
from ..history.store import HistoryStore
from ..reading import Reading
from .base import SinkBase, SinkError

__all__ = ["SqliteSink"]


class SqliteSink(SinkBase):
    durable = False

    def __init__(self, path: str | Path, keep_raw_days: float = 90) -> None:
        self.name = "sqlite"
        self.path = Path(path)
        self.keep_raw_days = keep_raw_days
        self.store: HistoryStore | None = None
        self._pruned = 0.0

    async def start(self) -> None:
        try:
            self.store = await asyncio.to_thread(HistoryStore, self.path)
        except HistoryError as exc:
            raise SinkError(str(exc)) from None
        for note in self.store.notes:
            logging.getLogger("smartmeter_readout").warning("sqlite: %s", note)

    async def write(self, readings: Sequence[Reading]) -> None:
        assert self.store is not None
        try:
            await asyncio.to_thread(self.store.write, readings)
            if self.keep_raw_days and time.monotonic() - self._pruned > 3600:
                self._pruned = time.monotonic()
                await asyncio.to_thread(self.store.prune, self.keep_raw_days)
        except HistoryError as exc:
            raise SinkError(str(exc)) from None

    async def close(self) -> None:
        if self.store is not None:
            self.store.close()
