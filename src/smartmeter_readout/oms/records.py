"""M-Bus variable data records (EN 13757-3): DIF, DIFEs, VIF, VIFEs and the value.

    DIF [DIFE ...] VIF [VIFE ...] data

DIF: bit 7 more DIFEs, bit 6 storage number (lowest bit), bits 5-4 function (instantaneous,
maximum, minimum, error), bits 3-0 the data field (how the value is coded and how long it is).
A DIFE adds 4 bits of storage number, 2 of tariff and 1 of sub-unit each. The VIF says what
is measured and in which power of ten (``E000 0nnn`` energy in 10^(nnn-3) Wh, ``E010 1nnn``
power in 10^(nnn-3) W, ...); ``FB`` and ``FD`` open two more tables, ``7C`` is a unit given
as text and ``7F`` a manufacturer's own. VIFEs after it modify it: ``3C`` backward flow (the
export direction of an electricity meter), ``70``-``77`` a factor 10^(nnn-6), and ``7F``
hands the rest of the chain to the manufacturer. Special DIFs: ``2F`` fills (skipped), ``0F``
and ``1F`` start manufacturer data that runs to the end.

Pure: bytes in, records out; anything that does not parse is a ``RecordError`` (never
another exception), and ``encode_record`` writes what ``parse_records`` reads.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from ..cosem.units import base_unit
from ..errors import DecodeError
from ..message import N_

__all__ = ["DataField", "Record", "RecordError", "encode_record", "parse_records"]

FILLER = 0x2F
_LENGTHS = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8, 0x8: 0, 0x9: 1,
            0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
_BCD = {0x9, 0xA, 0xB, 0xC, 0xE}
_FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
_DATE, _DATETIME = 0x6C, 0x6D


class RecordError(DecodeError):
    """Records that do not parse; the message says where and why."""


class DataField:
    """The data field codes of a DIF's low nibble that the encoder uses by name."""

    NONE, INT8, INT16, INT24, INT32, REAL32, INT48, INT64 = 0, 1, 2, 3, 4, 5, 6, 7
    BCD2, BCD4, BCD6, BCD8, VARIABLE, BCD12 = 9, 0xA, 0xB, 0xC, 0xD, 0xE


@dataclass(frozen=True, slots=True)
class Record:
    data_field: int
    function: str
    storage: int
    tariff: int
    subunit: int
    vif: bytes  # the VIF and its VIFEs as sent
    quantity: str  # energy, power, reactive_energy, reactive_power, date_time, ... or vif_XX
    unit: str | None  # the base unit the value is in after ``exponent``
    exponent: int  # value = raw * 10**exponent
    backward: bool  # VIFE 3C: backward flow (an electricity meter's export direction)
    manufacturer: bytes  # VIFEs after 7F (the manufacturer's own), else b""
    raw: int | float | str | bytes | datetime | date | time | None
    summer: bool | None = None  # a date-time's daylight-saving flag

    @property
    def value(self) -> int | float | str | bytes | datetime | date | time | None:
        """The raw value scaled to its base unit (numbers only)."""
        raw = self.raw
        if isinstance(raw, int | float) and not isinstance(raw, bool) and self.exponent:
            scaled: float = raw * 10.0 ** self.exponent
            if self.exponent > 0 and isinstance(raw, int):
                return int(raw * 10 ** self.exponent)
            if not math.isfinite(scaled):  # a REAL32 of NaN or infinity has no whole part
                return scaled
            return int(scaled) if scaled == int(scaled) else round(scaled, 9)
        return raw


def parse_records(data: bytes) -> list[Record]:
    """Every record of a decrypted application-layer body; manufacturer data at the end (DIF
    0F/1F) is kept as one record of quantity ``manufacturer_data``."""
    records: list[Record] = []
    at = 0
    while at < len(data):
        dif = data[at]
        if dif == FILLER:
            at += 1
            continue
        if dif in (0x0F, 0x1F):
            records.append(Record(0xF, "instantaneous", 0, 0, 0, b"", "manufacturer_data", None,
                                  0, False, b"", bytes(data[at + 1 :])))
            break
        if dif & 0x0F == 0x0F:  # 7F global readout and the reserved specials
            raise RecordError(N_("special DIF 0x{dif:02X} at byte {at}: not a data record"),
                              dif=dif, at=at)
        record, at = _record(data, at)
        records.append(record)
    return records


