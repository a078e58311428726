"""The service with every output on: ingest per output, and CPU/RSS at one push a second.

Starts its own Mosquitto, InfluxDB 1.x and PostgreSQL on 127.0.0.1 (the test helpers in
tests/servers.py; PostgreSQL needs root to run as the postgres user), then:

1. sustained ingest per output: decoded VKW readings (15 values) written by each sink in
   batches of 500, as the service's workers do: readings/s;
2. ``smartmeter-readout run --simulate vkw`` at 1 push/s with SQLite, MQTT, InfluxDB,
   PostgreSQL and /metrics all on, for ``--seconds``: the service's CPU (user + system from
   /proc) as % of one core, and its peak RSS.

    python benchmarks/bench_service.py [--seconds 60] [--readings 20000]

Targets (issue 4): SQLite >= 20,000 readings/s (bench_sqlite.py); service < 1 % of a core and
< 80 MB RSS at 1 push/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _proc import cpu_seconds, peak_rss_mb  # noqa: E402
from servers import Influx, Mosquitto, Postgres  # noqa: E402
from smartmeter_readout import Decoder  # noqa: E402
from smartmeter_readout.service.config import SCHEMA  # noqa: E402
from smartmeter_readout.sim.simulator import Simulator  # noqa: E402

KEY = bytes(range(16))


def readings(count: int) -> list:  # type: ignore[type-arg]
    simulator, decoder = Simulator("vkw", key=KEY), Decoder(KEY)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for index in range(count):
        out += decoder.feed(simulator.push(start + timedelta(seconds=index)).wire)
    return out


def defaults(section: str, **changes: object) -> dict[str, object]:
    return {**{key: option.default for key, option in SCHEMA[section].items()}, **changes}


async def ingest(sink: object, batch: list, size: int = 500) -> float:  # type: ignore[type-arg]
    await sink.start()  # type: ignore[attr-defined]
    began = time.perf_counter()
    for at in range(0, len(batch), size):
        await sink.write(batch[at : at + size])  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - began
    await sink.close()  # type: ignore[attr-defined]
    return len(batch) / elapsed


def main(seconds: float, count: int) -> None:
    from smartmeter_readout.sinks.influxdb import InfluxSink
    from smartmeter_readout.sinks.mqtt import MqttSink
    from smartmeter_readout.sinks.postgres import PostgresSink

    with tempfile.TemporaryDirectory() as tmp:
        broker, influx, postgres = Mosquitto(Path(tmp)), Influx(Path(tmp)), Postgres()
        for server in (broker, influx, postgres):
            server.start()
        try:
            data = readings(count)
            sinks = {
                "MQTT (QoS 1, one message per reading)": MqttSink(
                    defaults("mqtt", port=broker.port)),
                "InfluxDB 1.x (line protocol)": InfluxSink(defaults("influxdb", url=influx.url)),
                "PostgreSQL (one row per value)": PostgresSink(
                    defaults("postgres", dsn=postgres.dsn)),
            }
            for name, sink in sinks.items():
                rate = asyncio.run(ingest(sink, data))
                print(f"ingest {name}: {rate:,.0f} readings/s ({count:,} readings, "
                      "batches of 500)")
            env = {**os.environ, "SMARTMETER_MQTT_PORT": str(broker.port),
                   "SMARTMETER_INFLUXDB_URL": influx.url, "SMARTMETER_POSTGRES_DSN":
                   postgres.dsn, "SMARTMETER_SOURCE_INTERVAL": "1", "SMARTMETER_WEB_PORT": "0"}
            service = subprocess.Popen(
                [sys.executable, "-m", "smartmeter_readout", "run", "--simulate", "vkw",
                 "--sqlite", f"{tmp}/service.sqlite", "-q"], env=env)
            time.sleep(5)  # start-up
            start = cpu_seconds(service.pid)
            time.sleep(seconds)
            used = cpu_seconds(service.pid) - start
            rss = peak_rss_mb(service.pid)
            service.terminate()
            service.wait(30)
            print(f"service at 1 push/s, all outputs on, {seconds:g} s: CPU "
                  f"{used / seconds * 100:.2f} % of one core ({used * 1000 / seconds:.1f} ms "
                  f"per push), peak RSS {rss:.1f} MB")
        finally:
            for server in (broker, influx, postgres):
                server.stop()
            postgres.remove()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readings", type=int, default=20_000)
    options = parser.parse_args()
    main(options.seconds, options.readings)
