"""Spot prices for dynamic tariffs: parsed from what households get them as, looked up by time.

Formats (all turned into a price per kWh in the tariff's currency):

- ``csv``: a header with ``start`` and ``price`` (and optionally ``end``), one row per hour
  or quarter hour; ``start`` in ISO 8601 (without offset: the meter's time zone), ``price``
  per kWh. Without ``end`` an interval lasts until the next one starts.
- ``awattar``: ``https://api.awattar.at/v1/marketdata`` (``data[].start_timestamp``,
  ``end_timestamp`` in ms, ``marketprice`` with ``unit`` ``Eur/MWh``).
- ``smartenergy``: ``https://apis.smartenergy.at/market/v1/price`` (``interval`` in minutes,
  ``data[].date`` ISO 8601, ``value`` with ``unit`` ``ct/kWh``).

``auto`` tells them apart by their content. Whether a source's prices include VAT differs
between sources (and, for smartENERGY, between readers of its documentation), so the tariff
applies a factor and a markup of its own (``[tariff] dynamic_factor``, ``dynamic_markup``).
Parsing is pure; ``fetch`` is the one function here that touches the network.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from ..i18n import _

__all__ = ["FORMATS", "Price", "PriceError", "PriceSeries", "fetch", "load", "parse_prices"]

FORMATS = ("auto", "csv", "awattar", "smartenergy")
_TO_KWH = {"eur/mwh": 1e-3, "ct/kwh": 1e-2, "eur/kwh": 1.0, "€/kwh": 1.0, "€/mwh": 1e-3,
           "cent/kwh": 1e-2}
_TIMEOUT = 15.0
_MAX_BYTES = 4 << 20


class PriceError(Exception):
    """Prices that cannot be read; the message says what is wrong with them."""


class Price(NamedTuple):
    start: int  # Unix seconds
    end: int
    price: float  # per kWh


class PriceSeries:
    """Prices by time: which one applies to a moment (None where none is known)."""

    def __init__(self, prices: Iterable[Price]) -> None:
        self.prices = sorted(prices)
        self._starts = [price.start for price in self.prices]

    def at(self, moment: float) -> float | None:
        index = bisect.bisect_right(self._starts, moment) - 1
        if index >= 0 and moment < self.prices[index].end:
            return self.prices[index].price
        return None

    def __len__(self) -> int:
        return len(self.prices)


def parse_prices(text: str, fmt: str = "auto", tz: tzinfo | None = None) -> list[Price]:
    """Prices per kWh from a price source's text; PriceError names what does not fit."""
    if fmt not in FORMATS:
        raise PriceError(_("price format {format!r}: use one of {valid}", format=fmt,
                           valid=", ".join(FORMATS)))
    stripped = text.lstrip()
    if fmt == "auto":
        if not stripped.startswith(("{", "[")):
            fmt = "csv"
        else:
            data = _json(text)
            fmt = "awattar" if (isinstance(data, dict) and data.get("object") == "list") or (
                isinstance(data, dict) and _first(data).get("start_timestamp") is not None
            ) else "smartenergy"
    if fmt == "csv":
        return _csv(text, tz)
    data = _json(text)
    return _awattar(data) if fmt == "awattar" else _smartenergy(data)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceError(_("the prices are not valid JSON ({reason} at line {line})",
                           reason=exc.msg, line=exc.lineno)) from None


def _first(data: dict[str, Any]) -> dict[str, Any]:
    rows = data.get("data")
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}


def _factor(unit: object) -> float:
    factor = _TO_KWH.get(str(unit).replace(" ", "").lower())
    if factor is None:
        raise PriceError(_("price unit {unit!r} is not known: expected one of {valid}",
                           unit=unit, valid=", ".join(sorted(_TO_KWH))))
    return factor


def _awattar(data: Any) -> list[Price]:
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise PriceError(_("aWATTar prices need a 'data' list"))
    prices = []
    for row in rows:
        try:
            factor = _factor(row.get("unit", "Eur/MWh"))
            prices.append(Price(int(row["start_timestamp"]) // 1000,
                                int(row["end_timestamp"]) // 1000,
                                float(row["marketprice"]) * factor))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PriceError(_("aWATTar price row {row!r} lacks start_timestamp, "
                               "end_timestamp or marketprice", row=row)) from None
    return prices


def _smartenergy(data: Any) -> list[Price]:
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise PriceError(_("smartENERGY prices need a 'data' list"))
    factor = _factor(data.get("unit", "ct/kWh"))
    try:
        minutes = int(data.get("interval", 15))
    except (TypeError, ValueError):
        raise PriceError(_("smartENERGY interval {interval!r} is not minutes",
                           interval=data.get("interval"))) from None
    prices = []
    for row in rows:
        try:
            start = int(datetime.fromisoformat(str(row["date"])).timestamp())
            prices.append(Price(start, start + 60 * minutes, float(row["value"]) * factor))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PriceError(_("smartENERGY price row {row!r} lacks an ISO date or a value",
                               row=row)) from None
    return prices


def _csv(text: str, tz: tzinfo | None) -> list[Price]:
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or not {"start", "price"} <= set(rows[0]):
        raise PriceError(_("a price CSV needs a header with 'start' and 'price' (and "
                           "optionally 'end'): start as ISO 8601, price per kWh"))
    starts_ends: list[tuple[int, int | None, float]] = []
    for number, row in enumerate(rows, start=2):
        try:
            start = _moment(row["start"], tz)
            end = _moment(row["end"], tz) if row.get("end") else None
            price = float(row["price"].replace(",", "."))
        except (ValueError, AttributeError):
            raise PriceError(_("price CSV line {number}: {row!r} is not an ISO time and a "
                               "price per kWh", number=number, row=row)) from None
        starts_ends.append((start, end, price))
    starts_ends.sort()
    prices = []
    for index, (start, given_end, price) in enumerate(starts_ends):
        if given_end is not None:
            end = given_end
        elif index + 1 < len(starts_ends):
            end = starts_ends[index + 1][0]
        else:  # the last row lasts as long as the one before it
            end = start + (start - starts_ends[index - 1][0] if index else 3600)
        prices.append(Price(start, end, price))
    return prices


def _moment(text: str, tz: tzinfo | None) -> int:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        if tz is None:
            raise ValueError("no time zone")
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp())


def load(source: str, fmt: str = "auto", tz: tzinfo | None = None) -> list[Price]:
    """Prices from ``[tariff] dynamic_prices``: a URL, or a file (read again each time)."""
    if "://" in source:
        return fetch(source, fmt, tz)
    try:
        text = Path(source).expanduser().read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PriceError(_("cannot read the price file {source}: {reason}", source=source,
                           reason=exc.strerror)) from None
    except UnicodeDecodeError:
        raise PriceError(_("the price file {source} is not text in UTF-8",
                           source=source)) from None
    return parse_prices(text, fmt, tz)


def fetch(url: str, fmt: str = "auto", tz: tzinfo | None = None) -> list[Price]:
    """Prices from a URL (http, https or file); PriceError says why none came."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as answer:
            body = answer.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PriceError(_("the price source answered HTTP {code} ({reason})", code=exc.code,
                           reason=exc.reason)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PriceError(_("the price source cannot be reached ({reason})",
                           reason=reason)) from None
    if len(body) > _MAX_BYTES:
        raise PriceError(_("the price source sent more than {size} MB", size=_MAX_BYTES >> 20))
    return parse_prices(body.decode("utf-8", "replace"), fmt, tz)
