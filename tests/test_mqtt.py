"""MQTT against a real Mosquitto: discovery, state, availability, last will, an outage."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from livekit import CLI, ENV, jsonl
from servers import Mosquitto
from smartmeter_readout.history.store import HistoryStore


class Listener:
    """Subscribes to everything, keeps what arrives, reconnects after an outage."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-listener",
                                  clean_session=False)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for name, payload, _ in self.messages if name == topic]

    def wait(self, check: object, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError("the expected MQTT messages did not arrive")
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def service(tmp_path: Path, port: int, *extra: str, interval: str = "0.2",
            **env_extra: str) -> subprocess.Popen[str]:
    env = {**ENV, "SMARTMETER_MQTT_HOST": "127.0.0.1", "SMARTMETER_MQTT_PORT": str(port),
           "SMARTMETER_SOURCE_INTERVAL": interval, **env_extra}
    return subprocess.Popen([*CLI, "run", "--simulate", "vkw", "--sqlite",
                             str(tmp_path / "h.sqlite"), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


STATE = "smartmeter/1KFM0200014196/state"
STATUS = "smartmeter/1KFM0200014196/status"


def test_discovery_state_and_availability(tmp_path: Path, broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    try:
        process = service(tmp_path, broker.port, "--count", "5", "--console", "jsonl",
                          SMARTMETER_MQTT_PER_VALUE_TOPICS="true")
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        listener.wait(lambda: len(listener.on(STATE)) >= 5 and
                      listener.on(STATUS)[-1:] == [b"offline"])
    finally:
        listener.close()
    states = [json.loads(p) for p in listener.on(STATE)]
    assert states == jsonl(out)  # the reading contract, each reading once
    assert listener.on(STATUS) == [b"online", b"offline"]  # a clean stop says offline
    voltages = listener.on("smartmeter/1KFM0200014196/voltage_l1")
    assert [float(v) for v in voltages] == [s["values"]["1.0.32.7.0.255"]["value"]
                                            for s in states]
    configs = {topic: json.loads(payload) for topic, payload, retain in listener.messages
               if (topic.startswith("homeassistant/") and retain is False) or
               topic.startswith("homeassistant/")}
    energy = configs["homeassistant/sensor/smartmeter_1KFM0200014196/1_0_1_8_0_255/config"]
    assert energy["device_class"] == "energy" and energy["state_class"] == "total_increasing"
    assert energy["unit_of_measurement"] == "Wh"
    assert energy["state_topic"] == STATE and energy["availability_topic"] == STATUS
    assert energy["value_template"] == "{{ value_json['values']['1.0.1.8.0.255']['value'] }}"
    voltage = configs["homeassistant/sensor/smartmeter_1KFM0200014196/1_0_32_7_0_255/config"]
    assert (voltage["device_class"], voltage["state_class"], voltage["unit_of_measurement"]) \
        == ("voltage", "measurement", "V")
    power = configs["homeassistant/sensor/smartmeter_1KFM0200014196/1_0_1_7_0_255/config"]
    assert power["device_class"] == "power" and power["unit_of_measurement"] == "W"
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1  # all sensors belong to one device
    assert energy["device"]["manufacturer"] == "Kaifa"
    assert not any("meter_id" in topic for topic in configs)  # text values get no sensor


def test_last_will_when_the_service_is_killed(tmp_path: Path, broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    try:
        process = service(tmp_path, broker.port)
        listener.wait(lambda: listener.on(STATUS) == [b"online"] and listener.on(STATE))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        listener.wait(lambda: listener.on(STATUS)[-1:] == [b"offline"])
    finally:
        listener.close()


def test_outage_and_restart_every_reading_once_in_order(tmp_path: Path,
                                                        broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    try:
        first = service(tmp_path, broker.port)
        listener.wait(lambda: len(listener.on(STATE)) >= 3)
        broker.stop()  # the broker goes away while the meter keeps pushing
        time.sleep(2)
        first.send_signal(signal.SIGTERM)  # ... and the service restarts meanwhile
        _, err = first.communicate(timeout=15)
        assert "mqtt: cannot deliver" in err
        second = service(tmp_path, broker.port)
        time.sleep(2)
        broker.start()  # back
        stored = HistoryStore(tmp_path / "h.sqlite")

        def caught_up() -> bool:
            return len(listener.on(STATE)) >= len(stored.readings()) > 10

        listener.wait(caught_up, timeout=60)
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=15)
        assert second.returncode == 0, err
        time.sleep(0.5)
    finally:
        listener.close()
    sent = [json.loads(p) for p in listener.on(STATE)]
    read = stored.readings()
    stored.close()
    assert sent == read  # every reading the service read arrived once, in order


def test_username_and_password(tmp_path: Path) -> None:
    secured = Mosquitto(tmp_path, users={"meter": "s3cret-pass"})
    secured.start()
    try:
        good = service(tmp_path, secured.port, "--count", "2",
                       SMARTMETER_MQTT_USERNAME="meter", SMARTMETER_MQTT_PASSWORD="s3cret-pass")
        _, err = good.communicate(timeout=60)
        assert good.returncode == 0 and "mqtt: cannot deliver" not in err, err
        bad = service(tmp_path, secured.port, SMARTMETER_MQTT_USERNAME="meter",
                      SMARTMETER_MQTT_PASSWORD="wrong-pass")
        time.sleep(3)
        bad.send_signal(signal.SIGTERM)
        _, err = bad.communicate(timeout=20)
    finally:
        secured.stop()
    assert "mqtt: cannot deliver" in err and "username or password" in err.lower()
    assert "wrong-pass" not in err and "s3cret-pass" not in err


def test_summary_with_cost_for_home_assistant(tmp_path: Path, broker: Mosquitto) -> None:
    """The demo (40 days of history, the sample tariff) publishes the summary, and Home
    Assistant learns of today's energy and cost (monetary, EUR)."""
    summary = "smartmeter/1KFM0200014196/summary"
    listener = Listener(broker.port)
    env = {**ENV, "SMARTMETER_MQTT_HOST": "127.0.0.1", "SMARTMETER_MQTT_PORT": str(broker.port),
           "SMARTMETER_MQTT_SUMMARY_INTERVAL": "0.5"}
    process = subprocess.Popen([*CLI, "demo", "--interval", "0.2", "--web-port", "0",
                                "--sqlite", str(tmp_path / "h.sqlite"), "--history-days", "3"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        listener.wait(lambda: any(json.loads(p)["periods"]["today"]["cost"]
                                  for p in listener.on(summary)), timeout=90)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        listener.close()
    data = next(json.loads(p) for p in listener.on(summary)
                if json.loads(p)["periods"]["today"]["cost"])
    assert data["periods"]["yesterday"]["import_wh"] > 0
    configs = {topic: json.loads(payload) for topic, payload, _ in listener.messages
               if topic.startswith("homeassistant/")}
    cost = configs["homeassistant/sensor/smartmeter_1KFM0200014196/cost_today/config"]
    assert (cost["device_class"], cost["unit_of_measurement"], cost["state_class"]) == \
        ("monetary", "EUR", "total")
    assert cost["state_topic"] == summary
    assert cost["value_template"] == \
        "{{ (value_json['periods']['today']['cost'] or {}).get('total') }}"
    # today's cost starts again at midnight: Home Assistant reads the day's start from the
    # summary as last_reset (an ISO time with its offset), or it books the drop as a minus
    assert cost["last_reset_value_template"] == "{{ value_json['periods']['today']['start'] }}"
    start = datetime.fromisoformat(data["periods"]["today"]["start"])
    assert start.utcoffset() is not None and (start.hour, start.minute) == (0, 0)
    month = configs["homeassistant/sensor/smartmeter_1KFM0200014196/cost_month/config"]
    assert month["last_reset_value_template"] == \
        "{{ value_json['periods']['this_month']['start'] }}"
    assert datetime.fromisoformat(data["periods"]["this_month"]["start"]).day == 1
    today = configs["homeassistant/sensor/smartmeter_1KFM0200014196/import_today/config"]
    assert today["device_class"] == "energy" and today["unit_of_measurement"] == "Wh"
    assert today["state_class"] == "total_increasing" and "last_reset_value_template" not in today
