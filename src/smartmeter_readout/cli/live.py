"""The live subcommands: ``read``, ``simulate``, ``record``, ``replay`` and ``doctor``.

They share how a source is chosen (``--port``, ``--tcp``, ``--replay``) and how serial
settings are resolved: explicit ``--baud``/``--parity`` win, then an ``--operator`` preset,
else auto-detection over the common settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..i18n import _, localize
from ..sinks.formats import FORMATS
from .common import (
    EXIT_FAILURE,
    EXIT_KEY,
    EXIT_OK,
    UsageError,
    key_options,
    live_options,
    meter_from,
    meter_options,
    quiet_option,
    run,
    seconds,
    setup_logging,
    source_options,
)

if TYPE_CHECKING:
    from ..decoder import Decoder
    from ..service.build import Keys
    from ..sources.base import Connector

__all__ = ["add_live_commands"]


def add_live_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    read = sub.add_parser(
        "read", help=_("read a meter live from a serial port or a TCP serial bridge"),
        description=_("Print every push as it arrives. Serial settings are detected unless "
                    "--operator, --baud or --parity say otherwise."))
    source_options(read, replay=True)
    key_options(read)
    read.add_argument("--count", type=int, help=_("exit after this many readings"))
    read.add_argument("--format", choices=FORMATS, default="table",
                      help=_("table for people (default), json, jsonl or csv for programs"))
    read.add_argument("--timezone",  # no default here: [meter] timezone's (Europe/Vienna)
                      help=_("zone of meter clocks without UTC offset (default Europe/Vienna)"))
    meter_options(read)
    quiet_option(read)

    simulate = sub.add_parser(
        "simulate", help=_("a virtual meter on a pseudo-terminal"),
        description=_("Push simulated meter data on a pseudo-terminal, framed and encrypted "
                    "like the profile's real meter. Prints the device path to read from."))
    simulate.add_argument("--profile", default="vkw", help=_("meter profile (see --profiles)"))
    simulate.add_argument("--profiles", action="store_true", help=_("list the profiles and exit"))
    simulate.add_argument("--key", help=_("encryption key (made up and printed when omitted)"))
    simulate.add_argument("--auth-key", help=_("authentication key, for profiles that send a tag"))
    simulate.add_argument("--link", type=Path, help=_("also make this path a symlink to the "
                                                    "device (e.g. /tmp/ttyMETER)"))
    simulate.add_argument("--tcp", metavar="HOST:PORT",
                          help=_("serve the line over TCP like a serial bridge (ser2net) instead "
                                 "of a pseudo-terminal (port 0: a free one); read it with read "
                                 "--tcp"))
    simulate.add_argument("--interval", type=seconds, help=_("seconds between pushes (default: "
                                                         "the profile's)"))
    simulate.add_argument("--count", type=int, help=_("stop after this many pushes"))
    simulate.add_argument("--faults", default="none", metavar="SPEC",
                          help=_("damage pushes: a rate for all kinds (0.1) or "
                               "garbage=R,drop=R,cut=R,checksum=R,tag=R,unplug=R"))
    simulate.add_argument("--unplug-seconds", type=seconds, default=3.0,
                          help=_("how long an unplug fault lasts (default 3)"))
    simulate.add_argument("--pace", action=argparse.BooleanOptionalAction, default=True,
                          help=_("send at the meter's baud rate (default) or at once"))
    simulate.add_argument("--seed", type=int, default=1,
                          help=_("seed of the made-up values and faults (default 1)"))
    simulate.add_argument("--log", type=Path, help=_("write what was sent (frame counter, "
                                                   "fault, expected values) as JSON lines"))
    simulate.add_argument("--receiver", choices=("im871a", "amb8465", "cul", "rtl_wmbus"),
                          help=_("profile linznetz: the wireless M-Bus receiver whose protocol "
                                 "the pseudo-terminal speaks (default im871a)"))
    simulate.add_argument("--loss", type=float, default=0.0,
                          help=_("profile linznetz: share of telegrams lost on the air "
                                 "(default 0)"))
    quiet_option(simulate)

    record = sub.add_parser(
        "record", help=_("save what arrives on the line to a capture file"),
        description=_("Write every byte that arrives, with receive times, to a capture file "
                    "(text, readable by decode and replay); --raw writes the bytes alone."))
    source_options(record)
    key_options(record)
    meter_options(record)
    record.add_argument("--output", "-o", type=Path, required=True, help=_("capture file"))
    record.add_argument("--raw", action="store_true", help=_("write raw bytes, no times"))
    record.add_argument("--count", type=int, help=_("stop after this many pushes"))
    record.add_argument("--duration", type=seconds, help=_("stop after this many seconds"))
    exists = record.add_mutually_exclusive_group()
    exists.add_argument("--force", action="store_true", help=_("overwrite an existing file"))
    exists.add_argument("--append", action="store_true", help=_("add to an existing capture"))
    record.add_argument("--redact", action="store_true",
                        help=_("replace the system title and meter numbers (needs the key; the "
                             "capture stays decodable with it)"))
    quiet_option(record)

    replay = sub.add_parser(
        "replay", help=_("play a capture file on a pseudo-terminal, like a meter"),
        description=_("Play a capture on a pseudo-terminal at its recorded pace (or faster), "
                    "for read, doctor or the service."))
    replay.add_argument("capture", type=Path)
    replay.add_argument("--link", type=Path, help=_("also make this path a symlink to the device"))
    replay.add_argument("--speed", type=seconds, default=1.0,
                        help=_("1 = recorded pace, 10 = ten times faster, 0 = at once"))
    replay.add_argument("--wait", type=seconds, default=1.0,
                        help=_("seconds to wait before playing (for the reader to open)"))
    quiet_option(replay)

    doctor = sub.add_parser(
        "doctor", help=_("find out why a meter does not read, step by step"),
        description=_("Open the port, find the serial settings and framing, name the meter "
                    "and operator, check the keys, and end with one verdict. Exit code 0 "
                    "only when a push decoded."))
    source_options(doctor)
    key_options(doctor)
    meter_options(doctor)
    doctor.add_argument("--timeout", type=seconds, default=30.0,
                        help=_("seconds to wait at each step (default 30; some meters push "
                             "every 15 s)"))


# ------------------------------------------------------------------ read


def cmd_read(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.count is not None and args.count < 1:
        raise UsageError(_("--count must be at least 1"))
    meter = meter_from(args)
    return run(_read(meter.connector, meter.decoder, args, meter.config["meter"]["name"]))


async def _read(connector: Connector, decoder: Decoder, args: argparse.Namespace,
                name: str = "") -> int:
    from contextlib import aclosing
    from dataclasses import replace

    from ..live.reader import KeyRejected, LiveReader
    from ..sinks.console import ConsoleSink
    from ..sources.base import SourceFatal

    reader = LiveReader(connector, decoder, options=live_options(key_failures=3))
    count = 0
    console = ConsoleSink(args.format)
    try:
        async with aclosing(reader.readings()) as readings:
            async for reading in readings:
                # the config's name for it, as the service's outputs carry it
                shown = replace(reading, meter=replace(reading.meter, name=name)) if name \
                    else reading
                await console.write((shown,))
                count += 1
                if args.count and count >= args.count:
                    return EXIT_OK
    except SourceFatal as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyRejected:
        return EXIT_KEY  # the reader has said why, once
    finally:
        others = getattr(decoder, "other_meters", 0)  # a radio receiver hears its neighbours
        if others and not args.quiet:
            said = _("the receiver also heard 1 other meter (not read)") if others == 1 else \
                _("the receiver also heard {count} other meters (not read)")
            print("smartmeter-readout: " + said.format(count=others), file=sys.stderr)
    return EXIT_OK if count or not args.count else 4


# ------------------------------------------------------------------ simulate


async def _until_read(line: object, within: float = 10.0) -> None:
    """Hang up once a reader took the last push: a pseudo-terminal drops what is unread when
    it closes. Nobody reading: after ``within`` seconds. A TCP bridge's socket delivers what
    it was given before it closes."""
    import asyncio  # here, not above: --help and decode start without it (cli.common)

    waiting = getattr(line, "waiting", None)
    if waiting is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while waiting() and loop.time() < deadline:
        await asyncio.sleep(0.05)


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..keys import parse_key
    from ..sim.faults import FaultPlan
    from ..sim.simulator import PROFILES

    if args.profile == "linznetz" or args.receiver:  # wireless M-Bus: a receiver stick
        from .radio import simulate_radio

        return simulate_radio(args, _until_read)
    if args.profiles:
        width = max(map(len, PROFILES))
        for name, profile in PROFILES.items():
            print(f"{name:<{width}}  {profile.serial:<10}  {profile.description}")
        return EXIT_OK
    if args.profile not in PROFILES:
        raise UsageError(_("unknown profile {name}; valid are {names}").format(
            name=repr(args.profile), names=", ".join(PROFILES)))
    try:
        faults = FaultPlan.parse(args.faults)
        key = parse_key(args.key)
        auth_key = parse_key(args.auth_key, what="authentication key")
    except ValueError as exc:
        raise UsageError(localize(exc)) from None
    if args.interval is not None and args.interval <= 0:
        raise UsageError(_("--interval must be positive"))
    if args.tcp:
        from ..sources.tcp import parse_host_port

        try:
            args.tcp = parse_host_port(args.tcp, listen=True)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    setup_logging(args)
    profile = PROFILES[args.profile]
    if key is None and profile.security_control is not None:
        key = os.urandom(16)
        print(_("key (made up for this simulation): {key}").format(key=key.hex().upper()),
              flush=True)
    if auth_key is None and profile.authenticated:
        auth_key = os.urandom(16)
        print(_("authentication key (made up): {key}").format(key=auth_key.hex().upper()),
              flush=True)
    return run(_simulate(args, profile.name, key, auth_key, faults))


async def _simulate(args: argparse.Namespace, profile: str, key: bytes | None,
                    auth_key: bytes | None, faults: object) -> int:
    import json

    from ..sim.simulator import Simulator
    from ..sim.virtual_meter import SentPush, VirtualMeter

    simulator = Simulator(profile, key=key, auth_key=auth_key, seed=args.seed)
    meter = VirtualMeter(simulator, link=args.link, interval=args.interval,
                         faults=faults, pace=args.pace, seed=args.seed,  # type: ignore[arg-type]
                         unplug_seconds=args.unplug_seconds, tcp=args.tcp)
    where = f" (link {args.link})" if args.link else ""
    print(f"{meter.path}{where}", flush=True)
    damage, every = str(faults), f"{meter.interval:g}"
    print(_("simulating {meter}, a push every {seconds} s at {serial}; faults: {faults}",
            meter=simulator.profile.description, seconds=every,
            serial=simulator.profile.serial, faults=_("none") if damage == "none" else damage),
          file=sys.stderr, flush=True)
    log = args.log.open("w") if args.log else None

    def sent(item: SentPush) -> None:
        if log is not None:
            record = {"frame_counter": item.push.frame_counter,
                      "time": item.push.time.isoformat(), "fault": item.fault,
                      "expected": item.push.expected}
            log.write(json.dumps(record, default=str) + "\n")
            log.flush()

    try:
        await meter.run(args.count, on_push=sent)
        await _until_read(meter.port)
    finally:
        meter.close()
        if log is not None:
            log.close()
        damaged = sum(1 for item in meter.sent if item.fault not in (None, "garbage"))
        print(_("sent {count} pushes, {damaged} damaged").format(count=len(meter.sent),
                                                                  damaged=damaged),
              file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------ record / replay


def cmd_record(args: argparse.Namespace) -> int:
    setup_logging(args)
    meter = meter_from(args)
    if args.redact and not meter.decoder.has_key:
        raise UsageError(_("--redact needs the key (--key): the identifiers are inside the "
                           "encrypted data"))
    return run(_record(meter.connector, meter.decoder, args, meter.keys))


async def _record(connector: Connector, decoder: Decoder, args: argparse.Namespace,
                  keys: Keys) -> int:
    import asyncio
    from contextlib import aclosing
    from datetime import UTC, datetime

    from ..capture.align import PushAligner
    from ..capture.format import format_chunk, format_header
    from ..live.reader import LiveReader
    from ..sources.base import SourceFatal

    done = asyncio.Event()
    redactor = None
    if args.redact:
        from ..capture.redact import Redactor

        redactor = Redactor(*keys)
    appending = args.append and args.output.exists()
    if args.output.exists() and not (args.force or args.append):
        raise UsageError(_("{file} exists: --force overwrites it, --append adds to it").format(
            file=args.output))
    try:
        out = args.output.open("ab" if appending else "wb")
    except OSError as exc:
        raise UsageError(_("cannot write {file}: {reason}").format(
            file=args.output, reason=exc.strerror)) from None
    reader: LiveReader

    aligner = PushAligner()

    def write(data: bytes, received: datetime) -> None:
        waiting = not aligner.aligned
        data = aligner.feed(data)  # the capture begins with a whole push
        if waiting and aligner.aligned and aligner.skipped:
            print("smartmeter-readout: " + _(
                "recording from the first whole push on (the {count} bytes of the push under "
                "way are left out)").format(count=aligner.skipped), file=sys.stderr)
        if redactor is not None:
            data = redactor.feed(data)
        if not data:
            pass
        elif args.raw:
            out.write(data)
        else:
            out.write(format_chunk(received, data).encode())
        out.flush()
        if args.count and decoder.stats.complete >= args.count:
            done.set()

    reader = LiveReader(connector, decoder, on_bytes=write,
                        options=live_options(key_needed=False))
    if not args.raw and not appending:
        notes = ["receive time (UTC) and bytes in hex, one chunk per line"]
        if args.redact:
            notes.append("identifiers redacted: system title and meter numbers replaced")
        out.write(format_header(connector.name).encode())
        out.write("".join(f"# {n}\n" for n in notes).encode())

    async def consume() -> None:
        async with aclosing(reader.readings()) as readings:
            async for _ in readings:
                pass

    task = asyncio.create_task(consume())
    waiter = asyncio.create_task(done.wait())
    try:
        finished, _pending = await asyncio.wait({task, waiter}, timeout=args.duration,
                                         return_when=asyncio.FIRST_COMPLETED)
        if task in finished:
            task.result()
    except SourceFatal as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        for pending in (task, waiter):
            pending.cancel()
        await asyncio.gather(task, waiter, return_exceptions=True)
        rest = aligner.flush()
        if redactor is not None:
            rest = redactor.feed(rest) + redactor.flush()
        if rest:
            out.write(rest if args.raw else format_chunk(datetime.now(UTC), rest).encode())
        out.close()
    if redactor is not None and redactor.left_out:
        print("smartmeter-readout: " + _(
            "{count} pushes left out: they could not be redacted (broken, or not decodable "
            "with the given keys)").format(count=redactor.left_out), file=sys.stderr)
    pushes = decoder.stats.complete
    recorded = _("recorded {bytes} bytes, 1 push, to {file}") if pushes == 1 else \
        _("recorded {bytes} bytes, {count} pushes, to {file}")
    print(recorded.format(bytes=reader.bytes_received, count=pushes, file=args.output),
          file=sys.stderr)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    setup_logging(args)
    if not args.capture.is_file():
        raise UsageError(_("capture {file} does not exist").format(file=args.capture))
    return run(_replay(args))


async def _replay(args: argparse.Namespace) -> int:
    import asyncio

    from ..sim.pty import VirtualSerialPort
    from ..sources.base import SourceFatal, SourceFinished
    from ..sources.replay import ReplayConnector

    connector = ReplayConnector(args.capture, speed=args.speed)
    try:
        connection = await connector.open()
    except SourceFatal as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    with VirtualSerialPort(args.link) as port:
        where = f" (link {args.link})" if args.link else ""
        print(f"{port.path}{where}", flush=True)
        await asyncio.sleep(args.wait)
        sent = 0
        try:
            while True:
                data = (await connection.read(3600.0)).data
                port.write(data)
                sent += len(data)
        except SourceFinished:
            pass
        await asyncio.sleep(1.0)  # let the reader take the last bytes before hanging up
    print(_("replayed {count} bytes").format(count=sent), file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------ doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    meter = meter_from(args)
    key, auth_key = meter.keys
    return run(_doctor(meter.connector, key, auth_key, args, meter.config["source"]["port"],
                       meter.decoder))


async def _doctor(connector: Connector, key: bytes | None, auth_key: bytes | None,
                  args: argparse.Namespace, port: str | None, decoder: Decoder | None = None
                  ) -> int:
    from ..live.doctor import Verdict, diagnose
    from ..live.reader import LiveOptions
    from ..sinks.formats import table
    from ..wireless import WirelessDecoder

    if isinstance(decoder, WirelessDecoder):  # a radio receiver (LINZ NETZ)
        from ..live.radio_doctor import diagnose_radio

        found = await diagnose_radio(connector, decoder, timeout=args.timeout,
                                     say=lambda line: print(line, flush=True))
    else:
        found = await diagnose(connector, key=key, auth_key=auth_key, timeout=args.timeout,
                               say=lambda line: print(line, flush=True),
                               options=LiveOptions(silence=args.timeout))
    print()
    print(_("Verdict: {sentence}").format(sentence=found.sentence))
    if found.verdict in (Verdict.DECODED, Verdict.IMPLAUSIBLE) and found.reading is not None:
        print()
        print(table(found.reading), end="")
        print()
        print(_("Config lines to use (smartmeter-readout run --config FILE):"))
        lines = list(found.config)
        if port:
            at = lines.index("[source]") + 1 if "[source]" in lines else len(lines)
            if at == len(lines):
                lines += ["", "[source]"]
                at = len(lines)
            lines.insert(at, f'port = "{port}"')
        for line in lines:
            print(f"  {line}")
    return found.exit_code


COMMANDS = {"read": cmd_read, "simulate": cmd_simulate, "record": cmd_record,
            "replay": cmd_replay, "doctor": cmd_doctor}
