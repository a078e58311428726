"""Paced sources (replay, simulator) deliver on a schedule kept in event-loop time."""

from __future__ import annotations

import asyncio

__all__ = ["Schedule"]


class Schedule:
    """When the next delivery is due; ``reached(timeout)`` waits for it, at most ``timeout``."""

    def __init__(self) -> None:
        self.due: float | None = None

    async def reached(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        if self.due is None:
            self.due = loop.time()
        wait = self.due - loop.time()
        if wait > timeout:
            await asyncio.sleep(timeout)
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    def next(self, seconds: float) -> None:
        assert self.due is not None
        self.due += seconds
