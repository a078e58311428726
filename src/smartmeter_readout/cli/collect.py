"""``collect``: the fleet path's collector (readings from an MQTT broker into PostgreSQL).

It reads the same ``[mqtt]`` (broker, topic) and ``[postgres]`` (dsn, table) sections as a
reader that publishes and stores, so one config file can serve both; ``[collect]`` holds
what only a collector needs (share group, its session's name, batching).

``--workers N`` runs N collectors as processes of the same share group, so a machine's
cores are used (one collector is one Python process, on one core). Worker 1 keeps the
client id, and with it its session; worker k adds ``-k``. This process only watches them:
it passes SIGTERM and Ctrl-C on, and starts a worker that ended by itself again.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import _
from .common import UsageError, load, run, setup_logging

if TYPE_CHECKING:
    from ..fleet.collector import CollectorSettings
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
    command.add_argument("--workers", type=int, default=1,
                         help=_("run this many collectors as processes of one share group, "
                                "one per core (worker k > 1 adds -k to the client id and to "
                                "the --stats file's name)"))
    command.add_argument("--quiet", "-q", action="store_true", help=_("log only problems"))


def collect_command(args: argparse.Namespace) -> int:
    from ..fleet.collector import retire, worker_settings

    if not 1 <= args.workers <= 64:
        raise UsageError(_("--workers takes 1 to 64 collectors"))
    config = load(args, overrides={})
    setup_logging(args)
    settings = _settings(args, config)
    if args.retire:
        if not (args.client_id or config["collect"]["client_id"]):
            raise UsageError(_("--retire needs the --client-id of the collector to retire"))
        return max(run(retire(worker_settings(settings, number)))
                   for number in range(1, args.workers + 1))
    if args.workers == 1:
        return _collect(args, config, 1)
    return _supervise(args, config)


def _settings(args: argparse.Namespace, config: Config) -> CollectorSettings:
    from ..fleet.collector import CollectorSettings

    mqtt, postgres, options = config["mqtt"], config["postgres"], config["collect"]
    # stable across restarts: the session (what the broker holds while it is away) is found
    # by this name; several collectors on one host each need their own
    client_id = args.client_id or options["client_id"] or \
        f"smartmeter-collect-{socket.gethostname()}"
    return CollectorSettings(
        host=mqtt["host"], port=mqtt["port"], username=mqtt["username"] or None,
        password=mqtt["password"] or None, tls=mqtt["tls"], topic=mqtt["topic"],
        group=options["group"], client_id=client_id,
        session_expiry=options["session_expiry"], batch_size=options["batch_size"],
        batch_seconds=options["batch_seconds"], dsn=postgres["dsn"], table=postgres["table"])


def _stats_path(stats: str | None, number: int) -> Path | None:
    """Worker 1 writes ``--stats`` itself, worker k its name with ``-k`` before the suffix."""
    if stats is None:
        return None
    path = Path(stats)
    return path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def _collect(args: argparse.Namespace, config: Config, number: int) -> int:
    """One collector (worker ``number``) until SIGTERM or Ctrl-C; the first serves the
    fleet's page where the config asks for it."""
    from ..fleet.collector import collect, worker_settings

    settings = worker_settings(_settings(args, config), number)
    log = logging.getLogger("smartmeter_readout")
    log.info(_("collector {client}: {broker} -> {table}").format(
        client=settings.client_id, broker=f"{settings.host}:{settings.port}",
        table=settings.table))
    web = fleet_web(config, log) if number == 1 else None

    async def main() -> int:
        if web is not None:
            await web.start()
        try:
            return await collect(settings, _stats_path(args.stats, number))
        finally:
            if web is not None:
                await web.close()

    return run(main())


def _worker(args: argparse.Namespace, number: int) -> None:
    """A worker process's life: the config read again (a spawned process has nothing)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the watcher's: run() sets its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = load(args, overrides={})
    setup_logging(args)
    raise SystemExit(_collect(args, config, number))


def _supervise(args: argparse.Namespace, config: Config) -> int:
    """Start the workers, start again one that ended by itself, pass SIGTERM and Ctrl-C
    on; 0 once all ended after that, each with 0 (or by the signal before it set up)."""
    import multiprocessing
    import time
    from multiprocessing.connection import wait

    log = logging.getLogger("smartmeter_readout")
    methods = multiprocessing.get_all_start_methods()
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers: dict[int, Any] = {}
    stopping: list[int] = []
    stopped_by = (0, -signal.SIGTERM, -signal.SIGINT)

    def stop(number: int, frame: object) -> None:
        stopping.append(number)
        for process in workers.values():
            if process.is_alive():
                process.terminate()

    def start(number: int) -> None:
        process = context.Process(target=_worker, args=(args, number),
                                  name=f"collect-{number}")
        process.start()
        workers[number] = process

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM,
                                                                  signal.SIGINT)}
    codes: list[int] = []
    try:
        for number in range(1, args.workers + 1):
            start(number)
        while workers:
            wait([process.sentinel for process in workers.values()])
            for number, process in list(workers.items()):
                if process.exitcode is None:
                    continue
                process.join()
                del workers[number]
                if stopping:
                    codes.append(0 if process.exitcode in stopped_by else 1)
                    continue
                log.warning(_("collector worker %d ended (exit code %s); starting it again"),
                            number, process.exitcode)
                time.sleep(1.0)
                if not stopping:
                    start(number)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return max(codes, default=0)


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
