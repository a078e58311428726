"""Run by the Python of a venv with the ``homeassistant`` package: judge MQTT discovery
messages with Home Assistant's own code, as its MQTT integration does on receiving them.

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
    return None, sorted(kept)


results = [{"topic": topic, **dict(zip(("error", "kept"), judge(topic, text), strict=True))}
           for topic, text in json.load(sys.stdin)]
json.dump({"version": __version__, "results": results}, sys.stdout)
