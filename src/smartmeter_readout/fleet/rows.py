"""Readings as they travel on MQTT (the JSON contract) into rows of the per-value table, and
those rows into PostgreSQL's COPY, binary (what a collector sends) or text.

No I/O. A payload is parsed by msgspec into the few fields a row needs (the rest of the
reading is skipped unbuilt); whatever msgspec will not take (NaN, a value that is no object,
a lone surrogate, ...) is parsed again by the standard library's ``json``, whose reading of
it decides, so both parsers give the same rows. Each distinct time is checked and turned
into microseconds once (the readings of one second share it). A payload that is not a
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
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from math import isfinite
from typing import Any, NamedTuple, cast

import msgspec

__all__ = ["EARLIEST", "LATEST", "MAX_BYTES", "MAX_DEPTH", "MAX_NAME", "MAX_UNIT",
           "NotAReading", "Row", "copy_binary", "copy_binary_of", "copy_text", "fits", "micros",
           "parse_reading", "read_reading", "rows_of"]

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


def rows_of(payload: bytes | bytearray | str, topic_meter: str = "") -> list[Row]:
    """The numeric values of one reading; the meter is its name in the reader's config, else
    its number, else its system title, else the topic's meter part (what the reader's own
    PostgreSQL output would write: ``Reading.meter_key``)."""
    return parse_reading(payload, topic_meter)[0]


def parse_reading(payload: bytes | bytearray | str,
                  topic_meter: str = "") -> tuple[list[Row], str | None]:
    """The rows, and when the reader received the push (ISO; for the end-to-end delay)."""
    rows, received, _copied = read_reading(payload, topic_meter)
    return rows, received


def read_reading(payload: bytes | bytearray | str,
                 topic_meter: str = "") -> tuple[list[Row], str | None, bytes]:
    """``parse_reading``, and the rows in COPY's binary format without its header and
    trailer (``copy_binary``: the collector joins them), made in the same pass."""
    data = _checked(payload)
    try:
        reading = _decode(data)
    except (msgspec.DecodeError, RecursionError):  # odd, or no reading: json decides
        reading = _from_dict(_json_object(data))
    time = reading.time or reading.received
    values = reading.values
    if not isinstance(time, str) or not isinstance(values, dict):
        raise NotAReading("no time or no values")
    if time not in _MICROS:
        problem = _time_problem(time)
        if problem:
            raise NotAReading(f"time {time[:40]!r} {problem}")
    meter = _meter(reading.meter, topic_meter)
    counter = reading.frame_counter
    if isinstance(counter, bool) or not isinstance(counter, int) or not _BIGINT[0] <= counter \
            <= _BIGINT[1]:
        counter = None
    rows = []
    parts: list[bytes] = []
    add = parts.append
    head = _time_field(7, 8, micros(time) - _PG_EPOCH) + _binary(meter)
    tail = _BINARY_NULL if counter is None else _bigint_field(8, counter)
    for obis, measurement in values.items():  # exact types: both parsers make no subclasses
        if type(measurement) is not _Measurement:
            raise NotAReading(f"value {obis[:40]!r} is not an object")
        number = measurement.value
        kind = type(number)
        if kind is int:
            try:
                number = float(number)
            except OverflowError:  # an integer beyond any double
                continue
        elif kind is not float:
            continue  # texts (meter number, clock), true and false: no numbers of a table
        if not isfinite(number):
            continue
        name, unit = measurement.name, measurement.unit
        if type(name) is not str or not name:
            name = obis
        if type(unit) is not str:
            unit = None
        pieces = _CHECKED.get((obis, name, unit))
        if pieces is None:
            pieces = _check_code(obis, name, unit)
        rows.append(_row((time, meter, obis, name, number, unit, counter)))
        add(head)
        add(pieces[0])
        add(_value_field(8, number))
        add(pieces[1])
        add(tail)
    received = reading.received
    if not isinstance(received, str) or (received not in _MICROS and _time_problem(received)):
        received = None
    return rows, received, b"".join(parts)


def micros(time: str) -> int:
    """Microseconds since 1970 (UTC) of a time ``parse_reading`` passed; remembered."""
    known = _MICROS.get(time)
    if known is None:
        if _time_problem(time):
            raise ValueError(f"no time of a reading: {time[:40]!r}")
        known = _MICROS[time]
    return known


class _Measurement(msgspec.Struct, gc=False):
    value: Any = None
    name: Any = None
    unit: Any = None


class _Meter(msgspec.Struct, gc=False):
    name: Any = None
    id: Any = None
    system_title: Any = None


class _Reading(msgspec.Struct, gc=False):
    """The fields of the contract a row needs; any other field is skipped unbuilt."""

    time: Any = None
    received: Any = None
    meter: _Meter | None = None
    frame_counter: Any = None
    values: dict[str, _Measurement] | None = None


_decode = msgspec.json.Decoder(_Reading).decode


def _from_dict(reading: dict[str, Any]) -> _Reading:
    """What the standard library parsed, in the shape msgspec gives: a value that is no
    object stays as it was, for the rules to refuse."""
    info, values = reading.get("meter"), reading.get("values")
    if isinstance(values, dict):
        values = {obis: _Measurement(measurement.get("value"), measurement.get("name"),
                                     measurement.get("unit"))
                  if isinstance(measurement, dict) else measurement
                  for obis, measurement in values.items()}
    return _Reading(reading.get("time"), reading.get("received"),
                    _Meter(info.get("name"), info.get("id"), info.get("system_title"))
                    if isinstance(info, dict) else None,
                    reading.get("frame_counter"), values)


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


def _checked(payload: bytes | bytearray | str) -> bytes | bytearray:
    """The payload in UTF-8, its size and depth checked before it is parsed (the parsers
    recurse, and the broker would bring a message that crashed us again and again)."""
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
    return payload


def _json_object(payload: bytes | bytearray) -> dict[str, Any]:
    """The checked payload as a JSON object, by the standard library's parser."""
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


