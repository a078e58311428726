"""Run by the Python of a venv with the ``homeassistant`` package: judge MQTT discovery
messages with Home Assistant's own code, as its MQTT integration does on receiving them, and
as its sensor does on every state it writes (device class against state class and unit,
``last_reset`` only with ``total``: warnings or errors in the user's log otherwise).

stdin: a JSON list of [topic, payload] (topic without the discovery prefix); stdout: a JSON
list of {"topic", "error", "kept"}: ``error`` None when Home Assistant accepts the message,
``kept`` the options that survive its schema (unknown ones are dropped without a word).
"""

import json
import sys

import voluptuous as vol
from homeassistant.components.mqtt import sensor
from homeassistant.components.mqtt.abbreviations import (
    ABBREVIATIONS,
    DEVICE_ABBREVIATIONS,
    ORIGIN_ABBREVIATIONS,
)
from homeassistant.components.mqtt.discovery import (
    MQTT_ORIGIN_INFO_SCHEMA,
    SUPPORTED_COMPONENTS,
    TOPIC_MATCHER,
)
from homeassistant.components.sensor import (
    DEVICE_CLASS_STATE_CLASSES,
    DEVICE_CLASS_UNITS,
    SensorStateClass,
)
from homeassistant.const import __version__


def expanded(payload):
    payload = {ABBREVIATIONS.get(key, key): value for key, value in payload.items()}
    for part, names in (("device", DEVICE_ABBREVIATIONS), ("origin", ORIGIN_ABBREVIATIONS)):
        if isinstance(payload.get(part), dict):
            payload[part] = {names.get(key, key): value for key, value in payload[part].items()}
    return payload


def judge(topic, text):
    match = TOPIC_MATCHER.match(topic)
    if not match:
        return "illegal discovery topic", []
    if match.group("component") not in SUPPORTED_COMPONENTS:
        return f"component {match.group('component')} not supported", []
    payload = expanded(json.loads(text))
    try:
        if "origin" in payload:
            MQTT_ORIGIN_INFO_SCHEMA(payload["origin"])
        kept = sensor.DISCOVERY_SCHEMA(payload)
    except vol.Invalid as exc:
        return str(exc), []
    return as_sensor_writes(kept), sorted(kept)


def as_sensor_writes(config):
    """What the sensor entity says of the config at each state it writes."""
    device_class, state_class = config.get("device_class"), config.get("state_class")
    unit = config.get("unit_of_measurement")
    if device_class and state_class and \
            state_class not in DEVICE_CLASS_STATE_CLASSES.get(device_class, set(SensorStateClass)):
        return f"state class {state_class} is impossible for device class {device_class}"
    if device_class in DEVICE_CLASS_UNITS and unit not in DEVICE_CLASS_UNITS[device_class]:
        return f"unit {unit!r} is not valid for device class {device_class}"
    if "last_reset_value_template" in config and state_class != SensorStateClass.TOTAL:
        return f"last_reset with state class {state_class} (only total may reset)"
    return None


results = [{"topic": topic, **dict(zip(("error", "kept"), judge(topic, text), strict=True))}
           for topic, text in json.load(sys.stdin)]
json.dump({"version": __version__, "results": results}, sys.stdout)
