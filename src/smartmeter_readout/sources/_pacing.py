"""Paced sources (replay, simulator) deliver on a schedule kept in event-loop time.

Every call of ``reached`` yields to the event loop at least once, also when the source is
behind its schedule (replay at speed 0, a CPU that cannot keep up): a paced source must never
starve the loop, or signals, the web page and the outputs would wait with it.
"""

from __future__ import annotations

import asyncio
import math

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
        await asyncio.sleep(wait if wait > 0 else 0)  # behind schedule: still let others run
        return True

    def next(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a pause of {seconds} s between deliveries is impossible")
        assert self.due is not None
        self.due += seconds
