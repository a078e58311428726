"""One configuration model: a TOML file, then ``SMARTMETER_<SECTION>_<KEY>`` environment
variables, then command-line flags (each wins over the one before).

The schema below is the single source of truth: the loader checks every key against it and
stops with a ``ConfigError`` that names the key, the bad value and what would be valid, before
anything starts. Output sections (``[mqtt]``, ``[influxdb]``, ``[postgres]``) are switched on by
being present (in the file or by one of their environment variables); ``[sqlite]`` is on
unless ``enabled = false``. Secrets (keys, passwords, tokens) never appear in messages.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import socket
import stat
import tomllib
import unicodedata
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..history.tariff import decimal_comma_hint
from ..i18n import N_, _, localize
from ..masking import UNPRINTABLE, hide_secrets, printable

__all__ = ["SCHEMA", "Config", "default_data_dir", "load_config"]

_OPTIONAL = ("mqtt", "influxdb", "postgres", "tariff")  # on by being present
_SECRETS = {"key", "auth_key", "password", "token", "dsn"}


@dataclass(frozen=True, slots=True)
class Option:
    kind: type | tuple[type, ...]
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    help: str = ""
    maximum: float | None = None


def _o(kind: type | tuple[type, ...], default: Any = None, *choices: Any,
       minimum: float | None = None, maximum: float | None = None, help: str = "") -> Option:
    return Option(kind, default, choices, minimum, help, maximum)


SCHEMA: dict[str, dict[str, Option]] = {
    "meter": {
        "name": _o(str, "", maximum=64,  # characters; the fleet's collector takes no longer
                   help="what you call the meter (\"Top 3\", \"PV\"): its name in "
                        "every output instead of its number"),
        "key": _o(str, help="AES key from the grid operator (32 hex digits)"),
        "key_file": _o(str, help="file holding the key"),
        "auth_key": _o(str, help="authentication key, for meters that send a tag"),
        "auth_key_file": _o(str),
        "operator": _o(str, "auto"),
        "radio_id": _o(str, help="a wireless M-Bus meter's number (8 digits, as the receiver "
                                 "shows it): only its telegrams are read"),
        "timezone": _o(str, "Europe/Vienna"),
    },
    "source": {
        "port": _o(str, help="serial device"),
        "tcp": _o(str, help="HOST:PORT of a serial bridge"),
        "simulate": _o(str, help="a simulator profile"),
        "replay": _o(str, help="a capture file"),
        "command": _o(str, help="a program whose output is read (rtl_sdr … | rtl_wmbus)"),
        "interval": _o((int, float), None, minimum=0.01, maximum=86400,
                       help="seconds between simulated pushes"),
        "speed": _o((int, float), 1.0, minimum=0, maximum=1_000_000, help="replay pace"),
        "baud": _o((str, int), "auto"),
        "parity": _o(str, "auto", "auto", "N", "E", "O"),
        "receiver": _o(str, "auto", "auto", "im871a", "amb8465", "cul", "rtl_wmbus",
                       help="the wireless M-Bus receiver on the port (LINZ NETZ)"),
    },
    "sqlite": {
        "enabled": _o(bool, True),
        "path": _o(str, help="database file (default: the user data directory)"),
        "keep_raw_days": _o((int, float), 90, minimum=0, maximum=36500,
                            help="days to keep every reading; aggregates are kept forever"),
    },
    "mqtt": {
        "enabled": _o(bool, True),
        "host": _o(str, "127.0.0.1"),
        "port": _o(int, 1883, minimum=1, maximum=65535),
        "username": _o(str, ""),
        "password": _o(str, ""),
        "tls": _o(bool, False),
        "topic": _o(str, "smartmeter"),
        "homeassistant": _o(bool, True),
        "discovery_prefix": _o(str, "homeassistant"),
        "per_value_topics": _o(bool, False),
        "require_subscriber": _o(bool, False,
                                 help="a reading nobody subscribed to counts as not delivered "
                                      "and is sent again (MQTT v5): for a fleet's readers. "
                                      "Any subscriber counts: on a fleet's broker only the "
                                      "collectors should subscribe to <topic>/+/state"),
        "min_interval": _o((int, float), 0, minimum=0, maximum=86400),
        "language": _o(str, "auto", "auto", "en", "de",
                       help="of the sensor names in Home Assistant (auto: the service's LANG)"),
        "summary_interval": _o((int, float), 60, minimum=0, maximum=86400,
                               help="seconds between summaries (energy, cost, peak) on "
                                    "<topic>/<meter>/summary; 0: none"),
        "expire_after": _o(int, 60, minimum=0, maximum=86400,
                           help="seconds without a reading after which Home Assistant shows "
                                "the values as unavailable (0: never)"),
    },
    "influxdb": {
        "enabled": _o(bool, True),
        "url": _o(str, "http://127.0.0.1:8086"),
        "database": _o(str, "smartmeter"),
        "bucket": _o(str, ""),
        "org": _o(str, ""),
        "token": _o(str, ""),
        "measurement": _o(str, "smartmeter"),
    },
    "postgres": {
        "enabled": _o(bool, True),
        "dsn": _o(str, "postgresql:///smartmeter"),
        "table": _o(str, "readings"),
    },
    "collect": {  # the fleet path's collector (``collect``) reads [mqtt] and [postgres] too
        "group": _o(str, "collectors", help="share group: collectors of one group split "
                                            "the readings"),
        "client_id": _o(str, "", help="this collector's session, unique per collector "
                                      "(default: the host name)"),
        "session_expiry": _o(int, 3600, minimum=0, maximum=4_294_967_295,
                             help="seconds the broker keeps what arrives for a collector "
                                  "that is away"),
        "batch_size": _o(int, 5000, minimum=1, maximum=32767,
                         help="readings per PostgreSQL transaction"),
        "batch_seconds": _o((int, float), 0.5, minimum=0.01, maximum=60,
                            help="longest wait from a batch's first reading to its commit"),
    },
    "web": {
        "enabled": _o(bool, True),
        "host": _o(str, "127.0.0.1"),
        "port": _o(int, 8080, minimum=0, maximum=65535),
        "token": _o(str, "", help="needed when host is not loopback: every request carries "
                                  "it (Bearer header, or the page's login)"),
        "header_timeout": _o((int, float), 10, minimum=1, maximum=3600,
                             help="seconds a client may take to send a request, or idle "
                                  "between requests"),
        "max_connections": _o(int, 512, minimum=1, maximum=100_000,
                              help="open connections in all; idle ones make room first"),
        "max_connections_per_client": _o(int, 256, minimum=1, maximum=100_000,
                                         help="open connections from one address"),
        "store": _o(str, "sqlite", "sqlite", "postgres",
                    help="what the page shows: the service's meters and SQLite history, or "
                         "(served by collect) the fleet in [postgres]"),
        "peak_warning": _o((int, float), 0, minimum=0, maximum=10_000_000,
                           help="W: the page warns when the running quarter hour heads above "
                                "it (0: off)"),
    },
    "tariff": {
        "currency": _o(str, "EUR"),
        "energy_price": _o((int, float), None, minimum=0, maximum=100,
                           help="per kWh; or time_of_use, or dynamic_prices"),
        "time_of_use": _o(list, help="[{days = \"Mon-Fri\", from = \"06:00\", to = "
                                     "\"22:00\", price = 0.28}, …]; else energy_price"),
        "dynamic_prices": _o(str, help="spot prices: a CSV file or a URL (aWATTar, "
                                       "smartENERGY)"),
        "dynamic_format": _o(str, "auto", "auto", "csv", "awattar", "smartenergy"),
        "dynamic_factor": _o((int, float), 1.0, minimum=0, maximum=10,
                             help="the spot price times this (1.2: add 20 % VAT)"),
        "dynamic_markup": _o((int, float), 0.0, minimum=-10, maximum=10,
                             help="per kWh added to the spot price"),
        "grid_price": _o((int, float), 0.0, minimum=0, maximum=100,
                         help="per kWh: grid usage fee and levies"),
        "peak_price": _o((int, float), 0.0, minimum=0, maximum=10000,
                         help="per kW of the month's highest quarter hour"),
        "base_fee": _o((int, float), 0.0, minimum=0, maximum=100000, help="per month"),
        "feed_in_price": _o((int, float), 0.0, minimum=-10, maximum=100, help="per kWh"),
        "feed_in_spot": _o(bool, False, help="feed-in paid at the spot price instead"),
        "feed_in_factor": _o((int, float), 1.0, minimum=-10, maximum=10),
        "feed_in_markup": _o((int, float), 0.0, minimum=-10, maximum=10),
    },
    "console": {
        "format": _o(str, "none", "none", "table", "json", "jsonl", "csv"),
    },
    "outbox": {
        "path": _o(str, help="durable queue for network outputs (default: next to sqlite)"),
        "max_readings": _o(int, 1_000_000, minimum=100, maximum=1_000_000_000,
                           help="per output; beyond it the oldest are dropped"),
    },
}


@dataclass(frozen=True, slots=True)
class Config:
    sections: Mapping[str, Mapping[str, Any]]
    enabled: frozenset[str]
    origin: Mapping[str, str] = field(default_factory=dict)  # "section.key" -> where from
    layouts: tuple[Any, ...] = ()
    #: one ``{"meter": …, "source": …}`` per ``[[meters]]`` table, checked and with the
    #: defaults of ``[meter]`` and ``[source]`` filled in; empty for a one-meter config
    meters: tuple[Mapping[str, Mapping[str, Any]], ...] = ()
    #: ``[[groups]]``: a community's or a building's meters, by name, for the fleet's page
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def per_meter(self) -> list[Config]:
        """One config per meter, each with its own ``[meter]`` and ``[source]``: what builds
        that meter's source and decoder. A one-meter config is its own only one."""
        if not self.meters:
            return [self]
        return [Config({**self.sections, **tables}, self.enabled, self.origin, self.layouts)
                for tables in self.meters]

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.sections[section]

    def on(self, section: str) -> bool:
        return section in self.enabled

    def __repr__(self) -> str:  # never show secrets
        def hidden(values: Mapping[str, Any]) -> dict[str, Any]:
            return {k: ("***" if k in _SECRETS and v else v) for k, v in values.items()}

        shown = {s: hidden(values) for s, values in self.sections.items()}
        meters = [{s: hidden(values) for s, values in tables.items()} for tables in self.meters]
        return (f"Config({shown}, enabled={sorted(self.enabled)}"
                + (f", meters={meters})" if meters else ")"))