def _record(data: bytes, at: int) -> tuple[Record, int]:
    start = at
    dif = data[at]
    field, function = dif & 0x0F, _FUNCTIONS[(dif >> 4) & 3]
    storage, tariff, subunit = (dif >> 6) & 1, 0, 0
    at += 1
    extension = dif & 0x80
    count = 0
    while extension:
        if at >= len(data) or count >= 10:
            raise RecordError(N_("the DIFEs of the record at byte {start} do not end"), start=start)
        dife = data[at]
        storage |= (dife & 0x0F) << (1 + 4 * count)
        tariff |= ((dife >> 4) & 3) << (2 * count)
        subunit |= ((dife >> 6) & 1) << count
        extension = dife & 0x80
        at += 1
        count += 1
    vif_start = at
    quantity, unit, exponent, last = _vif(data, at, start)
    backward, manufacturer, at, factor = _vifes(data, last, start)
    vif = bytes(data[vif_start:at])
    if quantity == "text_unit":  # the unit as text after the chain: a length, then the
        # characters, last first
        if at >= len(data) or at + 1 + data[at] > len(data):
            raise RecordError(N_("the text unit of the record at byte {start} is cut off"),
                              start=start)
        length = data[at]
        text = bytes(reversed(data[at + 1 : at + 1 + length])).decode("ascii", "replace")
        unit, shift = base_unit(text)  # "kWh" is Wh and 10^3, as a VIF would say
        exponent += shift
        at += 1 + length
    code = vif[0] & 0x7F
    summer = None
    if code == _DATETIME and field in (DataField.INT32, DataField.INT48) and \
            at + _LENGTHS[field] <= len(data):
        summer = bool(data[at + 1] & 0x80) if field == DataField.INT32 else \
            bool(data[at] & 0x40)
    raw, at = _value(data, at, field, start, code)
    return Record(field, function, storage, tariff, subunit, vif, quantity, unit,
                  exponent + factor, backward, manufacturer, raw, summer), at


def _vif(data: bytes, at: int, start: int) -> tuple[str, str | None, int, int]:
    """quantity, unit, exponent, and where the VIF ends (the VIF or its table byte, whose
    extension bit says whether VIFEs follow)."""
    if at >= len(data):
        raise RecordError(N_("the record at byte {start} ends before its VIF"), start=start)
    vif = data[at]
    code = vif & 0x7F
    at += 1
    if vif in (0xFB, 0xFD):
        if at >= len(data):
            raise RecordError(N_("the record at byte {start} ends inside its VIF"), start=start)
        second = data[at] & 0x7F
        quantity, unit, exponent = (_table_fb if vif == 0xFB else _table_fd)(second)
        return quantity, unit, exponent, at
    if code == 0x7C:
        return "text_unit", None, 0, at - 1
    quantity, unit, exponent = _table_primary(code)
    return quantity, unit, exponent, at - 1


def _vifes(data: bytes, at: int, start: int) -> tuple[bool, bytes, int, int]:
    """Follow the extension bits from the byte at ``at`` (the VIF or the table byte):
    backward flow, the manufacturer's VIFEs, the position after the chain, a factor."""
    backward, factor = False, 0
    manufacturer = bytearray()
    theirs = False
    count = 0
    while data[at] & 0x80:
        at += 1
        count += 1
        if at >= len(data) or count > 10:
            raise RecordError(N_("the VIFEs of the record at byte {start} do not end"), start=start)
        vife = data[at]
        code = vife & 0x7F
        if theirs:
            manufacturer.append(vife)
        elif code == 0x7F:
            theirs = True
        elif code == 0x3C:
            backward = True
        elif 0x70 <= code <= 0x77:
            factor += (code & 0x07) - 6
        elif code == 0x7D:
            factor += 3
    return backward, bytes(manufacturer), at + 1, factor


