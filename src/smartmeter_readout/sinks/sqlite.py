"""The SQLite history as an output of the service: a thin adapter over ``history.store``.

Writes run off the event loop; the store's errors become ``SinkError`` so the service retries
them like any output's; raw readings older than ``keep_raw_days`` are pruned once an hour.
A counter that goes back (a meter replaced) is logged once as it is stored. With a tariff,
each quarter hour is settled (``history.costs``) once it has ended, and the spot prices
of a dynamic tariff are fetched at start and every hour into the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..history.costs import CostLedger
from ..history.prices import PriceError, load
from ..history.query import HistoryError
from ..history.store import HistoryStore
from ..i18n import _
from ..reading import Reading
from .base import SinkBase, SinkError

__all__ = ["SqliteSink"]

_PRICES_EVERY = 3600.0
_PRICES_RETRY = 900.0
log = logging.getLogger("smartmeter_readout")


class SqliteSink(SinkBase):
    durable = False

    def __init__(self, path: str | Path, keep_raw_days: float = 90, *,
                 ledger: CostLedger | None = None, prices: str | None = None,
                 price_format: str = "auto") -> None:
        self.name = "sqlite"
        self.path = Path(path)
        self.keep_raw_days = keep_raw_days
        self.ledger, self.prices, self.price_format = ledger, prices, price_format
        self.store: HistoryStore | None = None
        self._pruned = 0.0
        self._settled_up_to = 0  # the quarter hour the ledger last looked at
        self._price_task: asyncio.Task[None] | None = None
        self.price_error: str | None = None
        self._prices_ok = False

    async def start(self) -> None:
        try:
            self.store = await asyncio.to_thread(HistoryStore, self.path)
        except HistoryError as exc:
            raise SinkError(str(exc)) from None
        for note in self.store.notes:
            log.warning(_("sqlite: %s"), note)
        if self.prices and self.ledger is not None:
            self._price_task = asyncio.create_task(self._fetch_prices(), name="spot prices")

    async def write(self, readings: Sequence[Reading]) -> None:
        assert self.store is not None
        try:
            resets = await asyncio.to_thread(self.store.write, readings)
            for reset in resets:  # once each: the store keeps them (counter_resets)
                log.warning(_("sqlite: the counter %s (%s) of meter %s went back from %s to "
                              "%s at %s: a new series starts there, nothing is subtracted "
                              "(a meter replaced or reset?)"), reset.name, reset.obis,
                            reset.meter, f"{reset.before:g}", f"{reset.after:g}",
                            datetime.fromtimestamp(reset.time).astimezone().isoformat(
                                timespec="seconds"))
            if self.keep_raw_days and time.monotonic() - self._pruned > 3600:
                self._pruned = time.monotonic()
                await asyncio.to_thread(self.store.prune, self.keep_raw_days)
            quarter = int(time.time()) // 900
            if self.ledger is not None and quarter != self._settled_up_to:
                self._settled_up_to = quarter  # a quarter hour ended: settle it
                await self._settle()
        except HistoryError as exc:
            raise SinkError(str(exc)) from None

    async def _settle(self) -> None:
        assert self.store is not None and self.ledger is not None
        await asyncio.to_thread(self.ledger.settle, self.store,
                                datetime.now(self.ledger.tz))

    async def _fetch_prices(self) -> None:
        assert self.prices is not None and self.ledger is not None and self.store is not None
        while True:
            try:
                prices = await asyncio.to_thread(load, self.prices, self.price_format,
                                                 self.ledger.tz)
                await asyncio.to_thread(self.store.add_prices, prices)
            except (PriceError, HistoryError) as exc:
                if self.price_error != str(exc):
                    log.warning(_("tariff: no spot prices (%s); costs wait for them, trying "
                                  "again in %d min"), exc, _PRICES_RETRY // 60)
                self.price_error = str(exc)
                await asyncio.sleep(_PRICES_RETRY)
                continue
            if self.price_error is not None or not self._prices_ok:
                log.info(_("tariff: %d spot prices up to %s"), len(prices),
                         datetime.fromtimestamp(max((p.end for p in prices), default=0),
                                                self.ledger.tz).isoformat(timespec="minutes"))
            self.price_error, self._prices_ok = None, True
            await self._settle()
            await asyncio.sleep(_PRICES_EVERY)

    async def close(self) -> None:
        if self._price_task is not None:
            self._price_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._price_task
        if self.store is not None:
            self.store.close()
