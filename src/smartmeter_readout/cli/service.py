"""The service subcommands: ``run`` and ``demo``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..extras import extra_hint, missing_extra
from ..i18n import _
from ..sinks.formats import FORMATS
from .common import (
    EXIT_FAILURE,
    EXIT_OK,
    SECRETS,
    UsageError,
    flag_overrides,
    key_options,
    load,
    seconds,
    setup_logging,
)

if TYPE_CHECKING:
    from ..service.build import Built
    from ..service.config import Config
    from ..web.server import WebServer

__all__ = ["COMMANDS", "add_service_commands"]


def add_service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run", help=_("the long-running service: read the meter, deliver to every output"),
        description=_("Read the meter and deliver every reading to the configured outputs "
                    "(SQLite by default). Settings come from --config, then "
                    "SMARTMETER_<SECTION>_<KEY> environment variables, then these flags."))
    run.add_argument("--config", type=Path, help=_("TOML configuration file (default: "
                     "$XDG_CONFIG_HOME/smartmeter-readout/smartmeter.toml, then "
                     "/etc/smartmeter-readout/smartmeter.toml, if there)"))
    where = run.add_mutually_exclusive_group()
    where.add_argument("--port", help=_("serial device ([source] port)"))
    where.add_argument("--tcp", metavar="HOST:PORT", help=_("serial bridge ([source] tcp)"))
    where.add_argument("--simulate", metavar="PROFILE", help=_("built-in simulator"))
    where.add_argument("--replay", metavar="CAPTURE", help=_("a recorded capture"))
    key_options(run)
    _common(run)

    demo = sub.add_parser(
        "demo", help=_("the service against the built-in simulator, on its defaults"),
        description=_("Run the service on a simulated meter: readings on the console and in "
                    "SQLite (in a temporary directory unless --sqlite is given). Ctrl-C stops."))
    demo.add_argument("--profile", default="vkw", help=_(
        "simulator profile (simulate --profiles lists them) of a meter whose operator has "
        "none; a meter of a known operator is simulated by its operator's profile"))
    demo.add_argument("--interval", type=seconds, default=2.0, help=_("seconds between pushes"))
    demo.add_argument("--history-days", type=seconds, default=None,
                      help=_("made-up history before now for the page's charts (default 40 "
                           "with the temporary database, 0 with --sqlite)"))
    demo.add_argument("--web-port", type=int, help=_("port of the page ([web] port, default 8080;"
                                                   " 0: any free one)"))
    demo.add_argument("--config", type=Path, help=_(
        "TOML configuration file: its outputs, [web] settings and meters ([[meters]] too, "
        "each simulated) join the demo"))
    _common(demo)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sqlite", type=Path, help=_("database file ([sqlite] path)"))
    parser.add_argument("--console", choices=("none", *FORMATS),
                        help=_("also print readings ([console] format)"))
    parser.add_argument("--count", type=int, help=_("stop after this many readings"))
    parser.add_argument("--quiet", "-q", action="store_true", help=_("log only problems"))


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.config is None:
        args.config = default_config()
        if args.config is not None:
            logging.getLogger("smartmeter_readout").info(_("config: %s"), args.config)
    config = load(args, flag_overrides(args))
    return _serve(config, args.count)


def default_config() -> Path | None:
    """Where ``run`` looks without --config: the user's config folder, then /etc."""
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for folder in (user / "smartmeter-readout", Path("/etc/smartmeter-readout")):
        found = folder / "smartmeter.toml"
        if found.is_file():
            return found
    return None


_DEMO_TARIFF = {"energy_price": 0.22, "grid_price": 0.09, "feed_in_price": 0.07,
                "base_fee": 5.0, "peak_price": 1.5}  # EUR: made up, of Austrian size


def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    setup_logging(args)
    overrides = flag_overrides(args)
    overrides["console"] = {"format": args.console or "table"}
    if args.web_port is not None:
        overrides["web"] = {"port": args.web_port}
    if args.interval <= 0:
        raise UsageError(_("--interval must be positive"))
    with tempfile.TemporaryDirectory(prefix="smartmeter-demo-") as tmp:
        if not args.sqlite:
            overrides["sqlite"] = {"path": str(Path(tmp) / "smartmeter.sqlite")}
        config = load(argparse.Namespace(config=args.config), overrides)
        if not config.on("tariff"):  # something to show in the cost columns
            overrides["tariff"] = dict(_DEMO_TARIFF)
            config = load(argparse.Namespace(config=args.config), overrides)
            logging.getLogger("smartmeter_readout").info(
                _("demo: a sample tariff prices the readings (%s); [tariff] in --config sets "
                  "yours"), ", ".join(f"{key} {value:g}" for key, value in _DEMO_TARIFF.items()))
        config = _simulated(config, args.profile, args.interval)
        days = args.history_days if args.history_days is not None else (
            0 if args.sqlite else 40)
        setup = None
        if days > 0 and config.on("sqlite"):
            def setup(built: Built) -> None:
                _fill_demo_history(built, days)
        return _serve(config, args.count, demo=True, setup=setup)