def _too_deep(payload: bytes | bytearray) -> bool:
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
    """Why PostgreSQL or the fleet could not take this time, or None; a time that passes is
    remembered with its microseconds (``micros``)."""
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
    if len(_MICROS) >= 100_000:  # a day of a fleet's seconds; a publisher inventing more
        _MICROS.clear()
    _MICROS[text] = (moment - _UNIX) // _MICROSECOND
    return None


def _meter(info: _Meter | None, topic_meter: str) -> str:
    """The meter's name as ``Reading.meter_key`` has it, else the topic's meter part."""
    meter = ""
    if info is not None:
        for candidate in (info.name, info.id, info.system_title):
            if isinstance(candidate, str) and candidate:
                meter = candidate
                break
    meter = meter or topic_meter or "meter"
    if not fits(meter, MAX_NAME):
        raise NotAReading(f"meter {meter[:40]!r} is no name: at most {MAX_NAME} characters, "
                          "UTF-8, no NUL")
    return meter


def _check_code(obis: str, name: str, unit: str | None) -> tuple[bytes, bytes]:
    """A value's code, name and unit as the readers write them; remembered once right, with
    their fields of COPY's binary format (code and name, unit)."""
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
    pieces = _CHECKED[obis, name, unit] = (_binary(obis) + _binary(name), _binary(unit))
    return pieces


_OBIS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){5}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
                   r"(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})")
_EARLIEST, _LATEST = EARLIEST.timestamp(), LATEST.timestamp()
_CHECKED: dict[tuple[str, str, str | None], tuple[bytes, bytes]] = {}
_MICROS: dict[str, int] = {}  # the times that passed, in microseconds since 1970
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: a row without the Python-level ``__new__`` of a NamedTuple (twelve rows a reading)
_row = cast(Callable[[tuple[str, str, str, str, float, str | None, int | None]], "Row"],
            partial(tuple.__new__, Row))
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


_PG_EPOCH = (datetime(2000, 1, 1, tzinfo=UTC) - _UNIX) // _MICROSECOND  # binary timestamptz
_BINARY_HEAD = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_BINARY_NULL = b"\xff\xff\xff\xff"
_BINARY_TRAILER = b"\xff\xff"
_time_field = struct.Struct(">hiq").pack  # the field count, then time's length and value
_value_field = struct.Struct(">id").pack
_bigint_field = struct.Struct(">iq").pack


def _binary(text: str | None) -> bytes:
    if text is None:
        return _BINARY_NULL
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def copy_binary_of(pieces: list[bytes]) -> bytes:
    """COPY's binary format around the rows of ``read_reading``."""
    return b"".join((_BINARY_HEAD, *pieces, _BINARY_TRAILER))


def copy_binary(rows: list[Row]) -> bytes:
    """The rows in COPY's binary format. PostgreSQL then reads each time as eight bytes
    instead of parsing its ISO text once per value (a tenth to a quarter of its time per
    row here), and the values go as doubles, not as their decimal text.

    Rows of one reading share time, meter and frame counter, and the codes, names and units
    repeat: each piece is encoded once."""
    parts = [_BINARY_HEAD]
    add = parts.append
    value_part: dict[tuple[str, str, str | None], tuple[bytes, bytes]] = {}
    shared: tuple[str, str, int | None] | None = None
    head = tail = b""
    for row in rows:
        if (row.time, row.meter, row.frame_counter) != shared:
            shared = (row.time, row.meter, row.frame_counter)
            head = _time_field(7, 8, micros(row.time) - _PG_EPOCH) + _binary(row.meter)
            tail = _BINARY_NULL if row.frame_counter is None else \
                _bigint_field(8, row.frame_counter)
        pieces = value_part.get((row.obis, row.name, row.unit))
        if pieces is None:
            pieces = value_part[row.obis, row.name, row.unit] = (
                _binary(row.obis) + _binary(row.name), _binary(row.unit))
        add(head)
        add(pieces[0])
        add(_value_field(8, row.value))
        add(pieces[1])
        add(tail)
    add(_BINARY_TRAILER)
    return b"".join(parts)
