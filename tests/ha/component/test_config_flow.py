"""The config flow, step by step, against simulated meters: port, key, detection with its
progress, the first reading to confirm, doctor's verdicts, the same meter twice, options."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from custom_components.smartmeter_readout import config_flow
from custom_components.smartmeter_readout.const import DOMAIN
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import EVENT_DATA_ENTRY_FLOW_PROGRESSED, FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from conftest import KEY, KEY_TYPED, until

BRIDGE = "tcp://127.0.0.1:{port}"


async def start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    return result


async def detect(hass: HomeAssistant, address: str, key: str = KEY_TYPED,
                 auth_key: str = "") -> dict[str, Any]:
    """Through port and key to the end of detection: the confirm or the failed form."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"port": address})
    assert result["step_id"] == "key", result
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"key": key, "auth_key": auth_key})
    assert result["type"] is FlowResultType.SHOW_PROGRESS and result["step_id"] == "detect"
    flow_id = result["flow_id"]

    def moved() -> dict[str, Any] | None:
        step = hass.config_entries.flow.async_get(flow_id)
        return step if step["step_id"] != "detect" else None

    await until(moved, "detection ends")
    return await hass.config_entries.flow.async_configure(flow_id)


async def test_a_meter_behind_a_serial_bridge_is_found_confirmed_and_created(
        hass: HomeAssistant, meters: Any) -> None:
    meter = meters("vkw")
    result = await detect(hass, meter.address)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "confirm"
    placeholders = result["description_placeholders"]
    assert placeholders["title"] == "Kaifa 1KFM0200014196"
    assert "Energy import: " in placeholders["values"] and " kWh" in placeholders["values"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data["key"] == KEY.hex().upper()  # any spelling in, one spelling kept
    assert data["port"] == meter.address and data["settings"] is None  # a bridge has none
    assert data["framing"] and data["operator"] is None  # Kaifa meters: several operators
    assert ["1.0.1.8.0.255", "active_energy_import", "Wh"] in data["values"]
    assert data["meter"] == {"manufacturer": "Kaifa", "model": "Kaifa smart meter",
                             "serial_number": "1KFM0200014196",
                             "system_title": "4B464D1020003774", "asked_number": None,
                             "sw_version": None}
    assert result["result"].unique_id == "1KFM0200014196"
    await hass.async_block_till_done()


async def test_a_pseudo_terminal_is_detected_with_its_serial_settings(
        hass: HomeAssistant, meters: Any) -> None:
    meter = meters("netznoe", tcp=False)
    result = await detect(hass, meter.address)
    assert result["step_id"] == "confirm", result
    assert "2400" in result["description_placeholders"]["how"]


async def test_german_screens_write_numbers_as_austrians_do(hass: HomeAssistant,
                                                           meters: Any) -> None:
    hass.config.language = "de"
    meter = meters("vkw")
    result = await detect(hass, meter.address)
    values = result["description_placeholders"]["values"]
    assert "- Zählerstand Bezug: " in values, values
    energy = next(line for line in values.splitlines() if "kWh" in line)
    assert "," in energy.split(": ")[1] and energy.endswith(" kWh")


async def test_netz_ooe_amis_gets_its_acknowledgements(hass: HomeAssistant,
                                                       meters: Any) -> None:
    meter = meters("netzooe", tcp=False, interval=1.0)
    result = await detect(hass, meter.address)
    assert result["step_id"] == "confirm", result
    assert meter.meter.ack_delays  # the flow's reader answered with E5
    # its pushes carry no number: the flow asked the meter (IEC 62056-21 at 300 7E1)
    assert meter.meter.readouts == 1
    title = result["description_placeholders"]["title"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    number = result["data"]["meter"]["serial_number"]
    assert number and title.endswith(number) and result["result"].unique_id == number
    await hass.async_block_till_done()
    link = hass.data[DOMAIN][result["result"].entry_id]  # and it reads on after the setup
    await until(lambda: link.pushes >= 2, "pushes read by the entry")
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_detection_shows_its_progress(hass: HomeAssistant, meters: Any) -> None:
    meter = meters("vkw", tcp=False)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"port": meter.address})
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"key": KEY_TYPED})
    flow_id = result["flow_id"]
    refreshed = async_capture_events(hass, EVENT_DATA_ENTRY_FLOW_PROGRESSED)
    # the frontend reloads the step on each event, as this does
    await until(lambda: any(e.data["flow_id"] == flow_id for e in refreshed), "a refresh")
    result = await hass.config_entries.flow.async_configure(flow_id)
    text = result["description_placeholders"]["progress"]
    assert "1. Opening" in text, result
    hass.config_entries.flow.async_abort(flow_id)  # the user closes the dialog: it stops
    assert meter.address in text


