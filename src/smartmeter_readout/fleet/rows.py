"""Readings as they travel on MQTT (the JSON contract) into rows of the per-value table, and
those rows into the text form of PostgreSQL's COPY.

No I/O and no datetime parsing: the contract's ISO times go to PostgreSQL as they came
(``timestamptz`` reads them, offsets included), which keeps a collector's CPU for the
messages. A payload that is not a reading is reported, not raised: one bad publisher must
not stop the collector.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["NotAReading", "Row", "copy_text", "parse_reading", "rows_of"]


class NotAReading(ValueError):
    """The payload is not a reading of the contract (ARCHITECTURE.md)."""


class Row(NamedTuple):
    time: str  # ISO 8601 with offset, as the reading had it
    meter: str
    obis: str
    name: str
    value: float
    unit: str | None
    frame_counter: int | None


def rows_of(payload: bytes | str, topic_meter: str = "") -> list[Row]:
    """The numeric values of one reading; the meter is its name in the reader's config, else
    its number, else its system title, else the topic's meter part (what the reader's own
    PostgreSQL output would write: ``Reading.meter_key``)."""
    return parse_reading(payload, topic_meter)[0]


def parse_reading(payload: bytes | str, topic_meter: str = "") -> tuple[list[Row], str | None]:
    """The rows, and when the reader received the push (ISO; for the end-to-end delay)."""
    try:
        reading = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAReading(f"not JSON ({exc})") from None
    if not isinstance(reading, dict):
        raise NotAReading("not a JSON object")
    time = reading.get("time") or reading.get("received")
    values = reading.get("values")
    if not isinstance(time, str) or not isinstance(values, dict):
        raise NotAReading("no time or no values")
    try:  # checked here, passed on as text: one bad time must not fail a whole batch
        offset = datetime.fromisoformat(time).tzinfo
    except ValueError:
        raise NotAReading(f"time {time[:40]!r} is not ISO 8601") from None
    if offset is None:
        raise NotAReading(f"time {time[:40]!r} has no UTC offset")
    meter_info = reading.get("meter")
    meter: Any = None
    if isinstance(meter_info, dict):
        meter = meter_info.get("name") or meter_info.get("id") or meter_info.get("system_title")
    meter = str(meter or topic_meter or "meter")
    counter = reading.get("frame_counter")
    if isinstance(counter, bool) or not isinstance(counter, int) or not _BIGINT[0] <= counter \
            <= _BIGINT[1]:
        counter = None
    rows = []
    for obis, measurement in values.items():
        if not isinstance(measurement, dict):
            raise NotAReading(f"value {obis!r} is not an object")
        value = measurement.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # texts (meter number, clock) have no place in a table of numbers
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any double
            continue
        if not math.isfinite(number):
            continue
        unit = measurement.get("unit")
        rows.append(Row(time, meter, str(obis), str(measurement.get("name") or obis), number,
                        unit if isinstance(unit, str) else None, counter))
    if any("\x00" in text for row in rows[:1] for text in (row.meter, row.time)) or any(
            "\x00" in row.obis or "\x00" in row.name or "\x00" in (row.unit or "")
            for row in rows):
        raise NotAReading("a text holds a NUL character (PostgreSQL text cannot)")
    received = reading.get("received")
    return rows, received if isinstance(received, str) else None


_BIGINT = (-(1 << 63), (1 << 63) - 1)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_NULL = "\\N"


def _text(value: str | None) -> str:
    if value is None:
        return _NULL
    # translate() maps character by character in Python terms: a third of a collector's
    # time went there; the substring tests run in C and nearly always find nothing
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_text(rows: list[Row]) -> bytes:
    """The rows in COPY's text format (tab-separated, ``\\N`` for NULL, escapes).

    The rows of one reading share time, meter and frame counter, and every reading has the
    same few codes, names and units: each is escaped once, not once per row."""
    lines = []
    value_part: dict[tuple[str, str, str | None], tuple[str, str]] = {}
    shared: tuple[str, str, int | None] | None = None
    head = tail = ""
    for row in rows:
        if (row.time, row.meter, row.frame_counter) != shared:
            shared = (row.time, row.meter, row.frame_counter)
            head = f"{_text(row.time)}\t{_text(row.meter)}\t"
            tail = f"\t{_NULL if row.frame_counter is None else row.frame_counter}\n"
        parts = value_part.get((row.obis, row.name, row.unit))
        if parts is None:
            parts = value_part[row.obis, row.name, row.unit] = (
                f"{_text(row.obis)}\t{_text(row.name)}\t", f"\t{_text(row.unit)}")
        lines.append(f"{head}{parts[0]}{row.value!r}{parts[1]}{tail}")
    return "".join(lines).encode("utf-8")