def default_data_dir() -> Path:
    """Where the service keeps its database: $XDG_DATA_HOME, or /var/lib for root."""
    if os.environ.get("STATE_DIRECTORY"):  # systemd StateDirectory=
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_DATA_HOME")
    if base:
        return Path(base) / "smartmeter-readout"
    if os.geteuid() == 0:
        return Path("/var/lib/smartmeter-readout")
    return Path.home() / ".local" / "share" / "smartmeter-readout"


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None,
                warn: Any = None, one_meter: bool = False, meter: str | None = None,
                ) -> Config:
    """File, then environment, then ``overrides`` (CLI flags); validated as a whole.

    ``one_meter``: for a command that reads one meter (``read``, ``record``, ``doctor``).
    Of a ``[[meters]]`` config it takes the table named ``meter`` (needed when there are
    several, unless ``overrides`` name the source: then no table is taken, only what the
    meters share) as its ``[meter]`` and ``[source]``, so the result is a one-meter config;
    a source or key given in ``overrides`` replaces the config's of any kind (a ``--port``
    beats the table's ``tcp``, a ``--key`` its ``key_file``).
    """
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    present: set[str] = set()
    layouts: tuple[Any, ...] = ()
    tables: list[dict[str, Any]] = []
    groups: dict[str, tuple[str, ...]] = {}
    if path is not None:
        raw, layouts, tables, groups = _read_file(Path(path), warn)
        present |= set(raw)
        origin.update({f"{s}.{k}": str(path) for s, values in raw.items() for k in values})
    for name, text in env.items():
        if not name.startswith("SMARTMETER_"):
            continue
        found = _env_key(name)
        if found is None:
            continue
        section, key = found
        raw.setdefault(section, {})[key] = _from_text(section, key, text, name)
        origin[f"{section}.{key}"] = name
        present.add(section)
    picked = False
    if one_meter:
        flags = overrides or {}
        if tables and meter is None and len(tables) > 1 and _names_source(flags):
            _meters(tables, raw, origin, str(path))  # checked all the same; none is taken:
            tables = []  # the flags name the meter, what the meters share applies
        elif tables:
            _pick(tables, raw, origin, str(path), meter)
            tables, picked = [], True
        _replaced_by_flags(raw, flags)
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                raw.setdefault(section, {})[key] = value
                origin[f"{section}.{key}"] = "command line"
                present.add(section)
    sections = {section: _section(section, raw.get(section, {}), origin)
                for section in SCHEMA}
    enabled = {s for s in SCHEMA if s not in _OPTIONAL or s in present}
    enabled = {s for s in enabled if sections[s].get("enabled", True)}
    _check_placeholders(sections, enabled)
    _check_printable(sections["meter"]["name"], "[meter]")
    for section in ("sqlite", "outbox"):
        if section in enabled and sections[section]["path"] is not None and \
                not str(sections[section]["path"]).strip():
            where = origin.get(f"{section}.path", "config")
            raise ConfigError(_("{where}: [{section}] path is empty: name the database file, "
                                "or leave path out for the default ({default})", where=where,
                                section=section, default=default_data_dir() / (
                                    "smartmeter.sqlite" if section == "sqlite"
                                    else "outbox.sqlite")))
    if "tariff" in enabled:
        _check_tariff(sections["tariff"])
    if "mqtt" in enabled:
        _check_mqtt(sections["mqtt"])
    if one_meter and meter is not None and not picked:
        _check_name(meter, sections["meter"]["name"], path)
    meters = _meters(tables, raw, origin, str(path)) if tables else ()
    if not meters:
        _check_source(sections["source"])
    _check_addresses(sections, enabled)
    return Config(sections, frozenset(enabled), origin, layouts, meters, groups)


