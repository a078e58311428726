"""Set a meter up from Home Assistant's UI: the port (or a serial bridge), the key, then the
detection ``smartmeter-readout doctor`` does (serial settings, framing, maker, the first push
decrypted), ending with the first reading for the user to confirm, or with doctor's
one-sentence verdict and the way back to the step that can fix it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.core import callback
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from smartmeter_readout import KeyFormatError, Reading
from smartmeter_readout.i18n import localize
from smartmeter_readout.keys import parse_key
from smartmeter_readout.live import Diagnosis, Verdict, ask_meter_number, diagnose
from smartmeter_readout.sinks.formats import LABELS
from smartmeter_readout.sinks.homeassistant import device_info, sensor_kind
from smartmeter_readout.sources.address import connector_for
from smartmeter_readout.sources.base import SourceError

from . import const
from .language import words

DETECT_SECONDS = 30.0  # per serial setting: the slowest meters push every 10-15 s
_WORKS = (Verdict.DECODED, Verdict.IMPLAUSIBLE)
_LINE_PROBLEMS = (Verdict.CANNOT_OPEN, Verdict.NO_BYTES, Verdict.NO_FRAMES)
_SHOWN = ("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.1.7.0.255", "1.0.2.7.0.255",
          "1.0.32.7.0.255", "1.0.31.7.0.255")  # on the confirm screen, where sent


def list_serial_ports() -> list[SelectOptionDict]:
    """The serial ports this machine has, by their stable /dev/serial/by-id names (a
    ttyUSB number changes when adapters are plugged in another order). Blocking: run it in
    an executor."""
    from serial.tools.list_ports import comports

    by_id: dict[str, str] = {}
    folder = Path("/dev/serial/by-id")
    if folder.is_dir():
        for link in folder.iterdir():
            by_id[os.path.realpath(link)] = str(link)
    options = []
    for port in sorted(comports(), key=lambda p: p.device):
        path = by_id.get(os.path.realpath(port.device), port.device)
        detail = ", ".join(part for part in (port.manufacturer, port.description)
                           if part and part != "n/a")
        options.append(SelectOptionDict(value=path, label=f"{path} ({detail})" if detail
                                        else path))
    return options


def number_text(value: float, decimals: int, language: str) -> str:
    """4631.078 as Home Assistant's language writes it: 4,631.078 or 4.631,078."""
    text = f"{value:,.{decimals}f}"
    if language.startswith("de"):
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def reading_lines(reading: Reading, language: str, words: Callable[[str], str]) -> str:
    """A few of the push's values as lines for people, energy in kWh."""
    lines = []
    for obis in _SHOWN:
        measurement = reading.values.get(obis)
        if measurement is None or not isinstance(measurement.value, int | float):
            continue
        label = words(LABELS.get(measurement.name, measurement.name))
        if measurement.unit == "Wh":
            shown = f"{number_text(measurement.value / 1000, 3, language)} kWh"
        else:
            shown = f"{number_text(measurement.value, 1, language)} {measurement.unit or ''}"
        lines.append(f"- {label}: {shown.strip()}")
    return "\n".join(lines)


def progress_text(lines: list[str]) -> str:
    """doctor's steps as a list: "1. Opening …" with its outcome ("ok", "2400 8N1: M-Bus
    frames") on the same line, not as a line of its own."""
    steps: list[str] = []
    for line in lines:
        if steps and not line[:1].isdigit():
            steps[-1] = f"{steps[-1]} — {line}"
        else:
            steps.append(line)
    return "\n".join(steps)


def _key_schema(defaults: dict[str, Any]) -> vol.Schema:
    secret = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
    return vol.Schema({
        vol.Optional(const.CONF_KEY, default=defaults.get(const.CONF_KEY, "")): secret,
        vol.Optional(const.CONF_AUTH_KEY, default=defaults.get(const.CONF_AUTH_KEY, "")): secret,
    })