async def test_a_wrong_key_ends_with_doctors_verdict_and_goes_back_to_the_key(
        hass: HomeAssistant, meters: Any) -> None:
    meter = meters("vkw")
    result = await detect(hass, meter.address, key="ff" * 16)
    assert result["step_id"] == "failed", result
    verdict = result["description_placeholders"]["verdict"]
    assert "key does not decrypt" in verdict and "Vorarlberg" in verdict
    assert "ff" * 16 not in str(result).lower()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "key"


async def test_no_bytes_ends_with_the_wiring_verdict_and_goes_back_to_the_port(
        hass: HomeAssistant, meters: Any) -> None:
    meter = meters("vkw", tcp=False, interval=3600)  # one push, then silence
    await until(lambda: meter.meter.sent, "the first push")
    with patch.object(config_flow, "DETECT_SECONDS", 1.0):
        result = await detect(hass, meter.address)
    assert result["step_id"] == "failed"
    assert "No signal" in result["description_placeholders"]["verdict"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "user"


async def test_malformed_port_and_key_are_refused_with_the_reason(hass: HomeAssistant) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"port": "tcp://meter:http"})
    assert result["errors"] == {"port": "invalid_port"}
    assert "HOST:PORT" in result["description_placeholders"]["reason"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"port": "tcp://127.0.0.1:9"})
    typed = "00112233445566778899aabbccddeeZZ"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"key": typed})
    assert result["errors"] == {"key": "invalid_key"}
    assert "hex digits" in result["description_placeholders"]["reason"]
    assert typed.lower() not in str(result).lower()
    result = await hass.config_entries.flow.async_configure(result["flow_id"],
                                                            {"key": "0011"})
    assert result["errors"] == {"key": "invalid_key"}


async def test_the_same_meter_twice_is_refused(hass: HomeAssistant, meters: Any) -> None:
    first = meters("vkw")
    MockConfigEntry(domain=DOMAIN, unique_id="1KFM0200014196", title="Kaifa",
                    data={"port": "/dev/serial/by-id/old-adapter"}).add_to_hass(hass)
    result = await detect(hass, first.address)  # another way to the same meter
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    result = await start(hass)  # the same port again: refused before listening
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"port": "/dev/serial/by-id/old-adapter"})
    assert result["type"] is FlowResultType.ABORT


async def test_options_change_key_interval_and_values(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id="m1", title="Meter", data={
        "port": "tcp://127.0.0.1:9", "key": "00" * 16, "auth_key": None,
        "values": [["1.0.1.8.0.255", "active_energy_import", "Wh"],
                   ["1.0.1.7.0.255", "active_power_import", "W"]]})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"key": "zz", "interval": 0, "enabled_values": []})
    assert result["errors"] == {"key": "invalid_key"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"key": KEY_TYPED, "auth_key": "", "interval": 30,
                            "enabled_values": ["1.0.1.8.0.255"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"interval": 30, "enabled_values": ["1.0.1.8.0.255"]}
    assert entry.data["key"] == KEY.hex().upper() and entry.data["auth_key"] is None
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


def test_progress_keeps_each_steps_outcome_on_its_line() -> None:
    said = ["1. Opening serial bridge 127.0.0.1:8888", "ok", "2. Listening for the meter",
            "the line: M-Bus frames", "3. Waiting for a whole push"]
    assert config_flow.progress_text(said) == (
        "1. Opening serial bridge 127.0.0.1:8888 — ok\n"
        "2. Listening for the meter — the line: M-Bus frames\n3. Waiting for a whole push")
