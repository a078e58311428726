"""DSMR / IEC 62056-21 P1 text telegrams (layout F), plain or inside GCM.

    /EST5\\253833635_A          <- identification line
    0-0:1.0.0(230817152425S)    <- A-B:C.D.E(value[*unit])...
    1-0:1.8.0(007112.944*kWh)
    !ED42                       <- CRC-16/ARC over '/' .. '!' (checked by the link layer)

Values are converted to the base units of the JSON contract (kWh -> Wh, kW -> W, kvarh ->
varh, kvar -> var) with exact decimal arithmetic. The clock ``YYMMDDhhmmssX`` carries S
(summer) or W (winter); it is read as local time of the configured zone.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from .cosem.layouts import Body
from .cosem.obis import format_obis, obis_info
from .errors import DecodeError
from .link.checksums import crc16_arc
from .reading import Measurement

__all__ = ["parse_telegram"]

_LINE = re.compile(r"^(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)((?:\([^()\r\n]*\))+)\s*$", re.M)
_GROUP = re.compile(r"\(([^()]*)\)")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_KILO = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVAh": "VAh", "kVA": "VA",
         "kvArh": "varh", "kvAr": "var"}
_TIMESTAMP = re.compile(r"^(\d{12})([SW])$")


def _number(text: str, factor: int) -> int | float:
    """Exact ``text * factor`` as int when whole, else the float nearest the exact value."""
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    numerator: int = int(whole + fraction) * factor * sign
    denominator: int = 10 ** len(fraction)
    if numerator % denominator == 0:
        return numerator // denominator
    return numerator / denominator


def _timestamp(text: str, tz: tzinfo) -> datetime | None:
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    digits = match.group(1)
    try:
        naive = datetime(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]),
                         int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    except ValueError:
        return None
    return naive.replace(tzinfo=tz, fold=0 if match.group(2) == "S" else 1)


def parse_telegram(raw: bytes, tz: tzinfo, *, check_crc: bool = True) -> Body:
    if not raw.startswith(b"/"):
        raise DecodeError("a DSMR telegram starts with '/'")
    bang = raw.rfind(b"!")
    if bang < 0:
        raise DecodeError("DSMR telegram without its end mark '!'")
    crc = raw[bang + 1 : bang + 5]
    if check_crc and len(crc) == 4:
        try:
            expected = int(crc, 16)
        except ValueError:
            raise DecodeError("DSMR telegram CRC is no hex number") from None
        if crc16_arc(raw[: bang + 1]) != expected:
            raise DecodeError("DSMR telegram CRC mismatch: the telegram is corrupted")
    text = raw[:bang].decode("ascii", "replace")
    body = Body("F")
    first_line = text.split("\n", 1)[0].strip()
    body.list_id = first_line[1:] or None
    for match in _LINE.finditer(text):
        code = bytes(int(match.group(i)) for i in range(1, 6)) + b"\xff"
        if any(part > 255 for part in code):
            continue
        key = format_obis(code)
        name, _ = obis_info(code)
        groups = _GROUP.findall(match.group(6))
        value_text = groups[-1]
        stamp = _timestamp(groups[0], tz) if code[2:5] == b"\x01\x00\x00" else None
        if stamp is not None:
            body.values[key] = Measurement(name, stamp.isoformat(), None)
            body.clock = stamp
            continue
        number, _, unit = value_text.partition("*")
        if unit and _NUMBER.match(number):
            base = _KILO.get(unit)
            value = _number(number, 1000) if base else _number(number, 1)
            body.values[key] = Measurement(name, value, base or unit)
        else:
            body.values[key] = Measurement(name, value_text, None)
            if code[2:5] == b"\x60\x01\x00" or code[2:5] == b"\x60\x01\x01":
                body.meter_id = body.meter_id or _hex_text(value_text)
    if not body.values:
        raise DecodeError("DSMR telegram without any value line")
    return body


def _hex_text(value: str) -> str:
    """DSMR sends equipment ids as hex-encoded ASCII; show them as text when they are."""
    try:
        decoded = bytes.fromhex(value).decode("ascii")
    except ValueError:
        return value
    return decoded if decoded.isprintable() and decoded else value
