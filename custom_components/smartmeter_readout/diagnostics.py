""""Download diagnostics": what detection found, the reader's counters and state, and the
recent pushes as a redacted capture (as ``smartmeter-readout record --redact`` writes it,
which ``smartmeter-readout decode`` reads). Never the keys, nor the meter's own numbers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from smartmeter_readout import __version__

from . import const
from .meter import MeterLink

TO_REDACT = {const.CONF_KEY, const.CONF_AUTH_KEY, "serial_number", "system_title", "asked_number"}


async def async_get_config_entry_diagnostics(hass: HomeAssistant,
                                             entry: ConfigEntry) -> dict[str, Any]:
    link: MeterLink | None = hass.data.get(const.DOMAIN, {}).get(entry.entry_id)
    data = async_redact_data(dict(entry.data), TO_REDACT)
    data.pop(const.CONF_VALUES, None)
    return {
        "package_version": __version__,
        "entry": {"title": "**REDACTED**", "data": data, "options": dict(entry.options)},
        "detection": {name: entry.data.get(name) for name in
                      (const.CONF_SETTINGS, const.CONF_FRAMING, const.CONF_OPERATOR)},
        "values": [obis for obis, _name, _unit in entry.data.get(const.CONF_VALUES, [])],
        "reader": link.status() if link else None,
        "capture": link.redacted_capture() if link else None,
    }
