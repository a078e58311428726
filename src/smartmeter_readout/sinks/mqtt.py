"""MQTT with Home Assistant discovery (aiomqtt, on paho-mqtt).

Topics, for a meter ``M`` (its name in the config, else its number, else its system title)
under ``topic``:

- ``<topic>/M/state``: every reading as JSON (the reading contract), QoS 1;
- ``<topic>/M/status``: ``online`` / ``offline``, retained; ``offline`` is also the last
  will, so a killed service shows as unavailable;
- ``<topic>/M/<name>`` (``per_value_topics``): each value alone, e.g. ``.../voltage_l1``;
- ``<topic>/M/summary``: with the SQLite history, every ``summary_interval`` seconds, what
  ``/api/v1/summary`` answers (energy, cost and peak of today, this month, …), retained;
- ``<discovery_prefix>/sensor/smartmeter_M/<obis>/config`` (``homeassistant``): one sensor per
  value, all of one device, with device_class, state_class and unit, retained. Energy
  counters are ``total_increasing`` in Wh, so the Energy dashboard takes them as they are.
- ``<discovery_prefix>/sensor/smartmeter_M/<key>/config``: the summary's sensors. Their sums
  start again with each period, which Home Assistant's long-term statistics must be told, or
  the midnight drop counts as a negative amount: energy is ``total_increasing`` (a drop starts
  a new cycle), cost is ``total`` (the only class Home Assistant allows for ``monetary``) with
  the period's start from the summary as ``last_reset``. A period without data yet (just
  after midnight) is ``None``, so the sensor is unknown rather than still showing the last
  period's figure.

The discovery is what every Home Assistant release of the last two years accepts (tested
against 2024.3, the newest that runs on Python 3.11, with Home Assistant's own schema):
reactive energy has no device class (``reactive_energy`` came with 2025.6 and older releases
reject the whole sensor) but keeps its unit and ``total_increasing``; the entity id is given
as ``object_id`` (up to 2026.3) and as ``default_entity_id`` (from 2025.10); ``origin`` names
this program; ``expire_after`` marks the values unavailable when the meter falls silent
while the service runs (the ``status`` topic covers a stopped or killed service).

A batch counts as delivered only when the broker acknowledged every QoS 1 publish; a broken
connection raises ``SinkError`` and the service sends the batch again later from the outbox.
A meter's connection is made on its first reading (the topics and the will need the meter's
name); a service that reads several meters (``[[meters]]``) holds one connection per meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .. import __version__
from ..i18n import N_, _, translation
from ..reading import Reading, topic_part
from .base import SinkBase, SinkError
from .formats import LABELS
from .homeassistant import device_info, sensor_kind

__all__ = ["MqttSink", "discovery_configs", "summary_configs"]

_TIMEOUT = 10.0
log = logging.getLogger("smartmeter_readout")
_NO_SUBSCRIBERS = 16  # PUBACK reason code 0x10
_ORIGIN = {"name": "smartmeter-readout", "sw_version": __version__}


def discovery_configs(reading: Reading, *, topic: str, prefix: str, expire_after: int = 0,
                      words: Callable[[str], str] = str) -> dict[str, str]:
    """Topic -> retained JSON payload announcing every numeric value of ``reading``;
    ``words`` translates the sensors' names (a catalogue's gettext)."""
    meter = topic_part(reading.meter_key)
    base = f"{topic}/{meter}"
    device = device_info(reading)
    configs = {}
    for obis, measurement in reading.values.items():
        kind = sensor_kind(measurement)
        if kind is None:
            continue
        device_class, state_class, unit = kind
        object_id = topic_part(obis)
        entity = f"smartmeter_{meter}_{measurement.name}".lower()
        config: dict[str, Any] = {
            "name": words(LABELS[measurement.name]) if measurement.name in LABELS
            else measurement.name.replace("_", " ").title(),
            "unique_id": f"smartmeter_{meter}_{object_id}",
            "object_id": entity,
            "default_entity_id": f"sensor.{entity}",
            "state_topic": f"{base}/state",
            "value_template": f"{{{{ value_json['values']['{obis}']['value'] }}}}",
            "availability_topic": f"{base}/status",
            "state_class": state_class,
            "device": device,
            "origin": _ORIGIN,
        }
        if expire_after:
            config["expire_after"] = expire_after
        if device_class:
            config["device_class"] = device_class
        if unit:
            config["unit_of_measurement"] = unit
        configs[f"{prefix}/sensor/smartmeter_{meter}/{object_id}/config"] = json.dumps(config)
    return configs


#: the summary's sensors: (key, name, JSON path, device class, unit or None for the currency,
#: state class); a ``total`` restarts with its period (``last_reset``: the period's start)
_SUMMARY_SENSORS = (
    ("import_today", N_("Energy import today"), "periods.today.import_wh", "energy", "Wh",
     "total_increasing"),
    ("export_today", N_("Energy export today"), "periods.today.export_wh", "energy", "Wh",
     "total_increasing"),
    ("import_month", N_("Energy import this month"), "periods.this_month.import_wh", "energy",
     "Wh", "total_increasing"),
    ("peak_month", N_("Peak quarter hour this month"), "periods.this_month.peak.w", "power",
     "W", "measurement"),
    ("cost_today", N_("Cost today"), "periods.today.cost.total", "monetary", None, "total"),
    ("cost_month", N_("Cost this month"), "periods.this_month.cost.total", "monetary", None,
     "total"),
)


def summary_configs(data: Mapping[str, Any], *, meter_reading: Reading, topic: str,
                    prefix: str, words: Callable[[str], str] = str) -> dict[str, str]:
    """Discovery of the summary's sensors: energy of today and this month, the month's peak
    and, with a tariff, cost (``monetary`` in the tariff's currency)."""
    meter = topic_part(meter_reading.meter_key)
    device = device_info(meter_reading)
    # any period's: just after midnight today has no cost yet, but the sensor stays announced
    currency = next((cost["currency"] for period in data["periods"].values()
                     if isinstance(cost := period.get("cost"), dict)), None)
    configs = {}
    for key, name, path, device_class, unit, state_class in _SUMMARY_SENSORS:
        if device_class == "monetary" and currency is None:
            continue
        entity = f"smartmeter_{meter}_{key}".lower()
        config: dict[str, Any] = {
            "name": words(name), "unique_id": f"smartmeter_{meter}_{key}", "object_id": entity,
            "default_entity_id": f"sensor.{entity}",
            "state_topic": f"{topic}/{meter}/summary",
            "value_template": _value_template(path),
            "availability_topic": f"{topic}/{meter}/status",
            "device_class": device_class, "state_class": state_class,
            "unit_of_measurement": unit or currency, "device": device, "origin": _ORIGIN,
        }
        if state_class == "total":  # Home Assistant allows last_reset only with total
            period = "".join(f"['{part}']" for part in path.split(".")[:2])
            config["last_reset_value_template"] = f"{{{{ value_json{period}['start'] }}}}"
        configs[f"{prefix}/sensor/smartmeter_{meter}/{key}/config"] = json.dumps(config)
    return configs


def _value_template(path: str) -> str:
    """The Jinja template reading ``path`` of the summary. Below a period, ``cost`` and
    ``peak`` are null while the period has none: the value is then None (Home Assistant's
    "unknown"); a plain lookup would render empty, which keeps the last period's value."""
    parts = [f"['{part}']" for part in path.split(".")]
    if len(parts) <= 3:
        return f"{{{{ value_json{''.join(parts)} }}}}"
    container, leaf = "".join(parts[:-1]), path.rsplit(".", 1)[1]
    return f"{{{{ (value_json{container} or {{}}).get('{leaf}') }}}}"


class _Client(aiomqtt.Client):
    """aiomqtt's client, counting what an MQTT v5 broker acknowledged with "no matching
    subscribers" (reason code 16): aiomqtt passes no PUBACK reason code on."""

    unmatched = 0

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Properties) -> None:
        if getattr(reason_code, "value", reason_code) == _NO_SUBSCRIBERS:
            self.unmatched += 1
        super()._on_publish(client, userdata, mid, reason_code, properties)


