"""Readings on standard output, as ``read`` prints them (for running in the foreground)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from ..reading import Reading
from .base import SinkBase
from .formats import Printer

__all__ = ["ConsoleSink"]


class ConsoleSink(SinkBase):
    durable = False

    def __init__(self, fmt: str = "table", stream: TextIO | None = None) -> None:
        self.name = "console"
        self.format = fmt
        self.stream = stream or sys.stdout
        self._printer = Printer(fmt, self.stream)

    async def start(self) -> None:
        pass

    async def write(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            self._printer.print(reading)
        self.stream.flush()

    async def close(self) -> None:
        pass
