"""A fleet of simulated meters for the collector's load and fault tests: each meter publishes
the reading contract on ``<topic>/<meter>/state`` (QoS 1) once per interval, as a reader
with the MQTT output would, without the decoding in between (10,000 real readers do not fit
on one small machine).

Each meter's readings have second-exact, rising times and counters that rise with the
power, so they are distinct rows of the per-value table and plausible ones. paho's network
thread keeps unacknowledged publishes and sends them again after a broker restart; the load
counts a reading as published when it handed it to paho and as acknowledged when the broker
said it took it for a subscriber; a reading the broker had no subscriber for is published
again, as a reader's outbox would.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["FleetLoad", "reading_json"]

#: PUBACK reason codes after which a reading is published again: no matching subscribers,
#: quota exceeded
_AGAIN = frozenset((0x10, 0x97))

_VALUES = (  # OBIS, name, unit: a Kaifa MA309M push
    ("1.0.32.7.0.255", "voltage_l1", "V"), ("1.0.52.7.0.255", "voltage_l2", "V"),
    ("1.0.72.7.0.255", "voltage_l3", "V"), ("1.0.31.7.0.255", "current_l1", "A"),
    ("1.0.51.7.0.255", "current_l2", "A"), ("1.0.71.7.0.255", "current_l3", "A"),
    ("1.0.1.7.0.255", "active_power_import", "W"),
    ("1.0.2.7.0.255", "active_power_export", "W"),
    ("1.0.1.8.0.255", "active_energy_import", "Wh"),
    ("1.0.2.8.0.255", "active_energy_export", "Wh"),
    ("1.0.3.8.0.255", "reactive_energy_import", "varh"),
    ("1.0.4.8.0.255", "reactive_energy_export", "varh"),
)


def reading_json(meter: str, moment: datetime, tick: int, received: datetime) -> str:
    """One reading of the contract for ``meter`` at ``moment`` (its ``tick``-th push)."""
    seed = sum(map(ord, meter))
    power = 300 + (seed * 37 + tick * 11) % 2500
    currents = [round(power / 3 / 230, 2)] * 3
    numbers = (230.1, 229.8, 231.0, *currents, power, 0, 1_000_000 + seed * 1000 + tick * 1,
               0, 200_000 + tick // 4, 0)
    values = ",".join(
        f'"{obis}":{{"name":"{name}","value":{number},"unit":"{unit}"}}'
        for (obis, name, unit), number in zip(_VALUES, numbers, strict=True))
    return (f'{{"time":"{moment.isoformat()}","received":'
            f'"{received.isoformat(timespec="milliseconds")}","meter":{{"system_title":null,'
            f'"manufacturer":"KFM","id":"{meter}","device_name":null,"list_id":null}},'
            f'"frame_counter":{tick},"values":{{{values}}}}}')


_OUTSTANDING = 20_000  # publishes awaiting the broker's answer, at most


@dataclass(slots=True)
class FleetLoad:
    host: str
    port: int
    meters: int
    interval: float = 1.0
    topic: str = "smartmeter"
    prefix: str = "sim"  # meter names: sim00001, sim00002, …
    published: int = 0
    acknowledged: int = 0
    behind: float = 0.0  # the most the load fell behind its schedule, seconds
    refused: list[str] = field(default_factory=list)  # what the broker refused, and why
    retried: int = 0  # readings published again: the broker had no subscriber for them
    _client: mqtt.Client | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _connected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _payloads: dict[int, tuple[str, str]] = field(default_factory=dict)  # mid -> what went
    _again: list[int] = field(default_factory=list)  # mids the broker had no subscriber for
    _sent: int = 0  # publishes handed to paho
    _answered: int = 0  # the broker's answers to them, of any kind

    def names(self) -> list[str]:
        width = max(5, len(str(self.meters)))
        return [f"{self.prefix}{number:0{width}d}" for number in range(1, self.meters + 1)]

    def start(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"fleet-load-{self.prefix}", protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(2000)
        client.max_queued_messages_set(0)  # no limit: a broker outage is held here
        client.reconnect_delay_set(1, 2)
        client.on_publish = self._on_publish
        client.on_connect = self._on_connect
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client
        # an unreachable broker is an error here, not a queue that grows in silence
        if not self._connected.wait(30):
            raise ConnectionError(f"no MQTT broker answers on {self.host}:{self.port}")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: ReasonCode, properties: object) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int,
                    reason: ReasonCode, properties: object) -> None:
        # called on paho's thread: only counts and lists here, the publishing thread acts
        with self._lock:
            self._answered += 1
        if reason.value in _AGAIN:
            self._again.append(mid)
            return
        with self._lock:
            if reason.is_failure:
                self.refused.append(str(reason))
            else:
                self.acknowledged += 1
        self._payloads.pop(mid, None)

    def _publish(self, topic: str, payload: str) -> None:
        """One QoS 1 publish, once fewer than ``_OUTSTANDING`` wait for the broker's answer:
        paho numbers messages 1 to 65,535 and, with more outstanding, reuses numbers of
        messages it has not sent yet, which are then never sent (the "stall" of earlier
        benchmark runs). A load that waits here falls behind its schedule (``behind``)."""
        assert self._client is not None
        while self._sent - self._answered >= _OUTSTANDING and not self._stop.is_set():
            time.sleep(0.002)
        info = self._client.publish(topic, payload, qos=1)
        self._sent += 1
        self._payloads[info.mid] = (topic, payload)

    def _publish_again(self) -> None:
        """What the broker took without a subscriber to hand it to (after a broker restart,
        before the collectors subscribed again: Mosquitto 2.0 does not restore shared
        subscriptions) goes out again, as a reader keeps it in its outbox."""
        for _ in range(len(self._again)):  # paho's thread may append meanwhile
            mid = self._again.pop(0)
            entry = self._payloads.pop(mid, None)
            if entry is None:  # answered before its payload was noted: next time
                self._again.append(mid)
                continue
            self.retried += 1
            self._publish(*entry)

    def run(self, seconds: float, start: datetime | None = None) -> None:
        """Publish every meter each interval for ``seconds`` (blocking; call in a thread)."""
        assert self._client is not None, "start() first"
        names = self.names()
        topics = [f"{self.topic}/{name}/state" for name in names]
        first = (start or datetime.now(UTC)).replace(microsecond=0)
        began = time.monotonic()
        ticks = max(1, round(seconds / self.interval))
        for tick in range(ticks):
            due = began + tick * self.interval
            pause = due - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                return
            self.behind = max(self.behind, -pause)
            moment = first + timedelta(seconds=tick * self.interval)
            received = datetime.now(UTC)
            self._publish_again()
            for name, topic in zip(names, topics, strict=True):
                self._publish(topic, reading_json(name, moment, tick, received))
                self.published += 1
                if self._stop.is_set():
                    return

    def wait_acknowledged(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.acknowledged < self.published:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
            self._publish_again()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
