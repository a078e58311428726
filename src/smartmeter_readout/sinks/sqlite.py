"""The SQLite history as an output of the service: a thin adapter over ``history.store``.

Writes run off the event loop; the store's errors become ``SinkError`` so the service retries
them like any output's; raw readings older than ``keep_raw_days`` are pruned once an hour.
A counter that goes back (a meter replaced) is logged once as it is stored. With a tariff,
each quarter hour is settled (``history.costs``) once it has ended, and the spot prices
of a dynamic tariff are fetched at start and every hour into the database.

Nothing read is lost in a stop: what the service could not write before it stopped is handed to
``spill`` (a file beside the database, with space held back for it) and stored by the next
``start`` before anything new. Damage found while running (a write or the page's read says
the file is malformed, or the hourly quick check) is the output's ``fault``: a warning in the
log and the status until a restart sets the file aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..cosem.obis import obis_info, parse_obis
from ..history.costs import CostLedger
from ..history.prices import PriceError, load
from ..history.query import HistoryError
from ..history.spill import Spill
from ..history.store import HistoryStore
from ..i18n import _
from ..masking import printable
from ..reading import Reading
from .base import SinkBase, SinkError
from .formats import decimal, human, label

__all__ = ["SqliteSink"]

_PRICES_EVERY = 3600.0
_PRICES_RETRY = 900.0
log = logging.getLogger("smartmeter_readout")


_CHECK_EVERY = 3600.0
#: what SQLite says of a file that is damaged (not full, locked or read-only)
_DAMAGE = ("malformed", "not a database", "corrupt")


def is_damage(reason: str) -> bool:
    return any(word in reason for word in _DAMAGE)


class SqliteSink(SinkBase):
    durable = False
    #: the network outputs get a reading once the history has it (``service``)
    history = True

    def __init__(self, path: str | Path, keep_raw_days: float = 90, *,
                 ledger: CostLedger | None = None, prices: str | None = None,
                 price_format: str = "auto") -> None:
        self.name = "sqlite"
        self.path = Path(path)
        self.keep_raw_days = keep_raw_days
        self.ledger, self.prices, self.price_format = ledger, prices, price_format
        self.store: HistoryStore | None = None
        self.resets = 0  # counter drops written since the start: the page reads them anew
        self._pruned = 0.0
        self._settled_up_to = 0  # the quarter hour the ledger last looked at
        self._price_task: asyncio.Task[None] | None = None
        self.price_error: str | None = None
        self._prices_ok = False
        self.spill_file = Spill(self.path.with_name(self.path.name + ".spill"))
        self._earlier: list[Reading] = []  # what the last stop spilled, until stored
        #: damage found while running: the output is down with this reason until a restart
        self.fault = ""
        self._checked = time.monotonic()

    async def start(self) -> None:
        try:
            self.store = await asyncio.to_thread(HistoryStore, self.path)
        except HistoryError as exc:
            raise SinkError(str(exc)) from None
        for note in self.store.notes:
            log.warning(_("sqlite: %s"), note)
        spilled = await asyncio.to_thread(self.spill_file.load)
        if spilled:
            self._earlier = await asyncio.to_thread(self.store.missing,
                                                    [reading for _names, reading in spilled])
            log.info(_("sqlite: %d readings kept at the last stop are stored first"),
                     len(self._earlier))
        await asyncio.to_thread(self._hold)
        if self.prices and self.ledger is not None:
            self._price_task = asyncio.create_task(self._fetch_prices(), name="spot prices")

    def _hold(self) -> None:
        """Space for a spill, where the disk has room for it and more (the history first)."""
        if not self.spill_file.reserve_path.exists():
            self.spill_file.hold()

    def spill(self, readings: Sequence[Reading]) -> int:
        """Keep ``readings``, not written at a stop, for the next start; how many were kept."""
        return self.spill_file.save([(("sqlite",), reading) for reading in readings])

    def damaged(self, reason: str) -> None:
        """The file is damaged (seen by a read or the check): a warning once, and the
        output's state until a restart sets the file aside."""
        if self.fault:
            return
        reason = reason.rpartition(": ")[2] or reason  # SQLite's words, not our preamble
        self.fault = _("the database {path} is damaged ({reason}): restart the service to "
                       "set it aside and start a fresh one").format(path=self.path,
                                                                     reason=reason)
        log.warning(_("sqlite: %s"), self.fault)

    async def write(self, readings: Sequence[Reading]) -> None:
        assert self.store is not None
        earlier = len(self._earlier)
        if earlier:
            readings = [*self._earlier, *readings]
        try:
            resets = await asyncio.to_thread(self.store.write, readings)
            if earlier:
                self._earlier = []
                await asyncio.to_thread(self.spill_file.clear)
                await asyncio.to_thread(self._hold)
            self.resets += len(resets)
            for reset in resets:  # once each: the store keeps them (counter_resets)
                log.warning(_("sqlite: the counter %s (%s) of meter %s went back from %s to "
                              "%s at %s: a new series starts there, nothing is subtracted "
                              "(a meter replaced or reset?)"), label(reset.name), reset.obis,
                            printable(reset.meter), _counter(reset.before, reset.obis),
                            _counter(reset.after, reset.obis),
                            datetime.fromtimestamp(reset.time).astimezone().isoformat(
                                sep=" ", timespec="seconds"))
            if self.keep_raw_days and time.monotonic() - self._pruned > 3600:
                self._pruned = time.monotonic()
                await asyncio.to_thread(self.store.prune, self.keep_raw_days)
                await asyncio.to_thread(self._hold)  # the disk may have room again
            if time.monotonic() - self._checked > _CHECK_EVERY:
                self._checked = time.monotonic()
                await self.check()
            quarter = int(time.time()) // 900
            if self.ledger is not None and quarter != self._settled_up_to:
                self._settled_up_to = quarter  # a quarter hour ended: settle it
                await self._settle()
        except HistoryError as exc:
            if is_damage(str(exc)):
                self.damaged(str(exc))
            raise SinkError(str(exc)) from None

    async def check(self) -> None:
        """SQLite's quick check on a connection of its own (the writes go on meanwhile)."""
        def quick_check() -> str:
            try:
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            except sqlite3.Error as exc:
                return "" if not is_damage(str(exc)) else str(exc)
            try:
                found = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                return "" if found == "ok" else str(found)
            except sqlite3.Error as exc:
                return str(exc) if is_damage(str(exc)) else ""
            finally:
                db.close()

        found = await asyncio.to_thread(quick_check)
        if found:
            self.damaged(found)

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


def _counter(value: float, obis: str) -> str:
    """A counter as the tables show it: 4321,000 kWh (in its registry unit's kilo)."""
    shown, unit = human(value, obis_info(parse_obis(obis))[1])
    return f"{decimal(shown)} {unit}"
