"""Times as people type them: ISO dates and times, ``-2h``/``-7d``, ``today``, ``yesterday``.

Shared by ``history --since/--until`` and the web API's ``from``/``to``. A time without an
offset is in the meter's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from ..i18n import _

__all__ = ["parse_when"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"-(\d{1,9})([smhdw])")


def parse_when(text: str, tz: tzinfo, now: datetime | None = None) -> datetime:
    """The moment ``text`` names; ValueError with the accepted forms when it names none."""
    now = now or datetime.now(tz)
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - timedelta(seconds=int(relative.group(1)) * _UNITS[relative.group(2)])
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return midnight
    if text == "yesterday":
        return midnight - timedelta(days=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("{text!r} is not a time: use e.g. 2026-11-20, 2026-11-20T08:00, "
                           "-2h, -7d, today or yesterday", text=text)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
