"""COSEM date-time, date and time (Blue Book 4.1.6.1) to and from ``datetime``.

    date-time (12): year(2) month day weekday | hour minute second hundredths |
                    deviation(2, int16 minutes) | clock status
    date (5): year(2) month day weekday        time (4): hour minute second hundredths

0xFF (0xFFFF for the year) means "not specified". The deviation is UTC minus local time in
minutes, so CEST is sent as -120 (0xFF88); 0x8000 means not specified: then the clock is
local time of the configured zone, and the DST bit (status 0x80) picks the right one of the
two hours that repeat when summer time ends.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo

__all__ = [
    "DST", "UNSPECIFIED_DEVIATION", "decode_date", "decode_datetime", "decode_time",
    "encode_datetime", "looks_like_datetime",
]

UNSPECIFIED_DEVIATION = -0x8000
DST = 0x80
_ZONES: dict[int, timezone] = {}


def looks_like_datetime(raw: bytes) -> bool:
    """True when 12 bytes can be a date-time (used to tell clocks from 12-char strings)."""
    if len(raw) != 12:
        return False
    month, day, weekday, hour, minute, second = raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]
    return (
        (1 <= month <= 12 or month in (0xFD, 0xFE, 0xFF))
        and (1 <= day <= 31 or day >= 0xFD)
        and (weekday <= 7 or weekday == 0xFF)  # Aidon and ZMF100 send weekday 0
        and (hour <= 23 or hour == 0xFF)
        and (minute <= 59 or minute == 0xFF)
        and (second <= 59 or second == 0xFF)
    )


def _zone(minutes: int) -> timezone:
    zone = _ZONES.get(minutes)
    if zone is None:
        zone = _ZONES[minutes] = timezone(timedelta(minutes=minutes))
    return zone


def decode_datetime(raw: bytes, local: tzinfo) -> datetime | None:
    """An aware datetime, or None when the date or time is not fully specified."""
    if len(raw) != 12:
        return None
    year = raw[0] << 8 | raw[1]
    month, day, hour, minute, second, hundredths = raw[2], raw[3], raw[5], raw[6], raw[7], raw[8]
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    micro = hundredths * 10_000 if hundredths < 100 else 0
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    try:
        if deviation == UNSPECIFIED_DEVIATION or not -840 <= deviation <= 840:
            naive = datetime(year, month, day, hour, minute, second, micro)
            # fold=0 is the first (summer-time) occurrence of a repeated hour
            fold = 1 if raw[11] != 0xFF and not raw[11] & DST else 0
            return naive.replace(tzinfo=local, fold=fold)
        return datetime(year, month, day, hour, minute, second, micro,
                        tzinfo=_zone(-deviation))
    except ValueError:  # day 31 in a 30-day month and the like
        return None


def decode_date(raw: bytes) -> date | None:
    if len(raw) != 5:
        return None
    try:
        return date(raw[0] << 8 | raw[1], raw[2], raw[3])
    except ValueError:
        return None


def decode_time(raw: bytes) -> time | None:
    if len(raw) != 4:
        return None
    try:
        return time(raw[0], raw[1], raw[2], raw[3] * 10_000 if raw[3] < 100 else 0)
    except ValueError:
        return None


def encode_datetime(moment: datetime, *, deviation: bool = True,
                    hundredths: bool = False) -> bytes:
    """Encode an aware datetime as a meter does: with its deviation, or local with 0x8000."""
    offset = moment.utcoffset()
    dst = moment.dst()
    status = DST if dst else 0x00
    dev = UNSPECIFIED_DEVIATION
    if deviation and offset is not None:
        dev = -int(offset.total_seconds() // 60)
    return (
        moment.year.to_bytes(2, "big")
        + bytes((moment.month, moment.day, moment.isoweekday(), moment.hour, moment.minute,
                 moment.second, moment.microsecond // 10_000 if hundredths else 0xFF))
        + dev.to_bytes(2, "big", signed=True)
        + bytes((status,))
    )
