"""What energy costs and earns: the household's tariff, from ``[tariff]``.

The energy price per kWh is one of: a fixed ``energy_price``; a time-of-use table
(``time_of_use``: weekdays, a time range, a price; the first that matches wins, else
``energy_price``); or the spot price (``dynamic_prices``) times ``dynamic_factor`` plus
``dynamic_markup``. On top of it come ``grid_price`` per kWh (grid usage and levies), a
monthly ``base_fee`` and, where the operator charges one, ``peak_price`` per kW of the
month's highest quarter hour. Export earns ``feed_in_price`` per kWh, or the spot price
(``feed_in_spot``) times ``feed_in_factor`` plus ``feed_in_markup``. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, NamedTuple

from ..i18n import _

__all__ = ["QuarterRates", "Tariff", "TariffError", "TimeBand", "decimal_comma_hint"]

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GERMAN_DAYS = ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag",
                "sonntag")


class TariffError(ValueError):
    """A tariff setting that cannot work; the message names it and what would."""


@dataclass(frozen=True, slots=True)
class TimeBand:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # 00:00: to midnight
    price: float

    def covers(self, moment: datetime) -> bool:
        if moment.weekday() not in self.days:
            return False
        clock = moment.time().replace(tzinfo=None)
        if self.end == time(0) or self.end <= self.start:  # to or across midnight
            return clock >= self.start or (self.end != time(0) and clock < self.end)
        return self.start <= clock < self.end


class QuarterRates(NamedTuple):
    energy: float | None  # per kWh imported (without grid); None: no price known yet
    grid: float
    feed_in: float | None  # per kWh exported


@dataclass(frozen=True, slots=True)
class Tariff:
    currency: str = "EUR"
    energy_price: float | None = None
    bands: tuple[TimeBand, ...] = ()
    dynamic: bool = False
    dynamic_factor: float = 1.0
    dynamic_markup: float = 0.0
    grid_price: float = 0.0
    peak_price: float = 0.0
    base_fee: float = 0.0
    feed_in_price: float = 0.0
    feed_in_spot: bool = False
    feed_in_factor: float = 1.0
    feed_in_markup: float = 0.0

    @property
    def needs_spot(self) -> bool:
        return self.dynamic or self.feed_in_spot

    def rates(self, local_start: datetime, spot: float | None) -> QuarterRates:
        """The prices of the quarter hour beginning at ``local_start`` (meter's local time)."""
        if self.dynamic:
            energy = None if spot is None else spot * self.dynamic_factor + self.dynamic_markup
        else:
            energy = next((band.price for band in self.bands if band.covers(local_start)),
                          self.energy_price)
        if self.feed_in_spot:
            feed_in = None if spot is None else spot * self.feed_in_factor + self.feed_in_markup
        else:
            feed_in = self.feed_in_price
        return QuarterRates(energy, self.grid_price, feed_in)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Tariff:
        """From the validated ``[tariff]`` section; TariffError for a time-of-use table that
        does not parse."""
        bands = tuple(_band(entry, number)
                      for number, entry in enumerate(section.get("time_of_use") or (), 1))
        return cls(
            currency=str(section.get("currency") or "EUR"),
            energy_price=section.get("energy_price"),
            bands=bands,
            # spot prices set the energy price unless a fixed price or a table is given
            # (then they are there for feed_in_spot)
            dynamic=bool(section.get("dynamic_prices")) and not bands
            and section.get("energy_price") is None,
            dynamic_factor=float(section.get("dynamic_factor", 1.0)),
            dynamic_markup=float(section.get("dynamic_markup", 0.0)),
            grid_price=float(section.get("grid_price", 0.0)),
            peak_price=float(section.get("peak_price", 0.0)),
            base_fee=float(section.get("base_fee", 0.0)),
            feed_in_price=float(section.get("feed_in_price", 0.0)),
            feed_in_spot=bool(section.get("feed_in_spot", False)),
            feed_in_factor=float(section.get("feed_in_factor", 1.0)),
            feed_in_markup=float(section.get("feed_in_markup", 0.0)),
        )


def _band(entry: Any, number: int) -> TimeBand:
    where = _("[tariff] time_of_use entry {number}", number=number)
    if not isinstance(entry, Mapping):
        raise TariffError(_("{where} is not a table: write {{days = \"Mon-Fri\", from = "
                            "\"06:00\", to = \"22:00\", price = 0.28}}", where=where))
    unknown = set(entry) - {"days", "from", "to", "price"}
    if unknown:
        raise TariffError(_("{where}: unknown key {key!r}; use days, from, to, price",
                            where=where, key=sorted(unknown)[0]))
    price = entry.get("price")
    if not isinstance(price, int | float) or isinstance(price, bool) or \
            not math.isfinite(price):
        raise TariffError(_("{where}: price = {price!r} is not a number (per kWh)",
                            where=where, price=price) + decimal_comma_hint(price))
    return TimeBand(_days(str(entry.get("days", "Mon-Sun")), where),
                    _clock(entry.get("from", "00:00"), where, "from"),
                    _clock(entry.get("to", "00:00"), where, "to"), float(price))


def _days(text: str, where: str) -> frozenset[int]:
    days: set[int] = set()
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) > 2:
            raise TariffError(_("{where}: days {text!r}: write e.g. \"Mon-Fri\" or "
                                "\"Sat,Sun\"", where=where, text=text))
        first, last = _day(ends[0], where, text), _day(ends[-1], where, text)
        span = range(first, last + 1) if first <= last else [*range(first, 7),
                                                               *range(0, last + 1)]
        days.update(span)
    if not days:
        raise TariffError(_("{where}: days {text!r} names no day", where=where, text=text))
    return frozenset(days)


def _day(word: str, where: str, text: str) -> int:
    """A weekday by its name or an abbreviation of two letters or more, English or German."""
    found = {index for names in (_DAYS, _GERMAN_DAYS) for index, name in enumerate(names)
             if len(word) >= 2 and name.startswith(word)}
    if len(found) != 1:
        raise TariffError(_("{where}: days {text!r}: {word!r} is no weekday (Mon, Tue, …, "
                            "Sun or Mo, Di, …, So)", where=where, text=text, word=word))
    return found.pop()


def _clock(value: Any, where: str, key: str) -> time:
    text = str(value)
    if text in ("24:00", "24:00:00"):
        return time(0)
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise TariffError(_("{where}: {key} = {value!r} is not a time like \"06:00\"",
                            where=where, key=key, value=value)) from None


_DECIMAL_COMMA = re.compile(r"\s*\"?\s*(-?[0-9]+),([0-9]+)\s*\"?\s*(#.*)?")


def decimal_comma_hint(value: object, quoted: bool = True) -> str:
    """The hint for a number written the German way (``0,25``, as text or bare in TOML)."""
    found = _DECIMAL_COMMA.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return ""
    number = f"{found.group(1)}.{found.group(2)}"
    if not quoted:
        return _(": write {number} (with a decimal point)", number=number)
    return _(": write {number} (a decimal point, no quotes)", number=number)
