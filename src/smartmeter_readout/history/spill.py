"""Readings that could not be stored before a stop, kept for the next start.

A stop during an outage (the disk full, the database locked) would otherwise end with readings
in memory only. ``Spill.save`` writes them to a file beside the database, which the next start
replays (``load``) and removes once they are stored (``clear``).

A full disk would refuse the spill too, so space for it is held back while the disk has room:
a reserve file of ``reserve`` bytes (``hold``), deleted just before the spill is written. A
reading takes about 35 bytes in the spill (gzip over JSON lines, 100 readings a member): the
default of 1 MiB holds some 30,000, more than the service keeps in memory. What still does not
fit is counted by ``save``, so the caller can say how many readings are lost.

Format: gzip members, one per chunk, each a run of JSON lines ``[[output, ...], reading]``. A
member cut short (the machine went down while writing) is left out when loading.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..reading import Reading

__all__ = ["Spill", "private_file"]

RESERVE = 1 << 20
_CHUNK = 100
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

Entry = tuple[tuple[str, ...], Reading]


def private_file(path: Path) -> None:
    """Create ``path`` (empty) readable by its owner only, if it is not there: SQLite gives
    the ``-wal`` and ``-shm`` files it makes the mode of the database file."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Spill:
    def __init__(self, path: str | Path, reserve: int = RESERVE) -> None:
        self.path = Path(path)
        self.reserve_path = self.path.with_name(self.path.name + ".reserve")
        self.reserve = reserve

    def hold(self) -> bool:
        """Keep ``reserve`` bytes for a spill (the file is written out, not sparse); False
        where the disk has no room for it now (less than four times that free)."""
        if self.reserve_path.exists() and self.reserve_path.stat().st_size >= self.reserve:
            return True
        try:
            if shutil.disk_usage(self.path.parent).free < 4 * self.reserve:
                return False  # what room there is goes to the readings first
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                block = os.urandom(65536)  # not zeros: a compressing file system keeps them
                for _start in range(0, self.reserve, len(block)):
                    os.write(fd, block)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            self.reserve_path.unlink(missing_ok=True)
            return False
        return True

    def save(self, entries: Sequence[Entry]) -> int:
        """Append ``entries`` to the spill, the reserve freed first; how many were kept (the
        first ones: a chunk that does not fit is cut off with all after it)."""
        if not entries:
            return 0
        with contextlib.suppress(OSError):
            self.reserve_path.unlink(missing_ok=True)
        kept = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError:
            return 0
        try:
            good = os.fstat(fd).st_size
            for start in range(0, len(entries), _CHUNK):
                chunk = entries[start:start + _CHUNK]
                text = "".join(_COMPACT.encode([list(names), reading.to_dict(full=True)]) + "\n"
                               for names, reading in chunk)
                packer = zlib.compressobj(6, zlib.DEFLATED, 31)
                data = packer.compress(text.encode()) + packer.flush()
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, good)  # no member cut short; its space comes back
                    break
                good += len(data)
                kept += len(chunk)
        finally:
            os.close(fd)
        return kept

    def load(self) -> list[Entry]:
        """What earlier stops kept, in order (empty without a spill)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return []
        entries: list[Entry] = []
        while data:
            unpacker = zlib.decompressobj(31)
            try:
                text = unpacker.decompress(data)
            except zlib.error:
                break
            if not unpacker.eof:
                break  # cut short
            for line in text.decode("utf-8", "replace").splitlines():
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    names, reading = json.loads(line)
                    entries.append((tuple(names), Reading.from_dict(reading)))
            data = unpacker.unused_data
        return entries

    def clear(self) -> None:
        """The spill's readings are stored: forget them."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
