"""What the values in a notification body mean: the body layouts of OPERATORS.md.

Theory of operation. A push body is an array or structure of A-XDR nodes. Layouts are tried
in a fixed order, each recognised by the body's own structure, never by frame length:

1. **E, capture-object list**: the first element is the push setup's object list
   (``{class_id, OBIS, attribute, data_index}`` per object); the values follow by position.
2. **Positional layouts** (D1 Wiener Netze, D2 Kärnten/Wels, D3 Norwegian Kaifa, Netz
   Burgenland, and any the user describes in the config): bodies without OBIS codes,
   recognised by element count and types (and the maker in the system title or a list id).
3. **OBIS-labelled** (A tagged structures, Aidon's array, B flat list with scaler/unit,
   C flat OBIS/value pairs): one walker reads the flattened elements; a 6-byte octet string
   followed by a value is a code and its value, a ``{int8, enum}`` structure after it is its
   scaler and unit; unlabelled elements are the clock (a valid 12-byte date-time), a list id
   (a string first) or the meter number (a string last).

Not accepted, by decision: the Landis+Gyr ZMF100/E350 capture whose OBIS codes read
``06 09`` (length and tag swapped) instead of ``09 06``. The one published frame with the
swap has a broken FCS and no stated origin, a 2025 capture of the same Embriq module encodes
correctly, and reading a swapped tag as an octet string would let any ``06`` (uint32) pass as
a code: such a body is reported as malformed instead of guessed at.

Scaling (exact, ``cosem.body.scale``) and the ``Body`` a layout fills live in ``cosem.body``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from ..dlms import axdr
from ..dlms.cosem_time import decode_date, decode_datetime, decode_time, looks_like_datetime
from ..errors import ConfigError, LayoutError
from ..message import N_
from ..reading import Measurement
from .body import DATETIME_VALUE, NUMBER, Body, scale
from .catalog import CATALOG
from .implied_units import imply_units
from .obis import format_obis, obis_info, parse_obis
from .units import base_unit, unit_symbol

__all__ = ["BUILTIN_LAYOUTS", "Body", "PositionalField", "PositionalLayout", "interpret",
           "layout_from_config", "untagged_body"]

_NUMBERS = frozenset((axdr.INT8, axdr.INT16, axdr.INT32, axdr.INT64, axdr.UINT8, axdr.UINT16,
                      axdr.UINT32, axdr.UINT64, axdr.ENUM, axdr.BCD, axdr.FLOAT32,
                      axdr.FLOAT64))
_STRINGS = frozenset((axdr.OCTET_STRING, axdr.VISIBLE_STRING, axdr.UTF8_STRING))
_NAMES: dict[bytes, tuple[str, str, str | None]] = {}  # OBIS bytes -> key, name, unit


def text(node: axdr.Node) -> str:
    """A string value: printable octet strings as text, other octet strings as hex."""
    tag, value = node
    if tag == axdr.OCTET_STRING:
        if value and all(0x20 <= byte < 0x7F for byte in value):
            return str(value.decode("ascii"))
        return str(value.hex().upper())
    return str(value)


def _names(code: bytes) -> tuple[str, str, str | None]:
    info = _NAMES.get(code)
    if info is None:
        name, unit = obis_info(code)
        info = _NAMES[code] = (format_obis(code), name, unit)
    return info


def _is_obis(value: bytes) -> bool:
    return len(value) == 6 and value[0] <= 15


def _is_clock(code: bytes) -> bool:
    return code[2] == 1 and code[3] == 0 and code[4] == 0


def _put(body: Body, code: bytes, node: axdr.Node, scaler: int | None, unit: int | None,
         tz: tzinfo, key: str | None = None) -> None:
    """Store one OBIS-keyed value and what it says about the meter."""
    obis_key, name, registry_unit = _names(code)
    key = key or obis_key
    tag, raw = node
    if tag in _NUMBERS:
        symbol = unit_symbol(unit) if unit is not None else registry_unit
        body.values[key] = Measurement(name, scale(raw, scaler or 0), symbol)
        body.slots.append((node, key, name, symbol, scaler or 0, NUMBER))
        return
    if tag == axdr.DATE_TIME or (tag == axdr.OCTET_STRING and len(raw) == 12
                                 and _is_clock(code) and looks_like_datetime(raw)):
        moment = decode_datetime(raw, tz)
        if moment is not None:
            body.values[key] = Measurement(name, moment.isoformat(), None)
            body.slots.append((node, key, name, None, 0, DATETIME_VALUE))
            if body.clock is None and _is_clock(code):
                body.clock = moment
                body.clock_node = node
        else:
            body.cacheable = False
        return
    if tag in _STRINGS:
        value = text(node)
        body.values[key] = Measurement(name, value, None)
        if code[2] == 96 and code[3] == 1 and code[4] == 0 and body.meter_id is None:
            body.meter_id = value
        elif code[2] == 42 and body.device_name is None:
            body.device_name = value
        elif code[2] == 25 and code[3] == 9 and body.list_id is None:
            body.list_id = format_obis(raw) if len(raw) == 6 else value
        elif code[2] == 0 and code[3] == 2 and code[4] == 129:  # the HAN list version id
            body.list_id = value
        return
    if tag == axdr.BOOLEAN:
        body.values[key] = Measurement(name, int(raw), "")


# ---------------------------------------------------------------- 3. OBIS-labelled bodies


def _flatten(items: list[axdr.Node]) -> tuple[list[axdr.Node], bool]:
    """Layout A wraps registers in structures (Kaifa mixes them with bare pairs); unwrap
    every structure that starts with an OBIS code so one walker reads A, B and C alike."""
    flat: list[axdr.Node] = []
    nested = False
    for node in items:
        tag, value = node
        if (tag == axdr.STRUCTURE and len(value) >= 2 and value[0][0] == axdr.OCTET_STRING
                and _is_obis(value[0][1])):
            flat.extend(value)
            nested = True
        else:
            flat.append(node)
    return flat, nested


def _walk(items: list[axdr.Node], tz: tzinfo, nested: bool) -> Body | None:
    body = Body("A" if nested else "C")
    unlabelled: list[tuple[int, axdr.Node]] = []
    count = len(items)
    index = 0
    found = False
    while index < count:
        node = items[index]
        tag, value = node
        if tag == axdr.OCTET_STRING and index + 1 < count and _is_obis(value):
            scaler = unit = None
            following = items[index + 2] if index + 2 < count else None
            step = 2
            if (following is not None and following[0] == axdr.STRUCTURE
                    and len(following[1]) == 2 and following[1][0][0] == axdr.INT8
                    and following[1][1][0] == axdr.ENUM):
                scaler, unit = following[1][0][1], following[1][1][1]
                if not nested:
                    body.layout = "B"
                step = 3
            _put(body, value, items[index + 1], scaler, unit, tz)
            found = True
            index += step
        else:
            unlabelled.append((index, node))
            index += 1
    if not found:
        return None
    for index, node in unlabelled:
        tag, value = node
        if (tag == axdr.OCTET_STRING and looks_like_datetime(value)) or tag == axdr.DATE_TIME:
            if body.clock is None:
                body.clock = decode_datetime(value, tz)
                body.clock_node = node
        elif tag in _STRINGS:
            if index == count - 1 and body.meter_id is None:
                body.meter_id = text(node)
            elif index == 0 and body.list_id is None:
                body.list_id = text(node)
    return body


# ---------------------------------------------------------------- 1. capture-object list


def _is_capture_list(node: axdr.Node) -> bool:
    tag, entries = node
    return tag == axdr.ARRAY and bool(entries) and all(
        entry[0] == axdr.STRUCTURE and len(entry[1]) == 4
        and entry[1][1][0] == axdr.OCTET_STRING and len(entry[1][1][1]) == 6
        for entry in entries
    )


def _capture_list(items: list[axdr.Node], tz: tzinfo) -> Body:
    # the first captured object is the push setup's own object list: items[0] is its value
    objects = items[0][1]
    values = items
    if len(values) != len(objects):
        raise LayoutError(N_("the push lists {objects} captured objects but carries {values} "
                             "values"), objects=len(objects), values=len(values))
    body = Body("E")
    for (_, (_, (_, code), (_, attribute), _)), node in zip(objects, values, strict=True):
        key = None if attribute == 2 else f"{format_obis(code)}:attr{attribute}"
        _put(body, code, node, None, None, tz, key)
        if code[2] == 25 and code[3] == 9 and body.list_id is None:
            body.list_id = format_obis(code)
    return body


def untagged_body(entries: Sequence[tuple[int, bytes, int, axdr.Node]], *, maker: str | None,
                  tz: tzinfo) -> Body:
    """The Czech push (EG.D, ČEZ): object descriptions and values in one list, no types on
    the descriptions (``dlms.untagged``); read like a capture-object list with its values."""
    body = Body("E", cacheable=False)
    for _class_id, code, attribute, node in entries:
        key = None if attribute == 2 else f"{format_obis(code)}:attr{attribute}"
        _put(body, code, node, None, None, tz, key)
        if code[2] == 25 and code[3] == 9 and body.list_id is None:
            body.list_id = format_obis(code)
    imply_units(body, maker)
    return body


# ---------------------------------------------------------------- 2. positional layouts

_KIND_TAGS: dict[str, frozenset[int]] = {
    "number": _NUMBERS | {axdr.BOOLEAN},  # a state sent as boolean by some firmware: 0/1
    "octet_number": frozenset((axdr.OCTET_STRING,)),  # a big-endian number in an octet string
    "string": _STRINGS,
    "hex": frozenset((axdr.OCTET_STRING,)),
    "list_id": _STRINGS,
    "meter_id": _STRINGS,
    "push_setup": frozenset((axdr.OCTET_STRING,)),
    "datetime": frozenset((axdr.OCTET_STRING, axdr.DATE_TIME)),
    "date": frozenset((axdr.OCTET_STRING, axdr.DATE)),
    "time": frozenset((axdr.OCTET_STRING, axdr.TIME)),
    "ignore": frozenset(axdr.TYPE_NAMES),
}
_KIND_SIZES = {"datetime": 12, "date": 5, "time": 4}


@dataclass(frozen=True, slots=True)
class PositionalField:
    """One position of a body without OBIS codes: what it is, its code, scaler and unit."""

    # number | octet_number | string | hex | list_id | meter_id | push_setup | datetime | date
    # | time | ignore
    kind: str
    obis: bytes | None = None
    scaler: int = 0
    unit: str | None = None

    def accepts(self, node: axdr.Node) -> bool:
        tag, value = node
        if tag not in _KIND_TAGS[self.kind]:
            return False
        size = _KIND_SIZES.get(self.kind)
        if size is not None and tag == axdr.OCTET_STRING:
            return len(value) == size
        if self.kind == "push_setup":
            return len(value) == 6 and value[2] == 25 and value[3] == 9
        if self.kind == "octet_number":
            return 0 < len(value) <= 8
        return True


@dataclass(frozen=True, slots=True)
class PositionalLayout:
    name: str
    fields: tuple[PositionalField, ...]
    maker: str | None = None  # system title prefix (KFM, LGZ, ...), if it must match
    list_id: str | None = None  # the value of the body's list-id string, if it must match

    def matches(self, items: Sequence[axdr.Node], maker: str | None) -> bool:
        if len(items) != len(self.fields):
            return False
        if self.maker is not None and (maker is None or not maker.startswith(self.maker)):
            return False
        for spec, node in zip(self.fields, items, strict=True):
            if not spec.accepts(node):
                return False
            if spec.kind == "list_id" and self.list_id is not None and text(node) != self.list_id:
                return False
        return True

    def apply(self, items: Sequence[axdr.Node], tz: tzinfo) -> Body:
        body = Body(self.name)
        day = clock_time = None
        for spec, node in zip(self.fields, items, strict=True):
            kind = spec.kind
            _tag, value = node
            if kind == "number":
                assert spec.obis is not None
                key, name, registry_unit = _names(spec.obis)
                unit = spec.unit if spec.unit is not None else registry_unit
                if _tag == axdr.BOOLEAN:  # constant for the template: no slot
                    body.values[key] = Measurement(name, int(value), unit)
                    continue
                body.values[key] = Measurement(name, scale(value, spec.scaler), unit)
                body.slots.append((node, key, name, unit, spec.scaler, NUMBER))
            elif kind == "octet_number":
                assert spec.obis is not None
                key, name, registry_unit = _names(spec.obis)
                unit = spec.unit if spec.unit is not None else registry_unit
                number = scale(int.from_bytes(value, "big"), spec.scaler)
                body.values[key] = Measurement(name, number, unit)
            elif kind == "string":
                assert spec.obis is not None
                _put(body, spec.obis, node, None, None, tz)
            elif kind == "hex":
                assert spec.obis is not None
                key, name, _ = _names(spec.obis)
                body.values[key] = Measurement(name, value.hex().upper(), None)
            elif kind == "list_id":
                body.list_id = text(node)
            elif kind == "meter_id":
                body.meter_id = text(node)
            elif kind == "push_setup":
                body.list_id = format_obis(value)
            elif kind == "datetime":
                body.clock = decode_datetime(value, tz)
                body.clock_node = node
            elif kind == "date":
                day = decode_date(value)
                body.cacheable = False
            elif kind == "time":
                clock_time = decode_time(value)
                body.cacheable = False
        if day is not None and clock_time is not None and body.clock is None:
            naive = datetime.combine(day, clock_time)
            body.clock = naive.replace(tzinfo=tz)
        return body


def _layout(name: str, spec: Iterable[tuple[str, str | None, int, str | None]],
            maker: str | None = None, list_id: str | None = None) -> PositionalLayout:
    fields = tuple(PositionalField(kind, parse_obis(code) if code else None, scaler, unit)
                   for kind, code, scaler, unit in spec)
    return PositionalLayout(name, fields, maker, list_id)


BUILTIN_LAYOUTS: tuple[PositionalLayout, ...] = tuple(
    _layout(name, spec, maker, list_id) for name, spec, maker, list_id in CATALOG)


def layout_from_config(name: str, spec: Mapping[str, Any]) -> PositionalLayout:
    """Build a user's positional layout from its config table (``ConfigError``, a
    ``ValueError``, names what is wrong; the config loader reports it).

    ``fields`` is a list, one entry per body element in order, each a table with ``obis`` and
    optionally ``scaler``, ``unit`` and ``kind`` (number, octet_number, string, hex, datetime,
    date, time, list_id, meter_id, push_setup, ignore; default number, or string without a
    unit).
    """
    where = f"layouts.{name}"
    fields_spec = spec.get("fields")
    if not isinstance(fields_spec, list) or not fields_spec:
        raise ConfigError(N_("{where}.fields must be a non-empty list of tables, one per "
                             "position"), where=where)
    unknown = set(spec) - {"fields", "maker", "list_id"}
    if unknown:
        raise ConfigError(N_("{where}: unknown key {key!r}; valid are fields, maker, list_id"),
                          where=where, key=sorted(unknown)[0])
    fields = []
    for position, entry in enumerate(fields_spec):
        here = f"{where}.fields[{position}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(N_("{where} must be a table like {{obis = \"1.0.1.8.0.255\", "
                                 "scaler = 0, unit = \"Wh\"}}"), where=here)
        kind = entry.get("kind", "number")
        if kind not in _KIND_TAGS:
            raise ConfigError(N_("{where}.kind = {kind!r} is not valid; valid are {valid}"),
                              where=here, kind=kind, valid=", ".join(sorted(_KIND_TAGS)))
        code = None
        if "obis" in entry:
            try:
                code = parse_obis(str(entry["obis"]))
            except ValueError as exc:
                raise ConfigError(N_("{where}.obis: {reason}"), where=here,
                                  reason=exc) from None
        elif kind in ("number", "octet_number", "string", "hex"):
            raise ConfigError(N_("{where} needs an obis code for a {kind} value"),
                              where=here, kind=kind)
        scaler = entry.get("scaler", 0)
        if not isinstance(scaler, int) or not -9 <= scaler <= 9:
            raise ConfigError(N_("{where}.scaler = {scaler!r} is not valid; use an integer "
                                 "from -9 to 9 (value = raw x 10^scaler)"),
                              where=here, scaler=scaler)
        unit = entry.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise ConfigError(N_("{where}.unit must be a string like \"W\""), where=here)
        if unit is not None:  # "kVArh" is varh and 10^3: readings carry base units only
            unit, shift = base_unit(unit)
            scaler += shift
        fields.append(PositionalField(kind, code, scaler, unit))
    maker = spec.get("maker")
    list_id = spec.get("list_id")
    return PositionalLayout(name, tuple(fields), maker, list_id)


# ---------------------------------------------------------------- the entry point


def describe(items: Sequence[axdr.Node]) -> str:
    return ", ".join(axdr.TYPE_NAMES.get(tag, hex(tag)) for tag, _ in items)


def interpret(body: axdr.Node, *, maker: str | None, tz: tzinfo,
              custom: Sequence[PositionalLayout] = ()) -> Body:
    tag, items = body
    if tag not in (axdr.ARRAY, axdr.STRUCTURE):
        raise LayoutError(N_("the push body is a {type}, not a structure"),
                          type=axdr.TYPE_NAMES.get(tag))
    if items and _is_capture_list(items[0]):
        listed = _capture_list(items, tz)
        imply_units(listed, maker)
        return listed
    for layout in (*custom, *BUILTIN_LAYOUTS):
        if layout.matches(items, maker):
            return layout.apply(items, tz)
    flat, nested = _flatten(items)
    found = _walk(flat, tz, nested)
    if found is not None:
        if found.layout == "C":  # OBIS codes and bare numbers: units from the maker's table
            imply_units(found, maker)
        return found
    raise LayoutError(N_(
        "unknown body layout without OBIS codes: {count} elements ({types}); describe it in "
        "the config under [layouts.<name>] with one field per position"),
        count=len(items), types=describe(items))