@dataclass(slots=True)
class _Meter:
    """One meter's connection and what was sent on it."""

    client: _Client
    exits: contextlib.AsyncExitStack
    announced: set[frozenset[str]] = field(default_factory=set)
    last_sent: float | None = None
    summary_at: float | None = None


class MqttSink(SinkBase):
    """One broker connection per meter, each with the meter's status topic as its will: a
    killed service shows every meter as unavailable, and each meter is its own device."""

    durable = True

    def __init__(self, settings: Mapping[str, Any],
                 summary: Callable[[str], Mapping[str, Any] | None] | None = None, *,
                 meters: int = 1) -> None:
        self.name = "mqtt"
        self.settings = dict(settings)
        self.summary = summary  # blocking (reads SQLite): run in a thread
        self.words = translation(self.settings.get("language", "auto")).gettext
        self.most = max(1, meters)  # connections kept; beyond, the longest unused goes
        self._meters: dict[str, _Meter] = {}  # most recently used last
        where = f"{settings['host']}:{settings['port']}"
        self._where = _("MQTT broker {address}", address=where)

    async def start(self) -> None:
        pass  # a connection needs its meter's name: made on the meter's first reading

    async def write(self, readings: Sequence[Reading]) -> None:
        topic = self.settings["topic"]
        try:
            for reading in readings:
                meter = topic_part(reading.meter_key)
                state = await self._connected(meter, reading)
                client = state.client
                keys = frozenset(reading.values)
                if self.settings["homeassistant"] and keys not in state.announced:
                    for config_topic, payload in discovery_configs(
                            reading, topic=topic, prefix=self.settings["discovery_prefix"],
                            expire_after=self.settings["expire_after"],
                            words=self.words).items():
                        await client.publish(config_topic, payload, qos=1, retain=True,
                                             timeout=_TIMEOUT)
                    state.announced.add(keys)
                stamp = (reading.received or reading.time)
                moment = stamp.timestamp() if stamp else None
                minimum = self.settings["min_interval"]
                if (minimum and moment is not None and state.last_sent is not None
                        and moment - state.last_sent < minimum):
                    continue
                unmatched = client.unmatched
                await client.publish(f"{topic}/{meter}/state",
                                     json.dumps(reading.to_dict(), ensure_ascii=False),
                                     qos=1, timeout=_TIMEOUT)
                if self.settings["require_subscriber"] and client.unmatched != unmatched:
                    raise SinkError(_("{where}: nobody took the reading: the broker has no "
                                      "subscriber for {topic}/{meter}/state (are the "
                                      "collectors up?); it is sent again later",
                                      where=self._where, topic=topic, meter=meter))
                if self.settings["per_value_topics"]:
                    for measurement in reading.values.values():
                        await client.publish(f"{topic}/{meter}/{measurement.name}",
                                             str(measurement.value), qos=1, timeout=_TIMEOUT)
                state.last_sent = moment
                await self._publish_summary(state, reading)
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            await self._drop_all()
            raise SinkError(f"{self._where}: {_reason(exc)}") from None  # _reason translates

    async def _publish_summary(self, state: _Meter, reading: Reading) -> None:
        every = self.settings["summary_interval"]
        if self.summary is None or not every or (
                state.summary_at is not None and time.monotonic() - state.summary_at < every):
            return
        try:
            data = await asyncio.to_thread(self.summary, reading.meter_key)
        except Exception as exc:  # the history is another output's business: never ours
            log.debug("mqtt: no summary (%s)", exc)
            return
        if data is None or data.get("meter") != reading.meter_key:
            return  # nothing stored yet: again with the next reading
        state.summary_at = time.monotonic()
        topic, meter = self.settings["topic"], topic_part(reading.meter_key)
        if self.settings["homeassistant"]:
            for config_topic, payload in summary_configs(
                    data, meter_reading=reading, topic=topic,
                    prefix=self.settings["discovery_prefix"], words=self.words).items():
                await state.client.publish(config_topic, payload, qos=1, retain=True,
                                           timeout=_TIMEOUT)
        await state.client.publish(f"{topic}/{meter}/summary",
                                   json.dumps(data, ensure_ascii=False), qos=1, retain=True,
                                   timeout=_TIMEOUT)

    async def _connected(self, meter: str, reading: Reading) -> _Meter:
        state = self._meters.pop(meter, None)
        if state is not None:
            self._meters[meter] = state  # most recently used last
            return state
        while len(self._meters) >= self.most:  # the adapter moved to another meter
            oldest = next(iter(self._meters))
            await self._leave(oldest, self._meters.pop(oldest))
        settings = self.settings
        status = f"{settings['topic']}/{meter}/status"
        client = _Client(
            settings["host"], settings["port"],
            username=settings["username"] or None, password=settings["password"] or None,
            identifier=_client_id(meter, reading),
            will=aiomqtt.Will(status, "offline", qos=1, retain=True),
            tls_context=ssl.create_default_context() if settings["tls"] else None,
            # v5 brings the PUBACK's reason code, which require_subscriber needs
            protocol=aiomqtt.ProtocolVersion.V5 if settings["require_subscriber"] else None,
            timeout=_TIMEOUT, keepalive=30)
        exits = contextlib.AsyncExitStack()
        await exits.enter_async_context(client)
        state = self._meters[meter] = _Meter(client, exits)  # new: the summary at once
        await client.publish(status, "online", qos=1, retain=True, timeout=_TIMEOUT)
        return state

    async def _leave(self, meter: str, state: _Meter) -> None:
        """Say offline (a clean stop sends no last will) and disconnect."""
        with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
            await state.client.publish(f"{self.settings['topic']}/{meter}/status",
                                       "offline", qos=1, retain=True, timeout=2)
        with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
            await state.exits.aclose()

    async def _drop_all(self) -> None:
        meters, self._meters = self._meters, {}
        for state in meters.values():
            with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                await state.exits.aclose()

    async def close(self) -> None:
        meters, self._meters = self._meters, {}
        for meter, state in meters.items():
            await self._leave(meter, state)


def _client_id(meter: str, reading: Reading) -> str:
    """Unique on the broker: a name the config gives is only unique in its own service, so
    the meter's number goes with it (two readers whose meters are both called "Haus" would
    otherwise take each other's connection away, over and over)."""
    number = reading.meter.id or reading.meter.system_title
    if reading.meter.name and number:
        return f"smartmeter-readout-{meter}-{topic_part(number)}"
    return f"smartmeter-readout-{meter}"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or "errno 111" in text.lower():
        return _("connection refused (is the broker running and listening?)")
    lowered = text.lower()
    if any(word in lowered for word in ("not authori", "bad user name", "code:134",
                                        "code:135")):
        return _("the broker refused the username or password ({reason}): check [mqtt] "
                 "username and password", reason=text)
    return text