def _table_primary(code: int) -> tuple[str, str | None, int]:
    n = code & 0x07
    if code <= 0x07:
        return "energy", "Wh", n - 3
    if code <= 0x0F:
        return "energy", "J", n
    if code <= 0x17:
        return "volume", "m³", n - 6
    if code <= 0x1F:
        return "mass", "kg", n - 3
    if 0x28 <= code <= 0x2F:
        return "power", "W", n - 3
    if 0x30 <= code <= 0x37:
        return "power", "J/h", n
    if 0x38 <= code <= 0x3F:
        return "volume_flow", "m³/h", n - 6
    if 0x58 <= code <= 0x5F:
        return ("flow_temperature" if code < 0x5C else "return_temperature"), "°C", \
            (code & 3) - 3
    if code == _DATE:
        return "date", None, 0
    if code == _DATETIME:
        return "date_time", None, 0
    if code == 0x78:
        return "fabrication_number", None, 0
    if code == 0x7A:
        return "bus_address", None, 0
    if code == 0x7F:
        return "manufacturer_specific", None, 0
    return f"vif_{code:02x}", None, 0


def _table_fb(code: int) -> tuple[str, str | None, int]:
    if code <= 0x01:
        return "energy", "Wh", (code & 1) - 1 + 6  # MWh 10^(n-1)
    if code <= 0x03:
        return "reactive_energy", "varh", (code & 1) + 3  # kvarh 10^n
    if 0x14 <= code <= 0x17:
        return "reactive_power", "var", code & 3
    if 0x28 <= code <= 0x29:
        return "power", "W", (code & 1) - 1 + 6  # MW 10^(n-1)
    return f"vif_fb_{code:02x}", None, 0


def _table_fd(code: int) -> tuple[str, str | None, int]:
    if 0x40 <= code <= 0x4F:
        return "voltage", "V", (code & 0x0F) - 9
    if 0x50 <= code <= 0x5F:
        return "current", "A", (code & 0x0F) - 12
    names = {0x08: "access_number", 0x09: "medium", 0x0A: "manufacturer", 0x0C: "version",
             0x0E: "firmware_version", 0x17: "error_flags"}
    return names.get(code, f"vif_fd_{code:02x}"), None, 0


def _value(data: bytes, at: int, field: int, start: int, vif: int
           ) -> tuple[int | float | str | bytes | datetime | date | time | None, int]:
    if field == DataField.VARIABLE:
        return _variable(data, at, start)
    length = _LENGTHS.get(field)
    if length is None:
        raise RecordError(N_("data field 0x{field:X} of the record at byte {start} is not known"),
                          field=field, start=start)
    if at + length > len(data):
        raise RecordError(N_("the value of the record at byte {start} is cut off"), start=start)
    chunk = bytes(data[at : at + length])
    at += length
    if length == 0:
        return None, at
    if vif == _DATE and field == DataField.INT16:
        return _type_g(chunk, start), at
    if vif == _DATETIME and field in (DataField.INT32, DataField.INT48):
        return (_type_f(chunk, start) if field == DataField.INT32 else _type_i(chunk, start)), at
    if field in _BCD:
        return _bcd(chunk, start), at
    if field == DataField.REAL32:
        return struct.unpack("<f", chunk)[0], at
    return int.from_bytes(chunk, "little", signed=True), at


def _variable(data: bytes, at: int, start: int) -> tuple[str | int | bytes, int]:
    if at >= len(data):
        raise RecordError(N_("the variable-length value of the record at byte {start} is cut off"),
                          start=start)
    lvar = data[at]
    at += 1
    if lvar < 0xC0:
        size = lvar
    elif lvar <= 0xC9 or 0xD0 <= lvar <= 0xD9:
        size = lvar & 0x0F
    elif 0xE0 <= lvar <= 0xEF:
        size = lvar - 0xE0
    else:
        raise RecordError(N_("LVAR 0x{lvar:02X} of the record at byte {start} is not supported"),
                          lvar=lvar, start=start)
    if at + size > len(data):
        raise RecordError(N_("the variable-length value of the record at byte {start} is cut off"),
                          start=start)
    chunk = bytes(data[at : at + size])
    at += size
    if lvar < 0xC0:
        return bytes(reversed(chunk)).decode("latin-1"), at
    if lvar <= 0xD9:
        number = _bcd(chunk, start)
        return (-number if lvar >= 0xD0 else number), at
    return int.from_bytes(chunk, "little", signed=True), at


