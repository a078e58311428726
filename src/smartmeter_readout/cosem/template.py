"""A fast path for the pushes that follow the first: same shape, new values.

A meter sends the same body shape push after push; only the numbers and clocks change.
After a push has been decoded the long way, ``BodyTemplate.build`` takes its plaintext and
the recorded meaning (which leaf became which value, ``Body.slots``) and compiles one regular
expression: every byte that did not become a value is literal, every value byte is a group.
The next plaintext either matches in full (one call, in C) and its values are unpacked
slot by slot, or it does not match and is decoded the long way (and a new template is made).

Correctness does not rest on guessing: by construction the meaning of a body depends only on
its constant bytes (codes, types, lengths, scalers, units, ids) and the slot values, so a
body whose constant bytes equal the template's has the template's meaning.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from ..dlms import axdr
from ..dlms.apdu import DataNotification
from ..dlms.cosem_time import decode_datetime
from ..errors import DecodeError
from ..reading import Measurement
from .body import DATETIME_VALUE, NUMBER, Body, scale

__all__ = ["BodyTemplate"]

_HEADER_CLOCK = -1  # pseudo slot: the notification header's date-time


class BodyTemplate:
    """Decodes plaintexts of one shape; ``apply`` returns None for any other shape."""

    __slots__ = ("_body", "_moments", "_pattern", "_previous", "_slots", "_work")

    def __init__(self, pattern: re.Pattern[bytes], slots: list[Any], body: Body) -> None:
        self._pattern = pattern
        self._slots = slots
        self._body = body
        self._moments: dict[bytes, datetime | None] = {}  # header and body clocks repeat
        # (group index, spec) for the groups that carry values, specs ready for the loop
        # a spec is a plain tuple (tag, key, name, unit, scaler, kind, is_clock): this loop
        # runs for every push, so no NamedTuple attribute lookups here
        self._work: list[tuple[int, Any]] = []
        for index, spec in enumerate(slots):
            if spec == _HEADER_CLOCK:
                self._work.append((index, spec))
            elif spec:
                tag, key, name, unit, scaler, kind, is_clock = spec
                unpack = axdr.FIXED_STRUCTS[tag].unpack if kind == NUMBER else None
                self._work.append((index, (kind, key, name, unit, unpack, scaler, is_clock)))
        self._previous: list[tuple[bytes, Measurement] | None] = [None] * len(slots)

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
        regions: list[tuple[int, int, object]] = [(1, 5, ())]  # the invoke id
        if notification.date_time is not None:
            regions.append((body_start - 12, body_start, _HEADER_CLOCK))
        slot_specs = []
        for node, key, name, unit, scaler, kind in body.slots:
            if id(node) not in spans:
                return None
            start, stop = spans[id(node)]
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
        slots: list[Any] = []
        at = 0
        for start, stop, spec in regions:
            if start < at:
                return None  # overlapping spans: no template for this shape
            pattern += re.escape(plaintext[at:start])
            pattern += b"(.{%d})" % (stop - start)
            slots.append(spec)
            at = stop
        pattern += re.escape(plaintext[at:])
        return cls(re.compile(bytes(pattern), re.DOTALL), slots, body)

    def apply(self, plaintext: bytes, tz: tzinfo) -> tuple[Body, datetime | None] | None:
        match = self._pattern.fullmatch(plaintext)
        if match is None:
            return None
        template = self._body
        values = dict(template.values)
        clock = None
        header_clock = None
        previous = self._previous
        new_measurement = tuple.__new__  # Measurement(...) without the NamedTuple call
        groups = match.groups()
        for index, spec in self._work:
            raw = groups[index]
            if spec == _HEADER_CLOCK:
                header_clock = self._moment(raw, tz)
                continue
            kind, key, name, unit, unpack, scaler, is_clock = spec
            if kind == NUMBER:
                last = previous[index]
                if last is not None and last[0] == raw:
                    values[key] = last[1]
                    continue
                number = unpack(raw)[0]
                measurement = new_measurement(
                    Measurement, (name, scale(number, scaler) if scaler else number, unit))
                values[key] = measurement
                previous[index] = (raw, measurement)
                continue
            moment = self._moment(raw, tz)
            if moment is None:
                return None  # let the long way decide what this is
            if is_clock and clock is None:
                clock = moment
            if kind == DATETIME_VALUE:
                values[key] = Measurement(name, moment.isoformat(), None)
        body = Body(template.layout, values, clock, template.meter_id, template.device_name,
                    template.list_id)
        return body, header_clock

    def _moment(self, raw: bytes, tz: tzinfo) -> datetime | None:
        moments = self._moments
        if raw not in moments:
            if len(moments) > 8:
                moments.clear()
            moments[raw] = decode_datetime(raw, tz)
        return moments[raw]
