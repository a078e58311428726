"""``collect``: the fleet path's collector (readings from an MQTT broker into PostgreSQL).

It reads the same ``[mqtt]`` (broker, topic) and ``[postgres]`` (dsn, table) sections as a
reader that publishes and stores, so one config file can serve both; ``[collect]`` holds
what only a collector needs (share group, its session's name, batching).
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import _
from .common import UsageError, load, run, setup_logging

if TYPE_CHECKING:
    from ..service.config import Config
    from ..web.server import WebServer

__all__ = ["COMMANDS", "add_collect_command"]


def add_collect_command(sub: Any) -> None:
    command = sub.add_parser(
        "collect", help=_("collect readings from an MQTT broker into PostgreSQL"),
        description=_("Subscribe to the readings that readers publish (<topic>/<meter>/state) "
                      "with an MQTT v5 shared subscription and write them to PostgreSQL in "
                      "batches, acknowledging each message after its batch committed. Start "
                      "several with the same [collect] group and different client ids to "
                      "share the load."))
    command.add_argument("--config", help=_("TOML configuration file ([mqtt], [postgres], "
                                            "[collect])"))
    command.add_argument("--client-id", help=_("this collector's session name, unique per "
                                               "collector ([collect] client_id)"))
    command.add_argument("--retire", action="store_true",
                         help=_("end the session of a collector that will not come back "
                                "(give its --client-id): its share goes to the others, what "
                                "the broker holds for it is committed first"))
    command.add_argument("--stats", help=_("write the collector's counts and delays to this "
                                           "JSON file after each batch"))
    command.add_argument("--quiet", "-q", action="store_true", help=_("log only problems"))


def collect_command(args: argparse.Namespace) -> int:
    from ..fleet.collector import CollectorSettings, collect, retire

    config = load(args, overrides={})
    setup_logging(args)
    mqtt, postgres, options = config["mqtt"], config["postgres"], config["collect"]
    # stable across restarts: the session (what the broker holds while it is away) is found
    # by this name; several collectors on one host each need their own
    client_id = args.client_id or options["client_id"] or \
        f"smartmeter-collect-{socket.gethostname()}"
    settings = CollectorSettings(
        host=mqtt["host"], port=mqtt["port"], username=mqtt["username"] or None,
        password=mqtt["password"] or None, tls=mqtt["tls"], topic=mqtt["topic"],
        group=options["group"], client_id=client_id,
        session_expiry=options["session_expiry"], batch_size=options["batch_size"],
        batch_seconds=options["batch_seconds"], dsn=postgres["dsn"], table=postgres["table"])
    log = logging.getLogger("smartmeter_readout")
    if args.retire:
        if not (args.client_id or options["client_id"]):
            raise UsageError(_("--retire needs the --client-id of the collector to retire"))
        return run(retire(settings))
    log.info(_("collector {client}: {broker} -> {table}").format(
        client=client_id, broker=f"{settings.host}:{settings.port}", table=settings.table))
    web = fleet_web(config, log)

    async def main() -> int:
        if web is not None:
            await web.start()
        try:
            return await collect(settings, Path(args.stats) if args.stats else None)
        finally:
            if web is not None:
                await web.close()

    return run(main())


def fleet_web(config: Config, log: logging.Logger) -> WebServer | None:
    """The fleet's page and API beside the collector, where ``[web] store = "postgres"``:
    one collector of a group serves it, the others leave [web] out (or store = "sqlite")."""
    if not config.on("web") or config["web"]["store"] != "postgres":
        return None
    from ..fleet.view import FleetView
    from ..service.build import meter_timezone
    from ..service.policy import token_problem
    from ..web.fleet import FleetApi
    from ..web.server import WebServer

    settings = config["web"]
    problem = token_problem(settings["host"], settings["token"])
    if problem:
        raise UsageError(problem)
    view = FleetView(config["postgres"]["dsn"], config["postgres"]["table"], config.groups,
                     meter_timezone(config))
    return WebServer(None, settings["host"], settings["port"], log, token=settings["token"],
                     header_timeout=settings["header_timeout"],
                     max_connections=settings["max_connections"],
                     per_client=settings["max_connections_per_client"],
                     fleet=FleetApi(view))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"collect": collect_command}
