"""Smart meter readout: a DLMS/COSEM smart meter's customer interface, read inside Home
Assistant by the ``smartmeter-readout`` package (its public API: ``Decoder``, the live
reader, the detection ``doctor`` uses); nothing of the package is copied here."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .language import words
from .meter import MeterLink, applied

PLATFORMS = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    link = MeterLink(hass, entry, await words(hass))
    hass.data.setdefault(DOMAIN, {})[entry.entry_id] = link
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    link.start()
    entry.async_on_unload(entry.add_update_listener(_options_changed))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    link: MeterLink = hass.data[DOMAIN].pop(entry.entry_id)
    await link.stop()
    return unloaded


async def _options_changed(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """A new key or new options reload the entry; values remembered for the options list
    do not (the port stays open)."""
    link: MeterLink | None = hass.data.get(DOMAIN, {}).get(entry.entry_id)
    if link is None or link.applied != applied(entry):
        await hass.config_entries.async_reload(entry.entry_id)
