"""Readings on standard output, as ``read`` prints them (for running in the foreground)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import TextIO

from ..reading import MeterIdentity, Reading
from .base import SinkBase
from .formats import Printer

__all__ = ["ConsoleSink", "JsonLines"]

_MAX_PARTS = 4096  # value codes remembered (a meter sends a few dozen)


class ConsoleSink(SinkBase):
    durable = False

    def __init__(self, fmt: str = "table", stream: TextIO | None = None) -> None:
        self.name = "console"
        self.format = fmt
        self.stream = stream or sys.stdout
        self._printer = Printer(fmt, self.stream)
        self._lines = JsonLines() if fmt == "jsonl" else None

    async def start(self) -> None:
        pass

    async def write(self, readings: Sequence[Reading]) -> None:
        lines = self._lines
        for reading in readings:
            if lines is not None:
                self.stream.write(lines.line(reading))
            else:
                self._printer.print(reading)
        self.stream.flush()

    async def close(self) -> None:
        pass


class JsonLines:
    """``json.dumps(reading.to_dict(), ensure_ascii=False) + "\\n"``, byte for byte, from
    parts written once: the meter's object while it stays the same, and per value code the
    text around its value. A live reader prints a line per push; ``to_dict`` and the
    encoder's walk over 16 nested dicts cost more than decoding the push
    (benchmarks/bench_footprint.py)."""

    __slots__ = ("_meter", "_parts")

    def __init__(self) -> None:
        self._meter: tuple[MeterIdentity | None, str] = (None, "")
        self._parts: dict[tuple[str, str, str | None], tuple[str, str]] = {}

    def line(self, reading: Reading) -> str:
        meter, meter_text = self._meter
        if reading.meter is not meter and reading.meter != meter:
            meter_text = json.dumps(reading.meter.to_dict(), ensure_ascii=False)
            self._meter = (reading.meter, meter_text)
        parts = self._parts
        values = []
        for key, (name, value, unit) in reading.values.items():
            around = parts.get((key, name, unit))
            if around is None:
                if len(parts) >= _MAX_PARTS:
                    parts.clear()
                around = parts[(key, name, unit)] = (
                    f"{encode_basestring(key)}: {{\"name\": {encode_basestring(name)}, "
                    "\"value\": ", f", \"unit\": {_text(unit)}}}")
            # json.dumps's text of the common values, without a call (finite floats only)
            if type(value) is int or (type(value) is float and value - value == 0):
                values.append(f"{around[0]}{value!r}{around[1]}")
            else:
                values.append(f"{around[0]}{_value(value)}{around[1]}")
        time, received = reading.time, reading.received
        time_text = _text(time.isoformat()) if time is not None else "null"
        received_text = (_text(received.isoformat(timespec="milliseconds"))
                         if received is not None else "null")
        return (
            f"{{\"time\": {time_text}, \"received\": {received_text}, "
            f"\"meter\": {meter_text}, "
            f"\"frame_counter\": {_value(reading.frame_counter)}, "
            f"\"values\": {{{', '.join(values)}}}}}\n")


def _text(text: str | None) -> str:
    return "null" if text is None else encode_basestring(text)


def _value(value: object) -> str:
    """A value as ``json.dumps`` writes it."""
    if type(value) is int:  # not bool: json writes true and false
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):  # json writes NaN and Infinity
        return float.__repr__(value)
    if type(value) is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)
