"""The one model everything downstream consumes: a Reading per push.

``Reading.to_dict()`` is the JSON contract of ARCHITECTURE.md. Measurements are named tuples
(immutable and cheap: a push carries a dozen or more, and decoding must stay fast on a Pi).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["Measurement", "MeterIdentity", "Reading", "topic_part"]

Value = int | float | str


class Measurement(NamedTuple):
    """One value of a push: ``name`` from the OBIS registry, ``value`` in base units."""

    name: str
    value: Value
    unit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit}


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    system_title: str | None = None  # hex
    manufacturer: str | None = None  # the three-letter code at the start of the system title
    id: str | None = None  # meter number (0.0.96.1.0.255 or the layout's meter-number field)
    device_name: str | None = None  # COSEM logical device name (0.0.42.0.0.255)
    list_id: str | None = None  # push list id or push-setup name, where the meter sends one
    name: str | None = None  # what the config calls the meter ("Top 3", "PV"), if anything

    def to_dict(self) -> dict[str, Any]:
        data = {"system_title": self.system_title, "manufacturer": self.manufacturer,
                "id": self.id, "device_name": self.device_name, "list_id": self.list_id}
        if self.name:  # only where the config names its meters: the contract stays as it was
            data["name"] = self.name
        return data


def _iso(moment: datetime | None, *, millis: bool = False) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds" if millis else "auto")


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded push."""

    time: datetime | None  # the meter's clock, else the receive time
    received: datetime | None
    meter: MeterIdentity
    frame_counter: int | None
    values: Mapping[str, Measurement]  # keyed by OBIS code as the meter sent it
    layout: str = ""  # which body layout was recognised (A, B, C, D1, E, F, a profile name)
    security: str = "none"  # none | encrypted | authenticated
    meter_time: bool = field(default=True)  # False when ``time`` is the receive time

    def value(self, key: str) -> Any:
        """The value of an OBIS code or registry name, or None."""
        measurement = self.values.get(key)
        if measurement is None:
            for candidate in self.values.values():
                if candidate.name == key:
                    return candidate.value
            return None
        return measurement.value

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The JSON contract; ``full`` adds layout, security and meter_time (for storage)."""
        data = {
            "time": _iso(self.time),
            "received": _iso(self.received, millis=True),
            "meter": self.meter.to_dict(),
            "frame_counter": self.frame_counter,
            "values": {key: m.to_dict() for key, m in self.values.items()},
        }
        if full:
            data.update(layout=self.layout, security=self.security, meter_time=self.meter_time)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reading:
        """The inverse of ``to_dict`` (outboxes and history store readings as JSON)."""
        def moment(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        return cls(
            time=moment(data.get("time")),
            received=moment(data.get("received")),
            meter=MeterIdentity(**data.get("meter", {})),
            frame_counter=data.get("frame_counter"),
            values={key: Measurement(m["name"], m["value"], m.get("unit"))
                    for key, m in data.get("values", {}).items()},
            layout=data.get("layout", ""),
            security=data.get("security", "none"),
            meter_time=data.get("meter_time", True),
        )

    @property
    def meter_key(self) -> str:
        """A short stable name for the meter: the name the config gives it, else its number,
        else its system title (two simulators of one profile differ only by name)."""
        meter = self.meter
        return meter.name or meter.id or meter.system_title or "meter"


def topic_part(text: str) -> str:
    """A meter's name as it can stand in an MQTT topic, a client id or an entity id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)
