"""Readings as they travel on MQTT (the JSON contract) into rows of the per-value table, and
those rows into the text form of PostgreSQL's COPY.

No I/O; the contract's ISO times go to PostgreSQL as they came (``timestamptz`` reads them,
offsets included), which keeps a collector's CPU for the messages. A payload that is not a
reading is reported (``NotAReading``), never raised as anything else: one bad publisher must
not stop the collector, and the broker would hand the same message to every restart. So the
size and the nesting depth are checked before any parsing, and every row that comes out is
one PostgreSQL takes: a time of the form it reads, within the years the fleet answers for,
texts of bounded length without NUL or lone surrogates, finite numbers.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["EARLIEST", "LATEST", "MAX_BYTES", "MAX_DEPTH", "MAX_NAME", "MAX_UNIT",
           "NotAReading", "Row", "copy_text", "fits", "parse_reading", "rows_of"]

#: a reading of the contract is 1 to 5 kB; a collector takes none beyond this
MAX_BYTES = 64 * 1024
#: the contract nests three deep (reading, values, value); anything far deeper is no reading
MAX_DEPTH = 16
#: characters of a meter's or a value's name ([meter] name in the config keeps the same)
MAX_NAME = 64
MAX_UNIT = 16  # the longest base unit is four characters ("varh")
#: the readings' times the fleet keeps and answers for (UTC): a meter's clock, however wrong,
#: and a day's or a month's arithmetic in any time zone stay far from datetime's limits
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


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
    reading = _json_object(payload)
    time = reading.get("time") or reading.get("received")
    values = reading.get("values")
    if not isinstance(time, str) or not isinstance(values, dict):
        raise NotAReading("no time or no values")
    problem = _time_problem(time)
    if problem:
        raise NotAReading(f"time {time[:40]!r} {problem}")
    meter = _meter(reading.get("meter"), topic_meter)
    counter = reading.get("frame_counter")
    if isinstance(counter, bool) or not isinstance(counter, int) or not _BIGINT[0] <= counter \
            <= _BIGINT[1]:
        counter = None
    rows = []
    for obis, measurement in values.items():
        if not isinstance(measurement, dict):
            raise NotAReading(f"value {obis[:40]!r} is not an object")
        value = measurement.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # texts (meter number, clock) have no place in a table of numbers
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any double
            continue
        if not math.isfinite(number):
            continue
        name, unit = measurement.get("name"), measurement.get("unit")
        name = name if isinstance(name, str) and name else obis
        unit = unit if isinstance(unit, str) else None
        if (obis, name, unit) not in _CHECKED:
            _check_code(obis, name, unit)
        rows.append(Row(time, meter, obis, name, number, unit, counter))
    received = reading.get("received")
    return rows, received if isinstance(received, str) and not _time_problem(received) else None


def fits(text: str, limit: int) -> bool:
    """Whether PostgreSQL's ``text`` takes ``text`` and it is at most ``limit`` characters:
    no NUL, no lone surrogate (JSON's ``\\ud800`` has no UTF-8 form)."""
    if len(text) > limit or "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_object(payload: bytes | str) -> dict[str, Any]:
    """The payload as a JSON object: its size and depth checked before it is parsed (the
    parser recurses, and the broker would bring a message that crashed us again and again)."""
    if isinstance(payload, str):
        if len(payload) > MAX_BYTES:
            raise NotAReading(f"{len(payload):,} characters, more than a reading's {MAX_BYTES:,}")
        try:
            payload = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise NotAReading("not JSON in UTF-8 (a lone surrogate)") from None
    if len(payload) > MAX_BYTES:
        raise NotAReading(f"{len(payload):,} bytes, more than a reading's {MAX_BYTES:,}")
    if _too_deep(payload):
        raise NotAReading(f"nested deeper than {MAX_DEPTH} (or brackets that do not pair)")
    try:
        reading = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotAReading(f"not JSON in UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:  # _too_deep lets none through: the parser's own limit, to be sure
        raise NotAReading(f"nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:  # JSONDecodeError, and int()'s limit of 4300 digits
        raise NotAReading(f"not JSON ({str(exc)[:100]})") from None
    if not isinstance(reading, dict):
        raise NotAReading("not a JSON object")
    return reading


def _too_deep(payload: bytes) -> bool:
    """Whether the brackets outside strings nest deeper than ``MAX_DEPTH``, without recursion
    and in C-speed steps: a reading with few objects passes on a count alone; otherwise the
    brackets outside strings (quotes pair up when no backslash escapes one) are peeled off a
    level at a time."""
    marks = payload.translate(None, _NOT_MARKS)
    if marks.count(b"{") + marks.count(b"[") <= MAX_DEPTH:
        return False
    if b"\\" in marks:  # escapes: strings found by a pattern instead (rare in readings)
        marks = _STRING.sub(b"", payload).translate(None, _NOT_MARKS)
    # two quotes side by side change no bracket's side of a string: most strings go at once
    marks = marks.replace(b'""', b"")
    if b'"' in marks:  # texts that hold brackets
        marks = b"".join(marks.split(b'"')[::2])
    # one kind of bracket: a pass then peels exactly one level (peeling "{}" and "[]" one
    # after the other took two where a list was the only thing in an object)
    brackets = marks.translate(_ONE_KIND)
    for _level in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"{}", b"")
    return bool(brackets)


def _time_problem(text: str) -> str | None:
    """Why PostgreSQL or the fleet could not take this time, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return "is not ISO 8601"
    if moment.tzinfo is None:
        return "has no UTC offset"
    if not _TIME.fullmatch(text):
        return "is not of the form 2026-11-30T10:00:00+01:00"
    try:
        stamp = moment.timestamp()
    except (OverflowError, ValueError):  # an offset that moves it off the calendar
        stamp = -math.inf
    if not _EARLIEST <= stamp < _LATEST:
        return f"is not between {EARLIEST.year} and {LATEST.year - 1}"
    return None


def _meter(info: Any, topic_meter: str) -> str:
    """The meter's name as ``Reading.meter_key`` has it, else the topic's meter part."""
    meter = ""
    if isinstance(info, dict):
        for key in ("name", "id", "system_title"):
            candidate = info.get(key)
            if isinstance(candidate, str) and candidate:
                meter = candidate
                break
    meter = meter or topic_meter or "meter"
    if not fits(meter, MAX_NAME):
        raise NotAReading(f"meter {meter[:40]!r} is no name: at most {MAX_NAME} characters, "
                          "UTF-8, no NUL")
    return meter


def _check_code(obis: str, name: str, unit: str | None) -> None:
    """A value's code, name and unit as the readers write them; remembered once right."""
    if not _OBIS.fullmatch(obis):
        raise NotAReading(f"value {obis[:40]!r}: not an OBIS code like 1.0.1.8.0.255")
    if not fits(name, MAX_NAME):
        raise NotAReading(f"value {obis}: {name[:40]!r} is no name: at most {MAX_NAME} "
                          "characters, UTF-8, no NUL")
    if unit is not None and not fits(unit, MAX_UNIT):
        raise NotAReading(f"value {obis}: {unit[:40]!r} is no unit: at most {MAX_UNIT} "
                          "characters, UTF-8, no NUL")
    if len(_CHECKED) >= 10_000:  # readers use a few dozen; a publisher inventing more
        _CHECKED.clear()
    _CHECKED.add((obis, name, unit))


_OBIS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){5}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
                   r"(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})")
_EARLIEST, _LATEST = EARLIEST.timestamp(), LATEST.timestamp()
_CHECKED: set[tuple[str, str, str | None]] = set()
_NOT_MARKS = bytes(byte for byte in range(256) if byte not in b'"[]{}\\')
_ONE_KIND = bytes.maketrans(b"[]", b"{}")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
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
