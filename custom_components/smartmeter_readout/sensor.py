"""One sensor per value the meter sends, classed as the MQTT discovery classes them
(``smartmeter_readout.sinks.homeassistant``), so the Energy dashboard takes the counters as
they are."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from smartmeter_readout import Measurement, Reading
from smartmeter_readout.reading import topic_part
from smartmeter_readout.sinks.formats import LABELS
from smartmeter_readout.sinks.homeassistant import SensorKind, sensor_kind

from . import const
from .meter import MeterLink, signal_available, signal_reading


def enabled_values(entry: ConfigEntry) -> list[tuple[str, str, str | None]]:
    """(OBIS, name, unit) of every value that is an entity: the options' choice, else every
    number the meter sent at setup."""
    known = [tuple(value) for value in entry.data.get(const.CONF_VALUES, [])]
    chosen = entry.options.get(const.CONF_ENABLED)
    return [value for value in known if chosen is None or value[0] in chosen]  # type: ignore[misc]


def device(entry: ConfigEntry) -> DeviceInfo:
    """The meter as the first push told of it (maker, model, number, software version)."""
    meter = entry.data.get(const.CONF_METER, {})
    return DeviceInfo(identifiers={(const.DOMAIN, entry.unique_id or entry.entry_id)},
                      name=entry.title, manufacturer=meter.get("manufacturer") or None,
                      model=meter.get("model") or None,
                      serial_number=meter.get("serial_number") or None,
                      sw_version=meter.get("sw_version") or None)


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry,
                            async_add_entities: AddEntitiesCallback) -> None:
    link: MeterLink = hass.data[const.DOMAIN][entry.entry_id]
    words = link.words
    entities: dict[str, MeterValueSensor] = {}
    chosen = entry.options.get(const.CONF_ENABLED)

    def make(obis: str, name: str, kind: SensorKind) -> MeterValueSensor:
        label = words(LABELS[name]) if name in LABELS else name.replace("_", " ").capitalize()
        return MeterValueSensor(link, entry, obis, label, kind)

    for obis, name, unit in enabled_values(entry):
        kind = sensor_kind(Measurement(name, 0, unit))
        if kind is not None:
            entities[obis] = make(obis, name, kind)
    wanted = {entity.unique_id for entity in entities.values()}
    registry = er.async_get(hass)
    for old in er.async_entries_for_config_entry(registry, entry.entry_id):
        if old.domain == "sensor" and old.unique_id not in wanted and chosen is not None:
            registry.async_remove(old.entity_id)  # switched off in the options: gone
    async_add_entities(entities.values())

    seen: set[str] = set()  # the values looked at: a push repeats them

    @callback
    def new_values(reading: Reading) -> None:
        """Values the meter did not send at setup (a longer list at the quarter hour) become
        entities too, unless the options chose which."""
        if reading.values.keys() <= seen:  # every push but those with a value not seen
            return
        seen.update(reading.values)
        added = []
        known = {value[0] for value in entry.data.get(const.CONF_VALUES, [])}
        new = [[obis, m.name, m.unit] for obis, m in reading.values.items()
               if obis not in known and sensor_kind(m) is not None]
        if new:  # offered in the options from now on (no reload: see _options_changed)
            hass.config_entries.async_update_entry(entry, data={
                **entry.data, const.CONF_VALUES: [*entry.data.get(const.CONF_VALUES, []),
                                                  *new]})
        for obis, measurement in reading.values.items():
            kind = sensor_kind(measurement)
            if obis in entities or kind is None or chosen is not None:
                continue
            entities[obis] = entity = make(obis, measurement.name, kind)
            entity.update_from(reading)
            added.append(entity)
        if added:
            async_add_entities(added)

    entry.async_on_unload(async_dispatcher_connect(
        hass, signal_reading(entry.entry_id), new_values))


class MeterValueSensor(SensorEntity):
    """A value of the meter's push, kept up to date by its ``MeterLink``."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, link: MeterLink, entry: ConfigEntry, obis: str, label: str,
                 kind: SensorKind) -> None:
        self._link = link
        self._obis = obis
        self._attr_name = label
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_{topic_part(obis)}"
        if kind.device_class:
            self._attr_device_class = SensorDeviceClass(kind.device_class)
        self._attr_state_class = SensorStateClass(kind.state_class)
        self._attr_native_unit_of_measurement = kind.unit
        self._attr_device_info = device(entry)
        self._attr_extra_state_attributes: dict[str, Any] = {"obis": obis}

    @property
    def available(self) -> bool:
        return self._link.available and self._attr_native_value is not None

    async def async_added_to_hass(self) -> None:
        entry_id = self._link.entry.entry_id
        self.async_on_remove(async_dispatcher_connect(
            self.hass, signal_reading(entry_id), self._reading))
        self.async_on_remove(async_dispatcher_connect(
            self.hass, signal_available(entry_id), self.async_write_ha_state))
        if self._link.latest is not None:
            self.update_from(self._link.latest)

    def update_from(self, reading: Reading) -> None:
        measurement = reading.values.get(self._obis)
        self._attr_native_value = None if measurement is None else measurement.value

    @callback
    def _reading(self, reading: Reading) -> None:
        if self._obis in reading.values:
            self.update_from(reading)
            self.async_write_ha_state()
