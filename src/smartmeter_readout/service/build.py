"""The one composition root: keys, source, decoder, outputs and outbox from a ``Config``.

Every command builds here: ``run`` and ``demo`` the whole service, ``read``, ``record``,
``doctor`` and ``decode`` the decoder and the source, after turning their flags into config
overrides (``cli.common``). So the key is read in one place (flag, key file, config or
SMARTMETER_KEY) and a source is built one way. Everything that can be wrong with the
configuration is found here, before anything starts, and reported as a ``ConfigError``
naming the key, the bad value and what is valid.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..decoder import Decoder
from ..errors import ConfigError
from ..extras import extra_hint, missing_extra
from ..i18n import N_, _, localize
from ..keys import parse_key
from ..masking import printable, url_secrets
from ..operators import OPERATORS, SerialSettings, resolve_serial
from ..sources.base import Connector
from .config import Config, default_data_dir
from .policy import token_problem

if TYPE_CHECKING:
    from ..history.costs import CostLedger
    from ..live.reader import LiveOptions, LiveReader
    from ..sinks.base import Sink
    from .service import Service

__all__ = [
    "Built",
    "Keys",
    "build_connector",
    "build_decoder",
    "build_service",
    "configured_secrets",
    "meter_keys",
    "meter_timezone",
    "serial_candidates",
]


@dataclass(slots=True)
class Built:
    service: Service
    reader: LiveReader
    sqlite_path: Path | None
    notes: list[str]
    tz: tzinfo


Keys = tuple[bytes | None, bytes | None]


def meter_keys(config: Config) -> Keys:
    """The key and authentication key: from the config, a key file or the environment (the
    config loader reads SMARTMETER_KEY), checked, as bytes. Never printed."""
    meter = config["meter"]
    key = _secret(meter, "key")
    auth_key = _secret(meter, "auth_key")
    try:
        return parse_key(key), parse_key(auth_key, what=N_("authentication key"))
    except ValueError as exc:
        raise ConfigError(f"[meter] {localize(exc)}") from None


def meter_timezone(config: Config) -> tzinfo:
    name = config["meter"]["timezone"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ConfigError(_("[meter] timezone = {name!r} is not a time zone: use a name like "
                            "Europe/Vienna", name=name)) from None


def build_decoder(config: Config, keys: Keys | None = None) -> Decoder:
    key, auth_key = keys if keys is not None else meter_keys(config)
    if _wireless(config):  # a radio receiver: its own framing (LINZ NETZ, issue 24)
        from ..wireless import WirelessDecoder

        return WirelessDecoder(key, receiver=config["source"]["receiver"],
                               meter_id=config["meter"]["radio_id"],
                               timezone=meter_timezone(config))
    return Decoder(key, auth_key, timezone=meter_timezone(config), layouts=config.layouts)


def _wireless(config: Config) -> bool:
    """A receiver is named, or the operator's meters send by radio (``linz`` too)."""
    from ..operators import find_operator

    operator = config["meter"]["operator"]
    if config["source"]["simulate"]:  # a simulator profile's pushes (demo): wired
        return False
    if config["source"]["receiver"] != "auto":
        return True
    try:
        return bool(operator and operator != "auto" and find_operator(operator).wireless)
    except ConfigError:
        return False  # said where the serial settings are resolved


def serial_candidates(config: Config) -> tuple[SerialSettings, ...]:
    """The serial settings to try: the operator's, the ones given, or every common one."""
    source = config["source"]
    try:
        return resolve_serial(str(source["baud"]), source["parity"], config["meter"]["operator"])
    except ValueError as exc:
        raise ConfigError(f"[source]/[meter]: {localize(exc)}") from None


def build_connector(config: Config, keys: Keys) -> tuple[Connector, Keys, list[str]]:
    """The source of bytes, and the keys (a simulated meter without a key gets one made up),
    and notes for the log."""
    return _source(config, keys)


def build_service(config: Config, *, log: logging.Logger | None = None,
                  count: int | None = None, options: LiveOptions | None = None) -> Built:
    # imported here, not above: ``decode`` builds its decoder from this module and must not
    # pay for asyncio and sqlite3 at start (tests/test_cli.py checks)
    from ..live.reader import LiveOptions, LiveReader
    from .outbox import Outbox
    from .service import Service

    log = log or logging.getLogger("smartmeter_readout")
    readers: dict[str, LiveReader] = {}
    notes: list[str] = []
    for mine in config.per_meter():
        name = mine["meter"]["name"]
        connector, keys, found = build_connector(mine, meter_keys(mine))
        notes += [f"{name}: {note}" if name else note for note in found]
        readers[name] = LiveReader(connector, build_decoder(mine, keys),
                                   options=options or LiveOptions(key_failures=0),
                                   log=_meter_log(log, name) if config.meters else log)
    tz = meter_timezone(config)
    if config.on("web"):
        problem = token_problem(config["web"]["host"], config["web"]["token"])
        if problem:
            raise ConfigError(problem)
    sinks, sqlite_path = _sinks(config)
    outbox = None
    if any(sink.durable for sink in sinks):
        path = config["outbox"]["path"] or (
            (sqlite_path.parent if sqlite_path else default_data_dir()) / "outbox.sqlite")
        outbox = Outbox(path, max_readings=config["outbox"]["max_readings"],
                        history=sqlite_path)  # the service logs its notes as warnings
    service = Service(readers, sinks, outbox=outbox, log=log, count=count,
                      secrets=configured_secrets(config))
    return Built(service, service.reader, sqlite_path, notes, tz)


def _meter_log(log: logging.Logger, name: str) -> logging.Logger:
    """The log of one of several meters: every line says which meter it is about."""
    child = log.getChild("meter." + name.replace(".", "_"))
    if not child.filters:
        prefix = printable(name).replace("%", "%%") + ": "

        def named(record: logging.LogRecord) -> bool:
            record.msg = prefix + str(record.msg)
            return True

        child.addFilter(named)
    return child


def configured_secrets(config: Config) -> list[str]:
    """Every secret the config holds, to be hidden wherever a message might quote it."""
    found = [config["mqtt"]["password"], config["influxdb"]["token"], config["web"]["token"],
             *url_secrets(config["influxdb"]["url"]), *url_secrets(config["postgres"]["dsn"])]
    for mine in config.per_meter():
        found += [mine["meter"]["key"], mine["meter"]["auth_key"]]
    return [str(value) for value in found if value]


def _secret(section: Any, name: str) -> str | None:
    value = section[name]
    path = section[f"{name}_file"]
    if path:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8").strip()
            readable_by_others = file.stat().st_mode & 0o044
        except OSError as exc:
            raise ConfigError(_("[meter] {name}_file = {path!r} cannot be read: {reason}",
                                name=name, path=path, reason=exc.strerror)) from None
        except UnicodeDecodeError:
            raise ConfigError(_("[meter] {name}_file = {path!r} is not a text file: it should "
                                "hold the 32 hex digits of the key", name=name,
                                path=path)) from None
        if readable_by_others:
            logging.getLogger("smartmeter_readout").warning(
                _("%s can be read by other users of this machine: chmod 600 %s"), file, file)
        return text
    return str(value) if value else None