def _groups(tables: Any, path: Path) -> dict[str, tuple[str, ...]]:
    """``[[groups]]``: name = "...", members = ["meter", ...] (the meters' names as the
    readers publish them: their ``[meter] name``, else their number)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(_("{path}: 'groups' must be [[groups]] tables with name and "
                            "members", path=path))
    groups: dict[str, tuple[str, ...]] = {}
    for number, table in enumerate(tables, 1):
        name, members = table.get("name"), table.get("members")
        unknown = set(table) - {"name", "members"}
        if unknown:
            raise ConfigError(_("{path}: [[groups]] #{number}: unknown key '{key}'; valid keys "
                                "are name, members", path=path, number=number,
                                key=sorted(unknown)[0]))
        if not isinstance(name, str) or not name.strip() or name in groups:
            raise ConfigError(_("{path}: [[groups]] #{number} needs a name of its own, e.g. "
                                "name = \"EEG Sonnenfeld\"", path=path, number=number))
        if not isinstance(members, list) or not members or not all(
                isinstance(m, str) and m for m in members):
            raise ConfigError(_("{path}: [[groups]] {name!r}: members must be a list of meter "
                                "names, e.g. members = [\"Top 1\", \"Top 2\"]", path=path,
                                name=name))
        groups[name] = tuple(dict.fromkeys(members))
    return groups


def _meters(tables: list[dict[str, Any]], raw: Mapping[str, Mapping[str, Any]],
            origin: Mapping[str, str], path: str) -> tuple[dict[str, dict[str, Any]], ...]:
    """The ``[[meters]]`` tables, each on top of ``[meter]`` and ``[source]`` (which then
    hold what the meters share, e.g. the time zone), checked one by one and together."""
    from ..reading import topic_part

    shared = [f"[source] {key}" for key in ("port", "tcp", "simulate", "replay", "command")
              if raw.get("source", {}).get(key)]
    shared += ["[meter] name"] if raw.get("meter", {}).get("name") else []
    if shared:
        table_name, option = shared[0][1:].split("] ")
        where = origin.get(f"{table_name}.{option}", path)
        raise ConfigError(_("{where}: {key} cannot go with [[meters]]: each meter names its "
                            "own in its [[meters]] table", where=where, key=shared[0]))
    meters: list[dict[str, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for number, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            raise ConfigError(_("{path}: 'meters' must be [[meters]] tables", path=path))
        label = repr(table["name"]) if isinstance(table.get("name"), str) else f"#{number}"
        where = _("{path}: [[meters]] {label}", path=path, label=label)
        parts: dict[str, dict[str, Any]] = {"meter": {}, "source": {}}
        for key, value in table.items():
            section = next((s for s in parts if key in SCHEMA[s]), None)
            if section is None:
                valid = {**SCHEMA["meter"], **SCHEMA["source"]}
                raise ConfigError(_("{where}: unknown key '{key}'{suggestion}; valid keys are "
                                    "{valid}", where=where, key=key,
                                    suggestion=_suggest(key, valid), valid=", ".join(valid)))
            parts[section][key] = value
        mine = {f"{s}.{k}": where for s, values in parts.items() for k in values}
        resolved = {s: _section(s, {**raw.get(s, {}), **values}, {**origin, **mine})
                    for s, values in parts.items()}
        for secret in ("key", "auth_key"):  # a table's own key, or file, beats a shared one
            own = [k for k in (secret, f"{secret}_file") if k in parts["meter"]]
            for shared_key in {secret, f"{secret}_file"} - set(own) if own else ():
                resolved["meter"][shared_key] = None
        name = resolved["meter"]["name"].strip()
        _check_printable(name, where)
        if not name:
            raise ConfigError(_("{where}: give the meter a name, e.g. name = \"Top 3\" (it "
                                "tells the meters apart in every output)", where=where))
        short = topic_part(name).lower()  # as it stands in topics and Home Assistant's ids
        if short in seen:
            raise ConfigError(_("{where}: the name {name!r} is too close to meter {other!r}: "
                                "names must differ in letters or digits", where=where,
                                name=name, other=seen[short]))
        seen[short] = name
        resolved["meter"]["name"] = name
        _check_placeholders(resolved, set(resolved))
        _check_source(resolved["source"], where)
        meters.append(resolved)
    # one meter reads nothing twice: no path to resolve, no name to look up
    ports = [(m["source"]["port"] or m["source"]["tcp"], _same_place(m["source"]),
              m["meter"]["name"]) for m in meters] if len(meters) > 1 else []
    for number, (port, place, name) in enumerate(ports):
        other = next((o for _p, seen, o in ports[:number] if set(place) & set(seen)), None)
        if other is not None:
            raise ConfigError(_("{path}: [[meters]] {name!r} and {other!r} both read {port}: "
                                "each meter needs its own adapter", path=path, name=name,
                                other=other, port=port))
    return tuple(meters)


def _same_name(wanted: str, name: str) -> bool:
    """``--meter top_3`` finds "Top 3": names differ in letters or digits (``_meters``)."""
    from ..reading import topic_part

    return wanted == name or topic_part(wanted).lower() == topic_part(name).lower()


def _pick(tables: list[dict[str, Any]], raw: dict[str, dict[str, Any]],
          origin: dict[str, str], path: str, wanted: str | None) -> None:
    """The one meter of ``[[meters]]`` a command reads: its table becomes ``[meter]`` and
    ``[source]`` (on top of what the meters share), every table checked as ``run`` would."""
    meters = _meters(tables, raw, origin, path)
    names = [each["meter"]["name"] for each in meters]
    if wanted is None and len(meters) > 1:
        raise ConfigError(_("{path} has {count} meters: say which one with --meter NAME, "
                            "one of {names}", path=path, count=len(meters),
                            names=", ".join(map(repr, names))))
    index = next((i for i, name in enumerate(names) if wanted is None or name == wanted),
                 None)
    if index is None:
        index = next((i for i, name in enumerate(names) if _same_name(str(wanted), name)),
                     None)
    if index is None:
        raise ConfigError(_("{path} has no meter {name!r}; its meters are {names}", path=path,
                            name=wanted, names=", ".join(map(repr, names))))
    table = tables[index]
    where = _("{path}: [[meters]] {label}", path=path, label=repr(names[index]))
    for secret in ("key", "auth_key"):  # the table's own key, or file, beats a shared one
        if secret in table or f"{secret}_file" in table:
            for key in (secret, f"{secret}_file"):
                raw.get("meter", {}).pop(key, None)
    for key, value in table.items():
        section = "meter" if key in SCHEMA["meter"] else "source"
        raw.setdefault(section, {})[key] = names[index] if key == "name" else value
        origin[f"{section}.{key}"] = where


#: what one flag replaces in the config, whatever of it the config gave
_ALTERNATIVES = (("source", ("port", "tcp", "simulate", "replay", "command")),
                 ("meter", ("key", "key_file")), ("meter", ("auth_key", "auth_key_file")))


def _names_source(overrides: Mapping[str, Mapping[str, Any]]) -> bool:
    return any(overrides.get("source", {}).get(key) is not None
               for key in _ALTERNATIVES[0][1])


def _replaced_by_flags(raw: dict[str, dict[str, Any]],
                       overrides: Mapping[str, Mapping[str, Any]]) -> None:
    for section, keys in _ALTERNATIVES:
        given = overrides.get(section, {})
        if any(given.get(key) is not None for key in keys):
            for key in keys:
                raw.get(section, {}).pop(key, None)


def _check_name(wanted: str, name: str, path: str | Path | None) -> None:
    """``--meter NAME`` with a config of one meter: right when it is that meter's name."""
    if name and _same_name(wanted, name.strip()):
        return
    if path is None:
        raise ConfigError(_("--meter {name!r} needs --config with the meter's [[meters]] "
                            "table", name=wanted))
    if name:
        raise ConfigError(_("{path} has no meter {name!r}; its meter is {names}", path=path,
                            name=wanted, names=repr(name.strip())))
    raise ConfigError(_("{path} has no meter {name!r}: it names no meters ([[meters]] "
                        "tables)", path=path, name=wanted))


def _check_mqtt(section: Mapping[str, Any]) -> None:
    expire, every = section["expire_after"], section["min_interval"]
    if expire and expire <= every:
        raise ConfigError(_("[mqtt] expire_after = {expire} must be longer than min_interval "
                            "= {every:g} (or 0): else Home Assistant shows the values as "
                            "unavailable between two messages", expire=expire, every=every))


def _check_tariff(section: Mapping[str, Any]) -> None:
    from ..history.prices import FORMATS
    from ..history.tariff import Tariff, TariffError

    try:
        tariff = Tariff.from_config(section)
    except TariffError as exc:
        raise ConfigError(str(exc)) from None
    source = section.get("dynamic_prices")
    if source and "://" in source and urllib.parse.urlsplit(source).scheme not in (
            "http", "https", "file"):
        raise ConfigError(_("[tariff] dynamic_prices = {source!r}: give an http(s) URL or a "
                            "file", source=source))
    if tariff.feed_in_spot and not source:
        raise ConfigError(_("[tariff] feed_in_spot = true needs dynamic_prices (where the "
                            "spot prices come from)"))
    assert section.get("dynamic_format", "auto") in FORMATS


# what the example config puts where a value of the user's own belongs
_PLACEHOLDER = re.compile(r"X{6,}|…|<[^<>]*\s[^<>]*>")  # <your key: …>, <Ihr Schlüssel>
_OWN_VALUE = {
    ("meter", "key"): N_("the key from your grid operator (32 hex digits)"),
    ("meter", "auth_key"): N_("the authentication key from your grid operator"),
    ("source", "port"): N_("your adapter's device: ls -l /dev/serial/by-id/ lists them "
                           "(smartmeter-readout doctor --port DEV checks it)"),
    ("web", "token"): N_("a secret of your own: python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(24))'"),
}
_SOME_VALUE = N_("a value of your own")


def _check_placeholders(sections: Mapping[str, Mapping[str, Any]], enabled: set[str]) -> None:
    """A value left as the example's placeholder would have the service retry a port that
    is not there, or fail to decrypt, forever: stop at once and say what goes there."""
    for section, values in sections.items():
        if section in _OPTIONAL and section not in enabled:
            continue
        for key, value in values.items():
            if isinstance(value, str) and _PLACEHOLDER.search(value):
                shown = "***" if key in _SECRETS else hide_secrets(repr(value))
                wanted = _(_OWN_VALUE.get((section, key), _SOME_VALUE))
                raise ConfigError(_("[{section}] {key} = {shown} is the example's placeholder: "
                                    "put {wanted} there", section=section, key=key,
                                    shown=shown, wanted=wanted))


def _read_file(path: Path, warn: Any,
               ) -> tuple[dict[str, dict[str, Any]], tuple[Any, ...], list[Any],
                          dict[str, tuple[str, ...]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(_("cannot read the config file {path}: {reason}", path=path,
                            reason=exc.strerror)) from None
    except UnicodeDecodeError:
        raise ConfigError(_("{path} is not a text file in UTF-8: give the TOML config file "
                            "(see config/smartmeter.example.toml)", path=path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        lines = text.splitlines()
        line = lines[int(at.group(1)) - 1] if at and 0 < int(at.group(1)) <= len(lines) else ""
        raise ConfigError(_("{path} is not valid TOML: {reason}", path=path,
                            reason=exc) + decimal_comma_hint(line.partition("=")[2])) from None
    layouts: tuple[Any, ...] = ()
    tables = data.pop("layouts", {})
    if tables:
        from ..cosem.layouts import layout_from_config

        if not isinstance(tables, dict):
            raise ConfigError(_("{path}: 'layouts' must be [layouts.<name>] tables",
                                path=path))
        try:
            layouts = tuple(layout_from_config(name, spec) for name, spec in tables.items())
        except ValueError as exc:
            raise ConfigError(f"{path}: {localize(exc)}") from None
    groups = _groups(data.pop("groups"), path) if "groups" in data else {}
    meters = data.pop("meters", None)
    if meters is not None and (not isinstance(meters, list) or not meters):
        raise ConfigError(_("{path}: 'meters' must be [[meters]] tables, one per meter",
                            path=path))
    for section, values in data.items():
        if section not in SCHEMA:
            raise ConfigError(_("{path}: unknown section [{section}]{suggestion}; valid are "
                                "{valid}", path=path, section=section,
                                suggestion=_suggest(section, SCHEMA),
                                valid=", ".join(f"[{s}]" for s in SCHEMA)))
        if not isinstance(values, dict):
            raise ConfigError(_("{path}: '{section}' must be a table: [{section}]", path=path,
                                section=section))
    every_table = [*data.values(), *(meters if isinstance(meters, list) else [])]
    secret_inside = any(k in _SECRETS and v for values in every_table if isinstance(values, dict)
                        for k, v in values.items())
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if secret_inside and mode & (stat.S_IRGRP | stat.S_IROTH) and warn is not None:
        warn(_("{path} holds a key or password and is readable by other users: "
               "chmod 600 {path}").format(path=path))
    return data, layouts, meters or [], groups


def _env_key(name: str) -> tuple[str, str] | None:
    rest = name[len("SMARTMETER_"):].lower()
    if rest in ("key", "auth_key"):  # the short forms the CLI has always read
        return "meter", rest
    for section, options in SCHEMA.items():
        key = rest[len(section) + 1:]
        if rest.startswith(section + "_") and key in options:
            return section, key
    return None  # SMARTMETER_DEBUG, SMARTMETER_LIVE_* and the like are not config


def _from_text(section: str, key: str, text: str, name: str) -> Any:
    option = SCHEMA[section][key]
    kinds = option.kind if isinstance(option.kind, tuple) else (option.kind,)
    if bool in kinds:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(_("{name}={text!r} is not a yes/no value: use true or false",
                            name=name, text=text))
    for kind in (int, float):
        if kind in kinds:
            try:
                return kind(text)
            except ValueError:
                continue
    if str not in kinds:
        raise ConfigError(_("{name}={text!r} is not a number", name=name, text=text)
                          + decimal_comma_hint(text, quoted=False))
    return text


def _section(section: str, values: Mapping[str, Any], origin: Mapping[str, str],
             ) -> dict[str, Any]:
    schema = SCHEMA[section]
    result = {key: option.default for key, option in schema.items()}
    for key, value in values.items():
        where = origin.get(f"{section}.{key}", "config")
        if key not in schema:
            raise ConfigError(_("{where}: unknown key '{key}' in [{section}]{suggestion}; "
                                "valid keys are {valid}", where=where, key=key,
                                section=section, suggestion=_suggest(key, schema),
                                valid=", ".join(schema)))
        option = schema[key]
        kinds = option.kind if isinstance(option.kind, tuple) else (option.kind,)
        shown = "***" if key in _SECRETS else hide_secrets(repr(value))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            said = [k for k in kinds if not (k is int and float in kinds)]  # a number is one
            names = _(" or ").join(_(_KIND_NAMES[k]) if k in _KIND_NAMES else k.__name__
                                   for k in said)
            hint = decimal_comma_hint(value) if float in kinds and key not in _SECRETS else ""
            raise ConfigError(_("{where}: [{section}] {key} = {shown} must be {kinds}",
                                where=where, section=section, key=key, shown=shown,
                                kinds=names) + hint)
        if option.choices and value not in option.choices:
            raise ConfigError(_("{where}: [{section}] {key} = {shown} is not valid; valid are "
                                "{valid}", where=where, section=section, key=key,
                                shown=shown, valid=", ".join(map(str, option.choices))))
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(_("{where}: [{section}] {key} = {shown} is not a finite number",
                                where=where, section=section, key=key, shown=shown))
        if (option.minimum is not None and isinstance(value, int | float)
                and value < option.minimum):
            raise ConfigError(_("{where}: [{section}] {key} = {shown} must be at least "
                                "{minimum:g}", where=where, section=section, key=key,
                                shown=shown, minimum=option.minimum))
        if (option.maximum is not None and isinstance(value, int | float)
                and value > option.maximum):
            raise ConfigError(_("{where}: [{section}] {key} = {shown} must be at most "
                                "{maximum:g}", where=where, section=section, key=key,
                                shown=shown, maximum=option.maximum))
        if (option.maximum is not None and isinstance(value, str)
                and len(value) > option.maximum):
            raise ConfigError(_("{where}: [{section}] {key} has {length} characters: at most "
                                "{maximum:g}", where=where, section=section, key=key,
                                length=len(value), maximum=option.maximum))
        result[key] = value
    return result




_KIND_NAMES = {str: N_("text in quotes"), int: N_("a whole number"), float: N_("a number"),
               bool: N_("true or false"), list: N_("a list of tables")}


def _suggest(word: str, valid: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1)
    return _(" (did you mean '{word}'?)").format(word=close[0]) if close else ""


_DSN_PAIRS = re.compile(r"\s*(\w+\s*=\s*('([^'\\]|\\.)*'|[^\s']+)\s*)+")


def _check_addresses(sections: Mapping[str, Mapping[str, Any]], enabled: set[str]) -> None:
    """Server addresses that cannot work are configuration errors now, not retries later."""
    if "influxdb" in enabled:
        url = urllib.parse.urlsplit(sections["influxdb"]["url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(_("[influxdb] url = {url!r} is not valid: use http://HOST:8086 or "
                                "https://...", url=hide_secrets(sections["influxdb"]["url"])))
        try:
            url.port  # noqa: B018 - raises for a port out of range
        except ValueError:
            raise ConfigError(_("[influxdb] url: the port must be 1-65535")) from None
    if "postgres" in enabled:
        dsn = sections["postgres"]["dsn"]
        if dsn.startswith(("postgres://", "postgresql://")):
            try:
                urllib.parse.urlsplit(dsn).port  # noqa: B018 - raises for a bad port
            except ValueError:
                raise ConfigError(_("[postgres] dsn: the port must be 1-65535")) from None
        elif not _DSN_PAIRS.fullmatch(dsn):
            raise ConfigError(_("[postgres] dsn is neither a URL (postgresql://user@host/db) "
                                "nor key=value pairs (host=... dbname=...)"))
    if "mqtt" in enabled:
        host = sections["mqtt"]["host"]
        if not host or "://" in host or any(c.isspace() for c in host):
            raise ConfigError(_("[mqtt] host = {host!r} is not valid: give the broker's name or "
                                "address only, e.g. 192.168.1.10 (the port goes in [mqtt] "
                                "port)", host=hide_secrets(host)))


def _check_source(source: Mapping[str, Any], where: str = "[source]") -> None:
    chosen = [key for key in ("port", "tcp", "simulate", "replay", "command") if source.get(key)]
    if len(chosen) > 1:
        raise ConfigError(_("{where} names {names}: give exactly one of port, tcp, simulate, "
                            "replay", where=where, names=_(" and ").join(chosen)))
    if where != "[source]" and not chosen:
        raise ConfigError(_("{where} needs one of port, tcp, simulate or replay, e.g. port = "
                            "\"/dev/ttyUSB0\"", where=where))
    baud = source.get("baud")
    if baud != "auto" and not _BAUD.fullmatch(str(baud)):  # ASCII digits: "²" is no rate
        raise ConfigError(_("{where} baud = {baud!r} is not valid: use \"auto\" or a rate "
                            "such as 2400", where=where, baud=baud))
    tcp = source.get("tcp")
    if tcp and not _host_port(tcp):
        raise ConfigError(_("{where} tcp = {tcp!r} is not HOST:PORT: e.g. 192.168.1.50:8888, "
                            "bridge.local:8888 or [fe80::1]:8888 (a port of 1-65535)",
                            where=where, tcp=tcp))


_BAUD = re.compile(r"[1-9][0-9]{1,6}")  # 10 to 9,999,999 baud
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def _host_port(text: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` as a bridge's address; None for anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1])), int(port)
        except ValueError:
            return None
    return (host, int(port)) if _HOST.fullmatch(host) else None


def _same_place(source: Mapping[str, Any]) -> tuple[str, ...]:
    """What a meter's port or bridge is, whichever way it is written: a device by its real
    path (``/dev/../dev/ttyS0``, a by-id link), a bridge by its addresses (``localhost`` and
    ``127.0.0.1`` meet); empty for a simulated or recorded meter."""
    if source.get("port"):
        return (os.path.realpath(source["port"]),)
    found = _host_port(source["tcp"]) if source.get("tcp") else None
    if found is None:
        return ()
    host, port = found
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        addresses = {host.lower()}
    return tuple(sorted(f"{address} {port}" for address in addresses))


def _check_printable(name: str, where: str) -> None:
    """A name goes into logs, topics and the page: no control or direction characters."""
    bad = next((char for char in name if unicodedata.category(char) in UNPRINTABLE), None)
    if bad is not None:
        raise ConfigError(_("{where}: the name {name} holds the control character U+{code:04X}: "
                            "use letters, digits, spaces and punctuation", where=where,
                            name=printable(repr(name)), code=ord(bad)))
