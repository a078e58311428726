"""Build the service from a ``Config``: keys, source, decoder, outputs, outbox.

Everything that can be wrong with the configuration is found here, before anything starts,
and reported as a ``ConfigError`` naming the key, the bad value and what is valid.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..decoder import Decoder
from ..errors import ConfigError
from ..keys import parse_key
from ..live.reader import LiveOptions, LiveReader
from ..operators import resolve_serial
from ..sinks.base import Sink
from ..sources.base import Connector
from .config import Config, default_data_dir
from .outbox import Outbox
from .service import Service

__all__ = ["Built", "build_service"]


@dataclass(slots=True)
class Built:
    service: Service
    reader: LiveReader
    sqlite_path: Path | None
    notes: list[str]
    tz: tzinfo


def build_service(config: Config, *, log: logging.Logger | None = None,
                  count: int | None = None, options: LiveOptions | None = None) -> Built:
    log = log or logging.getLogger("smartmeter_readout")
    notes: list[str] = []
    meter = config["meter"]
    key = _secret(meter, "key")
    auth_key = _secret(meter, "auth_key")
    try:
        key_bytes = parse_key(key)
        auth_bytes = parse_key(auth_key, what="authentication key")
    except ValueError as exc:
        raise ConfigError(f"[meter] {exc}") from None
    try:
        tz = ZoneInfo(meter["timezone"])
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ConfigError(f"[meter] timezone = {meter['timezone']!r} is not a time zone: use a "
                          "name like Europe/Vienna") from None
    connector, key_bytes = _source(config, key_bytes, auth_bytes, notes)
    decoder = Decoder(key_bytes, auth_bytes, timezone=tz, layouts=config.layouts)
    reader = LiveReader(connector, decoder, options=options or LiveOptions(key_failures=0),
                        log=log)
    if config.on("web"):
        from ..web.policy import token_problem

        problem = token_problem(config["web"]["host"], config["web"]["token"])
        if problem:
            raise ConfigError(problem)
    sinks, sqlite_path = _sinks(config)
    outbox = None
    if any(sink.durable for sink in sinks):
        path = config["outbox"]["path"] or (
            (sqlite_path.parent if sqlite_path else default_data_dir()) / "outbox.sqlite")
        outbox = Outbox(path, max_readings=config["outbox"]["max_readings"])
    service = Service(reader, sinks, outbox=outbox, log=log, count=count)
    return Built(service, reader, sqlite_path, notes, tz)


def _secret(section: Any, name: str) -> str | None:
    value = section[name]
    path = section[f"{name}_file"]
    if path:
        try:
            return str(Path(path).read_text().strip())
        except OSError as exc:
            raise ConfigError(f"[meter] {name}_file = {path!r} cannot be read: "
                              f"{exc.strerror}") from None
    return str(value) if value else None


def _source(config: Config, key: bytes | None, auth_key: bytes | None,
            notes: list[str]) -> tuple[Connector, bytes | None]:
    source = config["source"]
    operator = config["meter"]["operator"]
    if source["port"]:
        from ..sources.serial import SerialConnector

        try:
            candidates = resolve_serial(str(source["baud"]), source["parity"], operator)
        except ValueError as exc:
            raise ConfigError(f"[source]/[meter]: {exc}") from None
        return SerialConnector(source["port"], candidates), key
    if source["tcp"]:
        from ..sources.tcp import TcpConnector, parse_host_port

        try:
            host, port = parse_host_port(source["tcp"])
        except ValueError as exc:
            raise ConfigError(f"[source] tcp: {exc}") from None
        return TcpConnector(host, port), key
    if source["replay"]:
        from ..sources.replay import ReplayConnector

        if not Path(source["replay"]).is_file():
            raise ConfigError(f"[source] replay = {source['replay']!r}: no such file")
        return ReplayConnector(source["replay"], speed=source["speed"]), key
    if source["simulate"]:
        from ..sim.simulator import PROFILES, Simulator
        from ..sources.simulated import SimulatedConnector

        name = source["simulate"]
        if name not in PROFILES:
            raise ConfigError(f"[source] simulate = {name!r} is not a profile; valid are "
                              + ", ".join(PROFILES))
        if key is None and PROFILES[name].security_control is not None:
            key = os.urandom(16)  # a simulated meter: any key will do
            notes.append("the simulated meter uses a made-up key")
        simulator = Simulator(name, key=key, auth_key=auth_key)
        return SimulatedConnector(simulator, source["interval"]), key
    raise ConfigError('[source] needs one of port, tcp, simulate or replay, e.g. '
                      'port = "/dev/ttyUSB0" (or SMARTMETER_SOURCE_PORT)')


def _sinks(config: Config) -> tuple[list[Sink], Path | None]:
    sinks: list[Sink] = []
    sqlite_path = None
    if config.on("sqlite"):
        from ..history.store import SqliteSink

        sqlite_path = Path(config["sqlite"]["path"] or default_data_dir() / "smartmeter.sqlite")
        sinks.append(SqliteSink(sqlite_path, config["sqlite"]["keep_raw_days"]))
    fmt = config["console"]["format"]
    if fmt != "none":
        from ..sinks.console import ConsoleSink

        sinks.append(ConsoleSink(fmt))
    if config.on("mqtt"):
        try:
            from ..sinks.mqtt import MqttSink
        except ImportError:
            raise ConfigError("[mqtt] needs the MQTT client: pip install "
                              "'smartmeter-readout[mqtt]'") from None

        sinks.append(MqttSink(config["mqtt"]))
    if config.on("influxdb"):
        from ..sinks.influxdb import InfluxSink

        settings = config["influxdb"]
        if bool(settings["token"]) != bool(settings["bucket"]) or (
                settings["bucket"] and not settings["org"]):
            raise ConfigError("[influxdb]: for InfluxDB 2/3 give bucket, org and token "
                              "together; for 1.x give database only")
        sinks.append(InfluxSink(settings))
    if config.on("postgres"):
        try:
            from ..sinks.postgres import PostgresSink
        except ImportError:
            raise ConfigError("[postgres] needs psycopg: pip install "
                              "'smartmeter-readout[postgres]'") from None
        try:
            sinks.append(PostgresSink(config["postgres"]))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return sinks, sqlite_path