def _source(config: Config, keys: Keys) -> tuple[Connector, Keys, list[str]]:
    # each source's module is imported only when it is used: pyserial, the simulator
    source = config["source"]
    key, auth_key = keys
    if source["port"]:
        from ..sources.serial import SerialConnector

        operator = OPERATORS.get(config["meter"]["operator"] or "")
        serial_port = SerialConnector(source["port"], serial_candidates(config),
                                      readout=operator.readout if operator else None)
        if _wireless(config):  # a receiver stick: its own rate (sources/receiver.py)
            from ..sources.receiver import for_receiver

            return for_receiver(serial_port, source["receiver"], str(source["baud"])), keys, []
        return serial_port, keys, []
    if source["tcp"]:
        from ..sources.tcp import TcpConnector, parse_host_port

        try:
            host, port = parse_host_port(source["tcp"])
        except ValueError as exc:
            raise ConfigError(f"[source] tcp: {localize(exc)}") from None
        return TcpConnector(host, port), keys, []
    if source["replay"]:
        from ..sources.replay import ReplayConnector

        if not Path(source["replay"]).is_file():
            raise ConfigError(_("[source] replay = {path!r}: no such file",
                                path=str(source["replay"])))
        return ReplayConnector(source["replay"], speed=source["speed"]), keys, []
    if source["command"]:  # a receiver program: rtl_sdr … | rtl_wmbus (LINZ NETZ)
        from ..sources.command import CommandConnector

        return CommandConnector(source["command"]), keys, []
    if source["simulate"]:
        from ..sim.simulator import PROFILES, Simulator
        from ..sources.simulated import SimulatedConnector

        name = source["simulate"]
        if name not in PROFILES:
            raise ConfigError(_("[source] simulate = {name!r} is not a profile; valid are "
                                "{valid}", name=name, valid=", ".join(PROFILES)))
        notes = []
        if key is None and PROFILES[name].security_control is not None:
            key = os.urandom(16)  # a simulated meter: any key will do
            notes.append(_("the simulated meter uses a made-up key"))
        simulator = Simulator(name, key=key, auth_key=auth_key)
        return SimulatedConnector(simulator, source["interval"]), (key, auth_key), notes
    raise ConfigError(_('[source] needs one of port, tcp, simulate or replay, e.g. '
                        'port = "/dev/ttyUSB0" (or SMARTMETER_SOURCE_PORT)'))


def build_ledger(config: Config) -> CostLedger | None:
    """The cost ledger of ``[tariff]``, None without one (costs need the SQLite history)."""
    if not config.on("tariff"):
        return None
    from ..history.costs import CostLedger
    from ..history.tariff import Tariff

    return CostLedger(Tariff.from_config(config["tariff"]), meter_timezone(config))


def _sinks(config: Config) -> tuple[list[Sink], Path | None]:
    sinks: list[Sink] = []
    sqlite_path = None
    if config.on("sqlite"):
        from ..sinks.sqlite import SqliteSink

        sqlite_path = Path(config["sqlite"]["path"] or default_data_dir() / "smartmeter.sqlite")
        ledger = build_ledger(config)
        tariff = config["tariff"]
        sinks.append(SqliteSink(sqlite_path, config["sqlite"]["keep_raw_days"], ledger=ledger,
                                prices=tariff["dynamic_prices"] if ledger else None,
                                price_format=tariff["dynamic_format"]))
    fmt = config["console"]["format"]
    if fmt != "none":
        from ..sinks.console import ConsoleSink

        sinks.append(ConsoleSink(fmt))
    if config.on("mqtt"):
        try:
            from ..sinks.mqtt import MqttSink
        except ImportError as exc:
            raise _missing(exc, "[mqtt]") from None

        summary = None
        if config.on("sqlite"):
            from ..history.summary import read_summary

            summary = functools.partial(read_summary, Path(
                config["sqlite"]["path"] or default_data_dir() / "smartmeter.sqlite"),
                meter_timezone(config))
        sinks.append(MqttSink(config["mqtt"], summary=summary, meters=len(config.per_meter())))
    if config.on("influxdb"):
        from ..sinks.influxdb import InfluxSink

        settings = config["influxdb"]
        if bool(settings["token"]) != bool(settings["bucket"]) or (
                settings["bucket"] and not settings["org"]):
            raise ConfigError(_("[influxdb]: for InfluxDB 2/3 give bucket, org and token "
                                "together; for 1.x give database only"))
        sinks.append(InfluxSink(settings))
    if config.on("postgres"):
        try:
            from ..sinks.postgres import PostgresSink
        except ImportError as exc:
            raise _missing(exc, "[postgres]") from None
        try:
            sinks.append(PostgresSink(config["postgres"]))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return sinks, sqlite_path


def _missing(error: ImportError, section: str) -> Exception:
    """The config error for an output whose extra is not installed (the import error itself
    when something else is missing: that is a broken install, not a choice)."""
    extra = missing_extra(error)
    return error if extra is None else ConfigError(extra_hint(section, *extra))
