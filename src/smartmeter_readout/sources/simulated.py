"""The built-in simulator as a source: pushes of a profile as bytes, every interval.

No pseudo-terminal in between (``simulate`` is for that): the service's ``[source] simulate``
and ``demo`` take the bytes straight from the simulator, framed and encrypted like the real
meter, through the same decoder as a serial port's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..operators import SerialSettings
from ..sim.simulator import Simulator
from ._pacing import Schedule
from .base import NOTHING, Chunk

__all__ = ["SimulatedConnector"]


class SimulatedConnector:
    settings: tuple[SerialSettings, ...] = ()
    readout: SerialSettings | None = None

    def __init__(self, simulator: Simulator, interval: float | None = None) -> None:
        self.simulator = simulator
        self.interval = interval if interval is not None else simulator.profile.interval
        self.name = f"simulated {simulator.profile.name} meter"

    async def open(self, settings: SerialSettings | None = None) -> SimulatedConnection:
        return SimulatedConnection(self.simulator, self.interval)


class SimulatedConnection:
    def __init__(self, simulator: Simulator, interval: float) -> None:
        self._simulator = simulator
        self._interval = interval
        self._schedule = Schedule()

    async def read(self, timeout: float) -> Chunk:
        if not await self._schedule.reached(timeout):
            return NOTHING
        self._schedule.next(self._interval)
        return Chunk(None, self._simulator.push(datetime.now(UTC)).wire)

    def write(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass
