"""Play a capture file back as if it were arriving on the line, at its pace or faster."""

from __future__ import annotations

from pathlib import Path

from ..capture.format import Chunk, is_capture, parse_capture
from ..i18n import _, localize
from ..operators import SerialSettings
from ._pacing import Schedule
from .base import NOTHING, SourceFatal, SourceFinished

__all__ = ["ReplayConnection", "ReplayConnector", "load_capture"]

_RAW_CHUNK = 256


def load_capture(path: str | Path) -> list[Chunk]:
    """A capture file, or a raw binary one (no receive times: one chunk per 256 bytes)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SourceFatal(_("cannot read the capture {path}: {reason}", path=path,
                            reason=exc.strerror)) from None
    if is_capture(raw):
        try:
            return list(parse_capture(raw.decode("utf-8", "replace")))
        except ValueError as exc:
            raise SourceFatal(f"{path}: {localize(exc)}") from None
    return [Chunk(None, raw[at : at + _RAW_CHUNK]) for at in range(0, len(raw), _RAW_CHUNK)]


class ReplayConnector:
    settings: tuple[SerialSettings, ...] = ()
    readout: SerialSettings | None = None

    def __init__(self, path: str | Path, *, speed: float = 1.0) -> None:
        """``speed`` 1: original pace; 10: ten times faster; 0: as fast as possible."""
        self.path = Path(path)
        self.name = f"replay {self.path.name}"
        self.speed = speed
        self._done = False

    async def open(self, settings: SerialSettings | None = None) -> ReplayConnection:
        if self._done:
            raise SourceFinished(f"{self.name}: played to the end")
        self._done = True
        return ReplayConnection(load_capture(self.path), self.speed, self.name)


class ReplayConnection:
    def __init__(self, chunks: list[Chunk], speed: float, name: str) -> None:
        self._chunks = chunks
        self._next = 0
        self._speed = speed
        self._name = name
        self._schedule = Schedule()

    async def read(self, timeout: float) -> Chunk:
        """The next recorded chunk, with the time it was received when it was recorded."""
        if self._next >= len(self._chunks):
            raise SourceFinished(f"{self._name}: played to the end")
        if not await self._schedule.reached(timeout):
            return NOTHING
        chunk = self._chunks[self._next]
        self._next += 1
        if self._next < len(self._chunks):
            self._schedule.next(self._gap(chunk, self._chunks[self._next]))
        return chunk

    def _gap(self, chunk: Chunk, following: Chunk) -> float:
        if not self._speed or chunk.received is None or following.received is None:
            return 0.0
        return max(0.0, (following.received - chunk.received).total_seconds() / self._speed)

    def write(self, data: bytes) -> None:
        pass  # a capture does not listen

    async def close(self) -> None:
        pass
