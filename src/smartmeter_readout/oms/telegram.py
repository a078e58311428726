"""From an M-Bus application-layer telegram to the values of a reading.

The long header (CI 0x5B, 0x72) is 12 bytes: identification (4, BCD, least significant
first), manufacturer (2: three letters of 5 bits), version, medium, access number, status and
the configuration word (security mode in bits 8-12, encrypted blocks in bits 4-7). The short
header (CI 0x7A) has the last four only; the rest comes from the link layer's address.

An electricity meter's records become OBIS codes by what they measure: energy forward and
backward (1.8.x, 2.8.x, the tariff from the DIFEs), reactive energy (3.8.x, 4.8.x), power
(1.7.0, 2.7.0) and reactive power (3.7.0, 4.7.0); the AMIS collection register (energy with
the manufacturer's VIFE 04) is 1.128.0. What has no code is counted, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import NamedTuple

from ..cosem.obis import obis_info, parse_obis
from ..errors import DecodeError
from ..message import N_
from ..reading import Measurement
from .records import DataField, Record

__all__ = ["EXTENDED_LAYERS", "NO_HEADER", "SHORT", "Header", "parse_header", "short_header",
           "values_of"]

_LONG = frozenset((0x5B, 0x72))
SHORT = 0x7A
NO_HEADER = 0x78
#: CI values of layers between the link and the transport layer (EN 13757-4 ELL, EN 13757-7
#: AFL): LINZ NETZ's meters use none of them, and this reader does not read them
EXTENDED_LAYERS = {0x8C: "extended link layer (ELL I)", 0x8D: "extended link layer (ELL II)",
                   0x8E: "extended link layer (ELL III)", 0x8F: "extended link layer (ELL IV)",
                   0x86: "extended link layer (ELL V)",
                   0x90: "authentication and fragmentation layer (AFL)"}
_COLLECTION = ("SAM", "energy", b"\x04")


class Header(NamedTuple):
    identification: bytes  # as sent (least significant byte first)
    manufacturer: bytes  # as sent
    version: int
    medium: int
    access: int
    status: int
    config: int

    @property
    def mode(self) -> int:
        return (self.config >> 8) & 0x1F

    @property
    def blocks(self) -> int:
        return (self.config >> 4) & 0x0F

    @property
    def maker(self) -> str:
        code = int.from_bytes(self.manufacturer, "little")
        return "".join(chr(((code >> shift) & 0x1F) + 64) for shift in (10, 5, 0))

    @property
    def meter_id(self) -> str | None:
        """The identification number, None when the meter leaves it zero (the AMIS does:
        the address in its frames is the reader's)."""
        number = self.identification[::-1].hex()
        return None if number.strip("0") == "" else number


def parse_header(ci: int, payload: bytes) -> tuple[Header, bytes]:
    if ci not in _LONG:
        raise DecodeError(N_("M-Bus CI 0x{ci:02X}: only the long header (0x5B, 0x72) is read"),
                          ci=ci)
    if len(payload) < 12:
        raise DecodeError(N_("the M-Bus telegram's header is cut off"))
    header = Header(payload[0:4], payload[4:6], payload[6], payload[7], payload[8],
                    payload[9], int.from_bytes(payload[10:12], "little"))
    return header, payload[12:]


def short_header(payload: bytes, manufacturer: bytes, identification: bytes, version: int,
                 medium: int) -> tuple[Header, bytes]:
    """The short header (CI 0x7A: access number, status, configuration word); the meter's
    address comes from the link layer (a wireless telegram's M and A fields)."""
    if len(payload) < 4:
        raise DecodeError(N_("the M-Bus telegram's header is cut off"))
    header = Header(identification, manufacturer, version, medium, payload[0], payload[1],
                    int.from_bytes(payload[2:4], "little"))
    return header, payload[4:]


def _obis(record: Record, maker: str) -> str | None:
    if record.function != "instantaneous" or record.storage or record.subunit:
        return None
    if (maker, record.quantity, record.manufacturer) == _COLLECTION:
        return "1.0.1.128.0.255"
    if record.manufacturer:
        return None
    back = record.backward
    tariff = record.tariff
    match record.quantity:
        case "energy" if record.unit == "Wh":
            return f"1.0.{2 if back else 1}.8.{tariff}.255"
        case "reactive_energy":
            return f"1.0.{4 if back else 3}.8.{tariff}.255"
        case "power" if record.unit == "W" and not tariff:
            return f"1.0.{2 if back else 1}.7.0.255"
        case "reactive_power" if not tariff:
            return f"1.0.{4 if back else 3}.7.0.255"
    return None


def values_of(records: Sequence[Record], maker: str, tz: tzinfo
              ) -> tuple[dict[str, Measurement], datetime | None, int]:
    """The reading's values keyed by OBIS code, the meter's clock (its local time, the DST
    flag settling the repeated hour), and how many records had no code."""
    values: dict[str, Measurement] = {}
    clock = None
    unknown = 0
    for record in records:
        if record.quantity == "date_time" and isinstance(record.raw, datetime):
            fold = 0 if record.summer else 1  # the hour repeated in autumn: summer comes first
            clock = record.raw.replace(tzinfo=tz, fold=fold)
            values["0.0.1.0.0.255"] = Measurement("clock", clock.isoformat(), None)
            continue
        code = _obis(record, maker)
        value = record.value
        if maker == "SAM" and code != "1.0.1.128.0.255" and isinstance(value, int) and \
                value < 0 and record.data_field == DataField.INT32 and not record.exponent:
            value += 1 << 32  # the AMIS sends its registers unsigned (the interface
            # description); EN 13757-3 reads 32-bit integers as signed
        if code is None or not isinstance(value, int | float) or isinstance(value, bool):
            unknown += record.quantity != "manufacturer_data"
            continue
        name, unit = obis_info(parse_obis(code))
        values[code] = Measurement(name, value, unit or record.unit)
    return values, clock, unknown
