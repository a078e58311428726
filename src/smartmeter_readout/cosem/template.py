"""A fast path for the pushes that follow the first: same shape, new values.

A meter sends the same body shape push after push; only the numbers and clocks change.
After a push has been decoded the long way, ``BodyTemplate.build`` takes its plaintext and
the recorded meaning (which leaf became which value, ``Body.slots``) and compiles one regular
expression: every byte that did not become a value is literal, every value byte any byte.
The next plaintext either matches in full (one call, in C) and its values are unpacked,
or it does not match and is decoded the long way (and a new template is made).

Correctness does not rest on guessing: by construction the meaning of a body depends only on
its constant bytes (codes, types, lengths, scalers, units, ids) and the slot values, so a
body whose constant bytes equal the template's has the template's meaning.

Every value sits at a fixed offset once the constant bytes match, so the template is compiled
into one small Python function (its source generated here from the shape, never from the
wire's bytes): a regular expression without groups checks the constant bytes, one ``struct``
unpacks every value at once, and each value is scaled by an expression written for its
scaler and put into a dict literal in the long way's key order. Profiled on the VKW push
(16 values, two clocks; ``benchmarks/bench_decode.py``): the slot-by-slot loop took 10 us of
a 25 us push.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from types import CodeType
from typing import Any

from ..dlms import axdr
from ..dlms.apdu import DataNotification
from ..dlms.cosem_time import decode_datetime
from ..errors import DecodeError
from ..reading import Measurement
from .body import DATETIME_VALUE, NUMBER, Body, scale

__all__ = ["BodyTemplate"]

_HEADER_CLOCK = -1  # pseudo slot: the notification header's date-time
_SECONDS = tuple(timedelta(seconds=seconds) for seconds in range(-59, 60))
_CODE: dict[str, CodeType] = {}  # compiled template functions by their source
_MAX_CODE = 64


class BodyTemplate:
    """Decodes plaintexts of one shape; ``apply`` returns None for any other shape."""

    __slots__ = ("_known", "_last", "_raw", "apply")

    def __init__(self, pattern: re.Pattern[bytes], regions: list[tuple[int, int, Any]],
                 body: Body) -> None:
        self._raw = b""  # the last clock's bytes, and what they gave
        self._known: tuple[datetime | None, str] = (None, "")
        #: the last clock decoded in full: its bytes but the second, moment and text
        self._last: tuple[bytes, bytes, datetime, str] | None = None
        #: ``apply(plaintext, tz) -> (body, header clock) | None``, compiled for this shape
        self.apply: Callable[[bytes, tzinfo], tuple[Body, datetime | None] | None] = \
            _compile(pattern, regions, body, self._clock)

    @classmethod
    def build(cls, plaintext: bytes, notification: DataNotification, body: Body,
              body_start: int) -> BodyTemplate | None:
        if not body.cacheable or body.layout == "F":
            return None
        if any(kind == NUMBER and node[0] not in axdr.FIXED_STRUCTS
               for node, _key, _name, _unit, _scaler, kind in body.slots):
            return None  # a bcd value: rare enough to take the long way every time
        try:
            spans, end = axdr.value_spans(notification.body, body_start)
        except (DecodeError, ValueError):  # a value that does not encode back byte for byte
            return None
        if end != len(plaintext):
            return None
        regions: list[tuple[int, int, Any]] = [(1, 5, ())]  # the invoke id
        if notification.date_time is not None:
            regions.append((body_start - 12, body_start, _HEADER_CLOCK))
        slot_specs = []
        for node, key, name, unit, scaler, kind in body.slots:
            if id(node) not in spans:
                return None
            start, stop = spans[id(node)]
            if kind == NUMBER and axdr.FIXED_STRUCTS[node[0]].size != stop - start:
                return None  # the value is not where its type says: no template
            slot_specs.append((start, stop, (node[0], key, name, unit, scaler, kind,
                                            node is body.clock_node)))
        if body.clock_node is not None and not any(node is body.clock_node
                                                   for node, *_ in body.slots):
            if id(body.clock_node) not in spans:
                return None
            start, stop = spans[id(body.clock_node)]
            slot_specs.append((start, stop, (body.clock_node[0], "", "", None, 0, -1, True)))
        regions += slot_specs
        regions.sort(key=lambda region: region[0])
        pattern = bytearray()
        at = 0
        for start, stop, _spec in regions:
            if start < at:
                return None  # overlapping spans: no template for this shape
            pattern += re.escape(plaintext[at:start])
            pattern += b".{%d}" % (stop - start)
            at = stop
        pattern += re.escape(plaintext[at:])
        return cls(re.compile(bytes(pattern), re.DOTALL), regions, body)

    def _clock(self, raw: bytes, tz: tzinfo) -> tuple[datetime | None, str]:
        """The moment of a date-time and its ISO text. From push to push mostly the second
        changes: then the last moment is moved to the new second (zone offsets change on
        whole minutes), text and all, a third of the cost of decoding the date and writing
        the text again."""
        if raw == self._raw:
            return self._known
        last = self._last
        if (last is not None and (second := raw[7]) < 60 and raw[:7] == last[0]
                and raw[8:] == last[1]):
            before, text = last[2], last[3]
            # wall-clock arithmetic keeps the zone; it gives fold 0, so a repeated hour's
            # second pass takes replace()
            moment = (before + _SECONDS[second - before.second + 59] if not before.fold
                      else before.replace(second=second))
            known: tuple[datetime | None, str] = (moment,
                                                  f"{text[:17]}{second:02d}{text[19:]}")
        else:
            decoded = decode_datetime(raw, tz)
            known = decoded, decoded.isoformat() if decoded is not None else ""
            # the text's seconds are at [17:19] without a fraction, in the years of meters
            self._last = ((raw[:7], raw[8:], decoded, known[1])
                          if decoded is not None and not decoded.microsecond
                          and 1980 <= decoded.year <= 9999 else None)
        self._raw, self._known = raw, known
        return known


def _scaled(name: str, tag: int, scaler: int) -> str:
    """The expression of a value in base units, as ``cosem.body.scale`` computes it."""
    if not scaler or tag in (axdr.FLOAT32, axdr.FLOAT64):  # scale() leaves floats alone
        return name
    if 0 < scaler < 20:
        return f"{name} * {10**scaler}"
    if 0 < -scaler < 20:
        return f"{name} / {10**-scaler}"
    return f"scale({name}, {scaler})"


def _compile(pattern: re.Pattern[bytes], regions: list[tuple[int, int, Any]], body: Body,
             clock_of: Callable[[bytes, tzinfo], tuple[datetime | None, str]]
             ) -> Callable[[bytes, tzinfo], tuple[Body, datetime | None] | None]:
    """One function for one shape (see the module's docstring); its source holds names and
    numbers of the template only, every string as a constant of the namespace."""
    constants: dict[str, Any] = {}

    def constant(value: object) -> str:
        name = f"c{len(constants)}"
        constants[name] = value
        return name

    layout: list[str] = []  # struct format, after ">"
    fields: list[str] = []
    lines: list[str] = []
    header = clock = "None"
    chosen: dict[str, str] = {}  # key -> expression of its value (the last slot wins)
    numbers = 0  # number slots so far
    at = 0
    for start, stop, spec in regions:
        if start > at:
            layout.append(f"{start - at}x")
        at = stop
        if not spec:  # the invoke id: checked by its length, not read
            layout.append(f"{stop - start}x")
            continue
        field_name = f"f{len(fields)}"
        fields.append(field_name)
        if spec == _HEADER_CLOCK:
            layout.append(f"{stop - start}s")
            header = f"m{field_name}"
            lines.append(f"    {header}, t{field_name} = clock_of({field_name}, tz)")
            continue
        tag, key, name, unit, scaler, kind, is_clock = spec
        if kind == NUMBER:  # a value the same as in the last push keeps its Measurement
            layout.append(axdr.FIXED_STRUCTS[tag].format.lstrip(">"))
            raw_at, kept_at = 2 * numbers, 2 * numbers + 1
            numbers += 1
            lines += [
                f"    if {field_name} == last[{raw_at}]:",
                f"        v{field_name} = last[{kept_at}]",
                "    else:",
                f"        last[{raw_at}] = {field_name}",
                f"        v{field_name} = last[{kept_at}] = new(M, ({constant(name)}, "
                f"{_scaled(field_name, tag, scaler)}, {constant(unit)}))",
            ]
            chosen[key] = f"v{field_name}"
            continue
        layout.append(f"{stop - start}s")
        if header != "None":  # the body's clock is mostly the header's: decoded once
            lines.append(f"    if {field_name} == {header[1:]}:")
            lines.append(f"        m{field_name}, t{field_name} = {header}, t{header[1:]}")
            lines.append("    else:")
            lines.append(f"        m{field_name}, t{field_name} = clock_of({field_name}, tz)")
        else:
            lines.append(f"    m{field_name}, t{field_name} = clock_of({field_name}, tz)")
        lines.append(f"    if m{field_name} is None:")
        lines.append("        return None  # let the long way decide what this is")
        if is_clock and clock == "None":
            clock = f"m{field_name}"
        if kind == DATETIME_VALUE:
            chosen[key] = f"new(M, ({constant(name)}, t{field_name}, None))"
    values = [f"{constant(key)}: {chosen.pop(key, None) or constant(measurement)}"
              for key, measurement in body.values.items()]
    values += [f"{constant(key)}: {expression}" for key, expression in chosen.items()]
    unpack = struct.Struct(">" + "".join(layout)).unpack_from
    source = "\n".join([
        "def apply(plaintext, tz):",
        "    if fullmatch(plaintext) is None:",
        "        return None",
        *([f"    {', '.join(fields)}, = unpack(plaintext)"] if fields else []),
        *lines,
        f"    return Body(layout, {{{', '.join(values)}}}, {clock}, meter_id, device_name, "
        f"list_id), {header}",
    ])
    namespace: dict[str, Any] = {
        **constants, "fullmatch": pattern.fullmatch, "unpack": unpack, "clock_of": clock_of,
        "new": tuple.__new__, "M": Measurement, "Body": Body, "scale": scale,
        "last": [None] * (2 * numbers),  # per number: its raw value and Measurement
        "layout": body.layout, "meter_id": body.meter_id, "device_name": body.device_name,
        "list_id": body.list_id,
    }
    code = _CODE.get(source)
    if code is None:  # a shape whose bytes change where no value is (an octet-string
        # number, a status) or a meter that is checked every push rebuilds its template per
        # push: its source stays the same, and compiling it costs 3x the rest of a build
        if len(_CODE) >= _MAX_CODE:
            _CODE.clear()
        code = _CODE[source] = compile(source, "<body template>", "exec")
    exec(code, namespace)
    apply: Callable[[bytes, tzinfo], tuple[Body, datetime | None] | None] = namespace["apply"]
    return apply