def _bcd(chunk: bytes, start: int) -> int:
    digits = "".join(f"{byte:02X}" for byte in reversed(chunk))
    negative = digits.startswith("F")
    if negative:
        digits = digits[1:]
    if not digits.isdigit():
        raise RecordError(N_("the BCD value of the record at byte {start} holds {digits!r}"),
                          start=start, digits=digits)
    number = int(digits or "0")
    return -number if negative else number


def _type_g(chunk: bytes, start: int) -> date:
    day, month = chunk[0] & 0x1F, chunk[1] & 0x0F
    year = 2000 + ((chunk[0] >> 5) | ((chunk[1] >> 4) << 3))
    try:
        return date(year, month, day)
    except ValueError:
        raise RecordError(N_("the date of the record at byte {start} is not a date"),
                          start=start) from None


def _type_f(chunk: bytes, start: int) -> datetime:
    if chunk[0] & 0x80:
        raise RecordError(N_("the record at byte {start} marks its time invalid"), start=start)
    minute, hour = chunk[0] & 0x3F, chunk[1] & 0x1F
    century = (chunk[1] >> 5) & 0x03
    day, month = chunk[2] & 0x1F, chunk[3] & 0x0F
    year = (chunk[2] >> 5) | ((chunk[3] >> 4) << 3)
    year += 1900 + 100 * century if century or year >= 81 else 2000
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        raise RecordError(N_("the time of the record at byte {start} is not a time"),
                          start=start) from None


def _type_i(chunk: bytes, start: int) -> datetime:
    if chunk[1] & 0x80:
        raise RecordError(N_("the record at byte {start} marks its time invalid"), start=start)
    second, minute, hour = chunk[0] & 0x3F, chunk[1] & 0x3F, chunk[2] & 0x1F
    day, month = chunk[3] & 0x1F, chunk[4] & 0x0F
    year = 2000 + ((chunk[3] >> 5) | ((chunk[4] >> 4) << 3))
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise RecordError(N_("the time of the record at byte {start} is not a time"),
                          start=start) from None


def encode_record(value: int, *, data_field: int = DataField.INT32, vif: Sequence[int],
                  storage: int = 0, tariff: int = 0, subunit: int = 0,
                  function: int = 0, unsigned: bool = False) -> bytes:
    """One record of an integer or BCD value (what a meter sends; the simulator's and the
    tests' side of ``parse_records``)."""
    difes = []
    rest_storage, rest_tariff, rest_subunit = storage >> 1, tariff, subunit
    while rest_storage or rest_tariff or rest_subunit:
        difes.append((rest_storage & 0x0F) | ((rest_tariff & 3) << 4) | ((rest_subunit & 1) << 6))
        rest_storage, rest_tariff, rest_subunit = rest_storage >> 4, rest_tariff >> 2, \
            rest_subunit >> 1
    dif = data_field | (function << 4) | ((storage & 1) << 6) | (0x80 if difes else 0)
    head = bytes([dif, *(d | (0x80 if i < len(difes) - 1 else 0) for i, d in enumerate(difes)),
                  *vif])
    length = _LENGTHS[data_field]
    if data_field in _BCD:
        digits = f"{abs(value):0{2 * length}d}"
        if value < 0:
            digits = "F" + digits[1:]
        if len(digits) > 2 * length:
            raise ValueError(f"{value} does not fit {2 * length} BCD digits")
        body = bytes.fromhex(digits)[::-1]
    else:
        body = value.to_bytes(length, "little", signed=not unsigned)
    return head + body