def check_keys(user_input: dict[str, Any]) -> tuple[dict[str, str | None], dict[str, str],
                                                        str]:
    """The keys as 32 hex digits (any spelling the command line takes), or the errors and
    the reason in words."""
    keys: dict[str, str | None] = {}
    for name in (const.CONF_KEY, const.CONF_AUTH_KEY):
        text = (user_input.get(name) or "").strip()
        try:
            key = parse_key(text) if text else None
        except KeyFormatError as exc:
            return {}, {name: "invalid_key"}, localize(exc)
        keys[name] = key.hex().upper() if key else None
    return keys, {}, ""


class SmartMeterConfigFlow(ConfigFlow, domain=const.DOMAIN):
    """Port, key, detection, confirmation."""

    VERSION = 1

    def __init__(self) -> None:
        self._port = ""
        self._keys: dict[str, str | None] = {}
        self._task: asyncio.Task[Diagnosis] | None = None
        self._progress: list[str] = []
        self._diagnosis: Diagnosis | None = None
        self._words: Callable[[str], str] = str
        self._number: str | None = None  # asked of a meter whose pushes lack it

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        return SmartMeterOptionsFlow(config_entry)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        errors: dict[str, str] = {}
        reason = ""
        if user_input is not None:
            port = str(user_input[const.CONF_PORT]).strip()
            try:
                connector_for(port)
            except ValueError as exc:
                errors[const.CONF_PORT], reason = "invalid_port", localize(exc)
            else:
                self._async_abort_entries_match({const.CONF_PORT: port})
                self._port = port
                return await self.async_step_key()
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        default = self._port or (ports[0]["value"] if ports else "")
        schema = vol.Schema({vol.Required(const.CONF_PORT, default=default): SelectSelector(
            SelectSelectorConfig(options=ports, custom_value=True,
                                 mode=SelectSelectorMode.DROPDOWN))})
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors,
                                    description_placeholders={"reason": reason})

    async def async_step_key(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        errors: dict[str, str] = {}
        reason = ""
        if user_input is not None:
            keys, errors, reason = check_keys(user_input)
            if not errors:
                self._keys = keys
                return await self.async_step_detect()
        return self.async_show_form(step_id="key", data_schema=_key_schema({}), errors=errors,
                                    description_placeholders={"reason": reason,
                                                              "port": self._port})

    async def async_step_detect(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        if self._task is None:
            self._progress = []
            self._diagnosis = None
            self._number = None
            self._task = self.hass.async_create_task(self._detect())
        if not self._task.done():
            return self.async_show_progress(
                step_id="detect", progress_action="detect", progress_task=self._task,
                description_placeholders={"port": self._port,
                                          "progress": progress_text(self._progress)})
        task, self._task = self._task, None
        try:
            self._diagnosis = task.result()
        except SourceError as exc:  # doctor's verdicts cover the line; this is the rest
            self._diagnosis = Diagnosis(Verdict.CANNOT_OPEN, str(exc))
        works = self._diagnosis.verdict in _WORKS
        return self.async_show_progress_done(next_step_id="confirm" if works else "failed")

    async def _detect(self) -> Diagnosis:
        self._words = await words(self.hass)  # and the reader speaks Home Assistant's language
        connector = connector_for(self._port)

        def say(line: str) -> None:
            self._progress.append(line.strip())
            if self._task is not None and not self._task.done():  # the screen shows it
                self.hass.async_create_task(
                    self.hass.config_entries.flow.async_configure(self.flow_id))

        found = await diagnose(connector, key=self._keys.get(const.CONF_KEY),
                               auth_key=self._keys.get(const.CONF_AUTH_KEY),
                               timeout=DETECT_SECONDS, say=say)
        operator = found.operators[0] if len(found.operators) == 1 else None
        if (found.reading is not None and not found.reading.meter.id and operator is not None
                and operator.readout is not None and connector.settings):
            # the AMIS sends no number: it gives it when asked on its optical interface
            answer = await ask_meter_number(connector, operator.readout)
            self._number = answer.number
        return found

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        found = self._diagnosis
        assert found is not None and found.reading is not None
        reading = found.reading
        number = reading.meter.id or self._number
        await self.async_set_unique_id(number or reading.meter.system_title or self._port)
        self._abort_if_unique_id_configured()
        about = device_info(reading)
        if number or reading.meter.system_title:
            about["serial_number"] = number or reading.meter.system_title
        else:  # nothing names this meter: its port does
            about["serial_number"] = None
        maker = about["manufacturer"] if about["manufacturer"] != "unknown" else "Smart meter"
        title = f"{maker} {about['serial_number'] or self._port}"
        if user_input is not None:
            operator = found.operators[0].name if len(found.operators) == 1 else None
            values = [[obis, m.name, m.unit] for obis, m in reading.values.items()
                      if sensor_kind(m) is not None]
            return self.async_create_entry(title=title, data={
                const.CONF_PORT: self._port, **self._keys,
                const.CONF_SETTINGS: str(found.settings) if found.settings else None,
                const.CONF_FRAMING: found.framing, const.CONF_OPERATOR: operator,
                const.CONF_METER: {"manufacturer": about["manufacturer"],
                                   "model": about["model"],
                                   "serial_number": about["serial_number"],
                                   "system_title": reading.meter.system_title,
                                   "asked_number": self._number if not reading.meter.id
                                   else None,
                                   "sw_version": next((str(m.value) for m in
                                                       reading.values.values()
                                                       if m.name == "firmware_version"), None)},
                const.CONF_VALUES: values})
        language = self.hass.config.language
        return self.async_show_form(step_id="confirm", description_placeholders={
            "title": title, "values": reading_lines(reading, language, self._words),
            "how": ", ".join(str(part) for part in (found.settings, found.framing) if part),
            "note": f"\n\n{found.sentence}" if found.verdict is Verdict.IMPLAUSIBLE else ""})

    async def async_step_failed(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        found = self._diagnosis
        assert found is not None
        if user_input is not None:  # back to what can fix it: the port, or the key
            if found.verdict in _LINE_PROBLEMS:
                return await self.async_step_user()
            return await self.async_step_key()
        return self.async_show_form(step_id="failed", description_placeholders={
            "verdict": found.sentence, "progress": progress_text(self._progress)})


class SmartMeterOptionsFlow(OptionsFlow):
    """The key, the authentication key, how often states are written, which values are
    entities."""

    def __init__(self, entry: ConfigEntry) -> None:
        self._entry = entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        entry = self._entry
        errors: dict[str, str] = {}
        reason = ""
        if user_input is not None:
            keys, errors, reason = check_keys(user_input)
            if not errors:
                changed = {name: key for name, key in keys.items() if key}  # blank: kept
                options = {const.CONF_INTERVAL: int(user_input.get(const.CONF_INTERVAL, 0)),
                           const.CONF_ENABLED: list(user_input.get(const.CONF_ENABLED, []))}
                # keys and options in one update: one reload, not one for each
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, **changed}, options=options)
                return self.async_create_entry(title="", data=options)
        said = await words(self.hass)
        values = [SelectOptionDict(value=obis, label=said(LABELS.get(name, name)))
                  for obis, name, _unit in entry.data.get(const.CONF_VALUES, [])]
        enabled = entry.options.get(const.CONF_ENABLED, [value["value"] for value in values])
        schema = _key_schema({}).extend({
            vol.Required(const.CONF_INTERVAL,
                         default=entry.options.get(const.CONF_INTERVAL, 0)): NumberSelector(
                NumberSelectorConfig(min=0, max=3600, step=1, mode=NumberSelectorMode.BOX,
                                     unit_of_measurement="s")),
            vol.Required(const.CONF_ENABLED, default=enabled): SelectSelector(
                SelectSelectorConfig(options=values, multiple=True)),
        })
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors,
                                    description_placeholders={"reason": reason})
