"""Home Assistant's words for a meter and its values, shared by the MQTT discovery and the
native integration (``custom_components/smartmeter_readout``), so both show a meter alike.

No I/O and no MQTT client here: the integration runs inside Home Assistant, where the ``mqtt``
extra is not installed. The rules are those every Home Assistant release of the last two years
accepts (tests/test_homeassistant.py checks them against 2024.3's own schema and later
releases' code): reactive energy has no device class (``reactive_energy`` came with 2025.6),
energy counters are ``total_increasing`` in Wh, a phase angle's unit is spelled ``°``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..operators import MAKERS
from ..reading import Measurement, Reading, topic_part

__all__ = ["SensorKind", "device_info", "sensor_kind"]


class SensorKind(NamedTuple):
    device_class: str | None
    state_class: str
    unit: str | None  # as Home Assistant spells it


#: unit -> (device_class, state_class); strings and clocks get no sensor
_CLASSES: dict[str | None, tuple[str | None, str]] = {
    "Wh": ("energy", "total_increasing"), "varh": (None, "total_increasing"),
    "W": ("power", "measurement"), "var": ("reactive_power", "measurement"),
    "VA": ("apparent_power", "measurement"), "V": ("voltage", "measurement"),
    "A": ("current", "measurement"), "Hz": ("frequency", "measurement"),
    "": ("power_factor", "measurement"), None: (None, "measurement"),
}
_UNITS = {"deg": "°"}


def sensor_kind(measurement: Measurement) -> SensorKind | None:
    """How Home Assistant should show ``measurement``; None for text and clocks."""
    if isinstance(measurement.value, str | bool):
        return None
    device_class, state_class = _CLASSES.get(measurement.unit, (None, "measurement"))
    unit = _UNITS.get(measurement.unit, measurement.unit) if measurement.unit else None
    return SensorKind(device_class, state_class, unit)


def device_info(reading: Reading) -> dict[str, Any]:
    """The meter as Home Assistant's device: what the push tells of it (maker, number and,
    where it sends one, its list id), named as the config names it, if it does."""
    meter = topic_part(reading.meter_key)
    maker = reading.meter.manufacturer or ""
    made_by = MAKERS.get(maker[:3], maker or "")
    return {
        "identifiers": [f"smartmeter_{meter}"],
        "name": reading.meter.name or f"Smart meter {reading.meter.id or meter}",
        "manufacturer": made_by or "unknown",
        "model": " ".join(part for part in (made_by, "smart meter", reading.meter.list_id)
                          if part),
        "serial_number": reading.meter.id or reading.meter.system_title or meter,
    }
