"""A push without link framing that the link layer can delimit itself: a DSMR P1 telegram.

A DSMR telegram runs from ``/`` to ``!`` and four hex digits of CRC-16/ARC (DSMR 5) or to ``!``
alone (DSMR 2.2/3). A false start in noise is rejected by the telegram header. (Bare APDUs,
whose end only the APDU knows, are delimited by ``dlms.bare``.)
"""

from __future__ import annotations

import re

from ..message import N_
from .checksums import crc16_arc
from .frames import DsmrTelegram
from .results import NEED_MORE, NOT_A_FRAME, Broken, Found, ParseResult

__all__ = ["MAX_TELEGRAM", "parse_dsmr_text"]

MAX_TELEGRAM = 8192  # no telegram is longer; a "start" claiming more is noise
_DSMR_HEADER = re.compile(rb"/[A-Za-z]{3}[0-9A-Za-z]")
_DSMR_END = re.compile(rb"!([0-9A-Fa-f]{4})?\r?\n")


def parse_dsmr_text(buf: bytes | bytearray, pos: int) -> ParseResult:
    if len(buf) - pos < 5:
        return NEED_MORE
    if not _DSMR_HEADER.match(buf, pos):
        return NOT_A_FRAME
    end = _DSMR_END.search(buf, pos, pos + MAX_TELEGRAM)
    if end is None:
        if len(buf) - pos >= MAX_TELEGRAM:
            return NOT_A_FRAME
        return NEED_MORE
    crc = end.group(1)
    bang = end.start()
    if crc is not None and crc16_arc(buf[pos : bang + 1]) != int(crc, 16):
        return Broken(N_("DSMR telegram CRC mismatch"), end.end() - pos)
    return Found(end.end() - pos, DsmrTelegram(bytes(buf[pos : end.end()])))