def _simulated(config: Config, profile: str, interval: float) -> Config:
    """The config with every meter simulated: each by its operator's profile (a
    ``[[meters]]`` table's ``operator``, or ``[meter] operator``), ``profile`` for a meter
    whose operator has none (``auto``, or a meter not simulated yet); whatever source the
    config named is left aside."""
    from dataclasses import replace

    from ..operators import OPERATORS

    log = logging.getLogger("smartmeter_readout")

    def simulated(meter: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
        operator = OPERATORS.get(meter["operator"] or "")
        chosen = operator.simulator if operator and operator.simulator else profile
        if config.meters:
            log.info(_("demo: meter %s is simulated as %s"), meter["name"], chosen)
        return {**source, "port": None, "tcp": None, "replay": None, "simulate": chosen,
                "interval": interval}

    if config.meters:
        return replace(config, meters=tuple(
            {**tables, "source": simulated(tables["meter"], tables["source"])}
            for tables in config.meters))
    return replace(config, sections={**config.sections, "source": simulated(
        config["meter"], config["source"])})


def _fill_demo_history(built: Built, days: float) -> None:
    """Charts with something in them from the first second: each simulated meter's past,
    ending where the simulated meter goes on."""
    from datetime import UTC, datetime, timedelta

    from ..history.fill import fill_history
    from ..history.store import HistoryStore
    from ..sources.simulated import SimulatedConnector

    assert built.sqlite_path is not None
    now = datetime.now(UTC)
    store = HistoryStore(built.sqlite_path)
    made = 0
    try:
        for feed in built.service.feeds:
            connector = feed.reader.connector
            assert isinstance(connector, SimulatedConnector)
            simulator = connector.simulator
            made += fill_history(store, now - timedelta(days=days), now,
                                 profile=simulator.profile.name, resolution=60,
                                 tz=built.tz, model=simulator.model,
                                 minutes_from=now - timedelta(hours=6),
                                 meter=feed.name or None)
    finally:
        store.close()
    logging.getLogger("smartmeter_readout").info(
        _("demo: made-up history from %s on (%d readings, one a minute) for the charts"),
        (now - timedelta(days=days)).astimezone(built.tz).strftime("%Y-%m-%d %H:%M"), made)


def _serve(config: Config, count: int | None, *, demo: bool = False,
           setup: Callable[[Built], None] | None = None) -> int:
    import asyncio
    import signal

    from ..errors import ConfigError
    from ..service.build import build_service
    from ..sinks.base import SinkError
    from ..sources.base import SourceFatal, describe

    log = logging.getLogger("smartmeter_readout")
    if config.on("web") and config["web"]["store"] == "postgres":
        raise UsageError(_("[web] store = \"postgres\" is the fleet's page, which collect "
                           "serves; the service shows its own meters: leave store out here"))
    try:
        built = build_service(config, log=log, count=count)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    SECRETS.secrets.update(built.service.secrets)
    for note in built.notes:
        log.info(note)
    if setup is not None:
        setup(built)
    outputs = ", ".join(_("console") if sink.name == "console" else sink.name
                        for sink in built.service.sinks) or _("none")
    sources = ", ".join(f"{feed.name} ({describe(feed.reader.connector.name)})" if feed.name
                        else describe(feed.reader.connector.name)
                        for feed in built.service.feeds)
    if built.sqlite_path:
        log.info(_("reading %s; outputs: %s (SQLite at %s)"), sources, outputs,
                 built.sqlite_path)
    else:
        log.info(_("reading %s; outputs: %s"), sources, outputs)
    if demo and count is None:
        log.info(_("demo: Ctrl-C stops"))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        web = _web(config, built, log)
        if web is not None:
            await web.start()
        try:
            await built.service.run(stop)
        finally:
            if web is not None:
                await web.close()

    try:
        asyncio.run(main())
    except (SourceFatal, SinkError) as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    readings = built.service.readings
    log.info(_("stopped after 1 reading") if readings == 1 else
             _("stopped after {count} readings").format(count=readings))
    return EXIT_FAILURE if built.service.lost else EXIT_OK  # the log said how many


def _web(config: Config, built: Built, log: logging.Logger) -> WebServer | None:
    """The web server, or None when it is off or its extra is not installed."""
    if not config.on("web"):
        return None
    try:
        from ..web.server import SiteInfo, WebServer
    except ImportError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        what = _("the page, API and /metrics")
        log.warning(_("web: {hint}; or set [web] enabled = false",
                      hint=extra_hint(what, *extra)))
        return None
    settings = config["web"]
    info = SiteInfo(sqlite_path=built.sqlite_path, tz=built.tz,
                    operator=config["meter"]["operator"],
                    outputs=[sink.name for sink in built.service.sinks],
                    peak_warning=settings["peak_warning"])
    return WebServer(built.service, settings["host"], settings["port"], log,
                     token=settings["token"], info=info,
                     header_timeout=settings["header_timeout"],
                     max_connections=settings["max_connections"],
                     per_client=settings["max_connections_per_client"])


COMMANDS = {"run": cmd_run, "demo": cmd_demo}
