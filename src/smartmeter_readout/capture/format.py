"""Capture files: what arrived on the line, with receive times, as text.

Format (version 1), UTF-8 text, one chunk per line as the reader received it::

    # smartmeter-readout capture 1
    # source: /dev/ttyUSB0 2400 8N1
    2026-11-21T10:00:00.123456+00:00 68fafa6853ff000167db08...
    2026-11-21T10:00:00.141027+00:00 ...

A line is the receive time (ISO 8601, UTC) and the bytes in hex; lines starting with ``#``
are comments. Text keeps captures greppable, diffable and safe to paste into an issue;
``decode`` reads them (and plain hex dumps and raw binary captures) and uses the receive
times. ``record --raw`` writes the bytes alone instead, as ``cat /dev/ttyUSB0`` would.
Keys are never written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from ..i18n import _

__all__ = ["MAGIC", "Chunk", "format_chunk", "format_header", "is_capture", "parse_capture"]

MAGIC = "# smartmeter-readout capture 1"


@dataclass(frozen=True, slots=True)
class Chunk:
    received: datetime | None
    data: bytes


def format_header(source: str, settings: str | None = None,
                  notes: Iterable[str] = ()) -> str:
    lines = [MAGIC, f"# source: {source}" + (f" {settings}" if settings else "")]
    lines += [f"# {note}" for note in notes]
    return "\n".join(lines) + "\n"


def format_chunk(received: datetime, data: bytes) -> str:
    return f"{received.isoformat(timespec='microseconds')} {data.hex()}\n"


def is_capture(raw: bytes) -> bool:
    return raw.lstrip().startswith(MAGIC.encode())


def parse_capture(text: str) -> Iterator[Chunk]:
    """The chunks of a capture file; ValueError names the line that is not one."""
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        stamp, _space, payload = line.partition(" ")
        try:
            received = datetime.fromisoformat(stamp)
            data = bytes.fromhex(payload)
        except ValueError:
            raise ValueError(_("line {number} of the capture is not '<time> <hex bytes>'",
                               number=number)) from None
        yield Chunk(received, data)
