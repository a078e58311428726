"""A program's output as the source: ``rtl_sdr … | rtl_wmbus`` for an RTL-SDR (issue 24).

The command runs in a shell of its own process group; what it writes to standard output
is the stream (its standard error is left to the service's). When it ends, the source is
lost and the reader starts it again after its back-off, as it reopens an unplugged port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING

from ..i18n import _
from .base import NOTHING, Chunk, SourceLost, SourceUnavailable

if TYPE_CHECKING:
    from ..operators import SerialSettings

__all__ = ["CommandConnector"]

_CHUNK = 1 << 16


class CommandConnection:
    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self._process = process
        self._name = name

    async def read(self, timeout: float) -> Chunk:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            data = await asyncio.wait_for(stdout.read(_CHUNK), timeout)
        except TimeoutError:
            return NOTHING
        if not data:
            code = await self._process.wait()
            raise SourceLost(_("{source}: the command ended (exit code {code})",
                               source=self._name, code=code))
        return Chunk(None, data)

    def write(self, data: bytes) -> None:
        """A receiver program takes no commands: what the reader would send is dropped."""

    async def close(self) -> None:
        process = self._process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


class CommandConnector:
    def __init__(self, command: str) -> None:
        self.command = command
        self.name = f"command {(command.split(maxsplit=1) or [command])[0]}"
        self.settings: tuple[SerialSettings, ...] = ()
        self.readout: SerialSettings | None = None

    async def open(self, settings: SerialSettings | None = None) -> CommandConnection:
        try:
            process = await asyncio.create_subprocess_shell(
                self.command, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise SourceUnavailable(_("{source}: cannot start: {reason}",
                                      source=self.name, reason=exc.strerror)) from None
        return CommandConnection(process, self.name)
