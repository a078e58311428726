"""One notification body's meaning before it becomes a Reading: values, clock, identity.

Shared by the layouts that find the meaning (``layouts``), the fast path that reuses it
(``template``), the units implied by maker tables (``implied_units``) and DSMR text
(``dsmr``). Scaled values are exact: ``raw / 10**n`` is correctly rounded, so 2337 with
scaler -1 is the float nearest 233.7, printed as 233.7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..dlms import axdr
from ..reading import Measurement

__all__ = ["DATETIME_VALUE", "NUMBER", "Body", "scale"]

_POW10 = tuple(10**n for n in range(20))

NUMBER, DATETIME_VALUE = 0, 1


@dataclass(slots=True)
class Body:
    """The meaning of one notification body, before it becomes a Reading.

    ``slots`` records which leaf node became which value (node, key, name, unit, scaler,
    kind) and ``clock_node`` which leaf became the clock: everything else in the body is
    constant for this meaning, which is what lets ``template`` decode the next push of the
    same shape without walking it again.
    """

    layout: str
    values: dict[str, Measurement] = field(default_factory=dict)
    clock: datetime | None = None
    meter_id: str | None = None
    device_name: str | None = None
    list_id: str | None = None
    slots: list[tuple[axdr.Node, str, str, str | None, int, int]] = field(default_factory=list)
    clock_node: axdr.Node | None = None
    cacheable: bool = True


def scale(raw: Any, scaler: int) -> Any:
    """``raw x 10**scaler``, exact for the scalers meters send (int8, so at most 10**127)."""
    if not scaler or type(raw) is not int:
        return raw
    if scaler > 0:
        return raw * (_POW10[scaler] if scaler < 20 else 10**scaler)
    return raw / _POW10[-scaler] if -scaler < 20 else raw * 10.0**scaler


