"""Readings on standard output, as ``read`` prints them (for running in the foreground)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ..reading import Reading
from .base import SinkBase
from .formats import csv_text, render

__all__ = ["ConsoleSink"]


class ConsoleSink(SinkBase):
    durable = False

    def __init__(self, fmt: str = "table", stream: TextIO | None = None) -> None:
        self.name = "console"
        self.format = fmt
        self.stream = stream or sys.stdout
        self._columns: list[str] | None = None
        self._count = 0

    async def start(self) -> None:
        pass

    async def write(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            if self.format == "jsonl":
                text = json.dumps(reading.to_dict(), ensure_ascii=False) + "\n"
            elif self.format == "csv":
                text, self._columns = csv_text([reading], header=self._columns is None,
                                               columns=self._columns)
            else:
                text = render([reading], self.format)
                if self.format == "table" and self._count:
                    text = "\n" + text
            self._count += 1
            self.stream.write(text)
        self.stream.flush()

    async def close(self) -> None:
        pass
