"""Ask a meter for its number over IEC 62056-21 before reading its pushes.

The Netz OÖ AMIS sends its telegrams without its number (the M-Bus identification is zero);
its optical interface answers an IEC 62056-21 sign-on at 300 baud 7E1 with its identification
and a data readout that holds the number. The live reader asks once, at start, and goes on
without a number when the meter does not answer: the readings are what matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..link.iec62056_21 import (
    SIGN_ON,
    Identification,
    meter_number,
    option_select,
    parse_identification,
    parse_readout,
)
from ..operators import SerialSettings
from ..sources.base import Connection, Connector, SettingUnsupported

__all__ = ["MeterAnswer", "ask_meter_number"]


@dataclass(frozen=True, slots=True)
class MeterAnswer:
    identification: Identification | None
    number: str | None


async def ask_meter_number(connector: Connector, settings: SerialSettings, *,
                           answer_within: float = 2.5, attempts: int = 2,
                           readout_within: float = 20.0) -> MeterAnswer:
    """Sign on, read the identification and the data readout, close. A meter busy with a
    telegram may miss the first sign-on, so it is sent ``attempts`` times; the readout at
    300 baud takes seconds (30 characters a second)."""
    try:
        connection = await connector.open(settings)
    except SettingUnsupported:  # a pseudo-terminal has no parity
        try:
            connection = await connector.open(replace(settings, parity="N"))
        except SettingUnsupported:  # nor this: the port cannot be asked; read without
            return MeterAnswer(None, None)
    try:
        received = bytearray()
        identification = None
        for _ in range(attempts):
            connection.write(SIGN_ON)
            if await _wait(connection, received, answer_within,
                           lambda data: parse_identification(data) is not None):
                identification = parse_identification(bytes(received))
                break
        if identification is None:
            return MeterAnswer(None, None)
        received.clear()
        connection.write(option_select("0"))
        await _wait(connection, received, readout_within,
                    lambda data: parse_readout(data) is not None)
        readout = parse_readout(bytes(received))
        return MeterAnswer(identification, meter_number(readout) if readout else None)
    finally:
        await connection.close()


async def _wait(connection: Connection, received: bytearray, within: float,
                done: Callable[[bytes], bool]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := deadline - loop.time()) > 0:
        chunk = await connection.read(min(left, 0.25))
        if chunk.data:
            received += chunk.data
            if done(bytes(received)):
                return True
    return False
