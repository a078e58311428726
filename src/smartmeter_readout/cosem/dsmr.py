"""DSMR / IEC 62056-21 P1 text telegrams (layout F), plain or inside GCM.

    /EST5\\253833635_A          <- identification line
    0-0:1.0.0(230817152425S)    <- A-B:C.D.E(value[*unit])...
    1-0:1.8.0(007112.944*kWh)
    !ED42                       <- CRC-16/ARC over '/' .. '!' (checked by the link layer)

Values are converted to the base units of the JSON contract (kWh -> Wh, kW -> W, kVArh ->
varh, VAr -> var, m3 -> m³: ``units.base_unit``) with exact decimal arithmetic. The clock
``YYMMDDhhmmssX`` carries S (summer) or W (winter); it is read as local time of the
configured zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from ..errors import DecodeError
from ..link.checksums import crc16_arc
from ..message import N_
from ..reading import Measurement
from .body import Body
from .obis import format_obis, obis_info
from .units import base_unit

__all__ = ["parse_telegram"]

# A-B:C.D.E, optionally *F (EasyMeter writes 1-0:1.8.0*255), then one or more (groups); a
# field of more than three digits is no OBIS code (and a run of thousands is beyond int())
_LINE = re.compile(r"^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*(\d{1,3}))?"
                   r"((?:\([^()\r\n]*\))+)\s*$", re.M)
_GROUP = re.compile(r"\(([^()]*)\)")
#: no meter writes more digits than this; a longer run is text (Python's int() refuses
#: strings of more than 4300 digits, and a counter of 21 digits is damage, not energy)
_MAX_DIGITS = 20
_NUMBER = re.compile(rf"^[+-]?\d{{1,{_MAX_DIGITS}}}(\.\d{{1,{_MAX_DIGITS}}})?$")
_TIMESTAMP = re.compile(r"^(\d{12})([SW])$")
_LONG_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})$")  # NES meters


def _number(text: str, factor: int) -> int | float:
    """Exact ``text * factor`` as int when whole, else the float nearest the exact value."""
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    numerator: int = int(whole + fraction) * factor * sign
    denominator: int = 10 ** len(fraction)
    if numerator % denominator == 0:
        return numerator // denominator
    return numerator / denominator


def _local(parts: tuple[str, ...], tz: tzinfo) -> datetime | None:
    try:
        year, month, day, hour, minute, second = (int(part) for part in parts)
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None


def _timestamp(text: str, tz: tzinfo) -> datetime | None:
    match = _TIMESTAMP.match(text)
    if match is None:
        long_form = _LONG_TIMESTAMP.match(text)
        return _local(long_form.groups(), tz) if long_form else None
    digits = match.group(1)
    try:
        naive = datetime(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]),
                         int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    except ValueError:
        return None
    local = naive.replace(tzinfo=tz, fold=0 if match.group(2) == "S" else 1)
    summer = match.group(2) == "S"
    dst = local.dst()
    offset = local.utcoffset()
    if dst is None or offset is None or bool(dst) == summer:
        return local
    # the meter says what its clock keeps (some keep standard time all year): believe it
    standard = offset - dst
    return naive.replace(tzinfo=timezone(standard + timedelta(hours=1) if summer else standard))


def parse_telegram(raw: bytes, tz: tzinfo, *, check_crc: bool = True) -> Body:
    if not raw.startswith(b"/"):
        raise DecodeError(N_("a DSMR telegram starts with '/'"))
    bang = raw.rfind(b"!")
    if bang < 0:
        raise DecodeError(N_("DSMR telegram without its end mark '!'"))
    crc = raw[bang + 1 : bang + 5]
    if check_crc and len(crc) == 4:
        try:
            expected = int(crc, 16)
        except ValueError:
            raise DecodeError(N_("DSMR telegram CRC is no hex number")) from None
        if crc16_arc(raw[: bang + 1]) != expected:
            raise DecodeError(N_("DSMR telegram CRC mismatch: the telegram is corrupted"))
    text = raw[:bang].decode("ascii", "replace")
    body = Body("F")
    first_line = text.split("\n", 1)[0].strip()
    body.list_id = first_line[1:] or None
    for match in _LINE.finditer(text):
        fields = [int(match.group(i)) for i in range(1, 6)] + [int(match.group(6) or 255)]
        if any(part > 255 for part in fields):
            continue
        code = bytes(fields)
        key = format_obis(code)
        name, registry_unit = obis_info(code)
        groups = _GROUP.findall(match.group(7))
        value_text = groups[-1]
        stamp = _timestamp(groups[0], tz) if code[2:5] == b"\x01\x00\x00" else None
        if stamp is not None:
            body.values[key] = Measurement(name, stamp.isoformat(), None)
            body.clock = stamp
            continue
        number, _, unit = value_text.partition("*")
        if unit and _NUMBER.match(number):
            base, exponent = base_unit(unit)
            body.values[key] = Measurement(name, _number(number, 10 ** exponent), base)
        elif (number.isdigit() and len(number) <= _MAX_DIGITS
              and (registry_unit is not None or (code[0] == 1 and code[2]))):
            # a count without a unit (power failures, voltage sags): a number, not text
            body.values[key] = Measurement(name, int(number), registry_unit or "")
        else:
            body.values[key] = Measurement(name, value_text, None)
            if code[2:5] == b"\x60\x01\x00" or code[2:5] == b"\x60\x01\x01":
                body.meter_id = body.meter_id or _hex_text(value_text)
    if body.clock is None:  # IEC 62056-21 meters send time (0.9.1) and date (0.9.2) apart
        clock_time, day = body.values.get("1.0.0.9.1.255"), body.values.get("1.0.0.9.2.255")
        if clock_time is not None and day is not None:
            hhmmss, yymmdd = str(clock_time.value).zfill(6), str(day.value).zfill(6)
            body.clock = _local(("20" + yymmdd[0:2], yymmdd[2:4], yymmdd[4:6], hhmmss[0:2],
                                 hhmmss[2:4], hhmmss[4:6]), tz)
    if not body.values:
        raise DecodeError(N_("DSMR telegram without any value line"))
    return body


def _hex_text(value: str) -> str:
    """DSMR sends equipment ids as hex-encoded ASCII; show them as text when they are."""
    try:
        decoded = bytes.fromhex(value).decode("ascii")
    except ValueError:
        return value
    return decoded if decoded.isprintable() and decoded else value
