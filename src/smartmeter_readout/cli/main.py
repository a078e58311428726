"""The ``smartmeter-readout`` command.

Exit codes (ARCHITECTURE.md): 0 success, 1 runtime failure, 2 usage or configuration error,
3 decryption or authentication failed, 4 no valid push in the input. Errors are one sentence
on stderr, never a traceback and never a key. Subcommands import only what they need, so
``decode`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..events import DecoderStats, EventKind

if TYPE_CHECKING:
    from ..cosem.layouts import PositionalLayout
    from ..decoder import Decoder

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_KEY, EXIT_NO_PUSH = 0, 1, 2, 3, 4
_HEX_TEXT = frozenset(string.hexdigits + string.whitespace + ":-,")


class UsageError(Exception):
    """Bad usage: one sentence for stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="smartmeter-readout",
        description="Read, decrypt and decode the customer interface of DLMS/COSEM smart "
                    "meters.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    decode = sub.add_parser(
        "decode", help="decode pushes from hex, a capture file or stdin",
        description="Decode every push found in the inputs. INPUT is a hex string (spaces and "
                    "newlines allowed), a file (hex text or a raw binary capture) or - for "
                    "stdin.")
    decode.add_argument("inputs", nargs="*", metavar="INPUT", default=["-"])
    _key_options(decode)
    decode.add_argument("--format", choices=("table", "json", "jsonl", "csv"), default="table")
    decode.add_argument("--timezone", default="Europe/Vienna",
                        help="zone of meter clocks without UTC offset (default Europe/Vienna)")
    decode.add_argument("--config", type=Path,
                        help="TOML file; its [layouts.<name>] tables describe positional "
                             "layouts of meters the decoder does not know")

    from .live import add_live_commands

    add_live_commands(sub, _key_options)
    from .service import add_service_commands

    add_service_commands(sub, _key_options)
    return parser


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="AES key from your grid operator (hex; or set "
                                      "SMARTMETER_KEY)")
    parser.add_argument("--auth-key", help="authentication key, for meters that send a tag "
                                           "(or set SMARTMETER_AUTH_KEY)")
    parser.add_argument("--key-file", type=Path, help="read the key from this file")


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise UsageError(f"cannot read the key file {path}: {exc.strerror}") from None


def key_arguments(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The key and authentication key from flags, key file or environment (flags win)."""
    key = args.key or os.environ.get("SMARTMETER_KEY") or None
    if args.key_file is not None:
        key = _read_key_file(args.key_file)
    auth_key = args.auth_key or os.environ.get("SMARTMETER_AUTH_KEY") or None
    return key, auth_key


def make_decoder(args: argparse.Namespace) -> Decoder:
    from zoneinfo import ZoneInfoNotFoundError

    from ..decoder import Decoder

    key, auth_key = key_arguments(args)
    layouts = _layouts(args.config) if getattr(args, "config", None) else []
    try:
        return Decoder(key, auth_key, timezone=getattr(args, "timezone", "Europe/Vienna"),
                       layouts=layouts)
    except (ZoneInfoNotFoundError, IsADirectoryError):
        raise UsageError(f"unknown time zone {args.timezone!r}: use a name like "
                         "Europe/Vienna") from None
    except ValueError as exc:  # KeyFormatError (the message never holds the key)
        raise UsageError(str(exc)) from None


def _layouts(path: Path) -> list[PositionalLayout]:
    """The ``[layouts.<name>]`` tables of a config file (the whole file is checked)."""
    from ..errors import ConfigError
    from ..service.config import load_config

    try:
        return list(load_config(path, env={}).layouts)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _as_bytes(raw: bytes) -> bytes:
    """Hex text (a saved hex dump) becomes bytes; a capture file stays as it is (its
    receive times matter); anything else is a raw binary capture."""
    stripped = raw.strip()
    if stripped and all(chr(b) in _HEX_TEXT for b in stripped):
        text = "".join(chr(b) for b in stripped if chr(b) in string.hexdigits)
        if len(text) % 2 == 0:
            return bytes.fromhex(text)
    return raw


def read_input(item: str) -> bytes:
    if item == "-":
        return _as_bytes(sys.stdin.buffer.read())
    text = "".join(item.split()).replace(":", "").replace("-", "")
    if text.lower().startswith("0x"):
        text = text[2:]
    if len(text) > 8 and all(c in string.hexdigits for c in text) and len(text) % 2 == 0:
        return bytes.fromhex(text)
    path = Path(item)
    try:
        if path.is_file():
            return _as_bytes(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {item[:60]}: {exc.strerror}") from None
    if text and all(c in string.hexdigits for c in text) and len(text) % 2 == 0:
        return bytes.fromhex(text)
    raise UsageError(f"input {item[:40]!r} is neither an existing file nor hex bytes "
                     "(give a hex string, a capture file, or - for stdin)")


def cmd_decode(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ..capture.format import is_capture, parse_capture
    from ..sinks.formats import render

    decoder = make_decoder(args)
    readings = []
    for item in args.inputs:
        data = read_input(item)
        if not is_capture(data):
            readings += decoder.feed(data, received=datetime.now(UTC))
            continue
        try:  # a recorded capture: every chunk with its receive time
            for chunk in parse_capture(data.decode("utf-8", "replace")):
                readings += decoder.feed(chunk.data, received=chunk.received)
        except ValueError as exc:
            raise UsageError(f"{item}: {exc}") from None
    if readings:
        sys.stdout.write(render(readings, args.format))
    stats = decoder.stats
    events = decoder.take_events()
    _summarise(stats)
    for event in events:
        if event.kind is EventKind.IMPLAUSIBLE:
            print(f"smartmeter-readout: {event.message}", file=sys.stderr)
    if readings:
        return EXIT_OK
    by_kind = {event.kind: event for event in events}
    for kind in (EventKind.TAG_MISMATCH, EventKind.WRONG_KEY, EventKind.KEY_MISSING):
        if kind in by_kind:
            print(f"smartmeter-readout: {by_kind[kind].message}", file=sys.stderr)
            return EXIT_KEY
    for kind in (EventKind.UNKNOWN_LAYOUT, EventKind.MALFORMED, EventKind.SEGMENT_LOST,
                 EventKind.BAD_FRAME):
        if kind in by_kind:
            print(f"smartmeter-readout: no valid push found; {by_kind[kind].message}",
                  file=sys.stderr)
            return EXIT_NO_PUSH
    print("smartmeter-readout: no valid push found in the input (no M-Bus, HDLC, APDU or "
          "DSMR frame with intact checksums)", file=sys.stderr)
    return EXIT_NO_PUSH


def _summarise(stats: DecoderStats) -> None:
    for kind in (EventKind.BAD_FRAME, EventKind.GARBAGE, EventKind.SEGMENT_LOST,
                 EventKind.MALFORMED, EventKind.TAG_UNCHECKED, EventKind.UNKNOWN_LAYOUT):
        if stats[kind]:
            print(f"smartmeter-readout: {stats[kind]} {kind.label}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from .live import COMMANDS as LIVE
    from .service import COMMANDS as SERVICE

    commands = {"decode": cmd_decode, **LIVE, **SERVICE}
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: one sentence, the traceback only on request
        if os.environ.get("SMARTMETER_DEBUG"):
            raise
        print(f"smartmeter-readout: internal error ({type(exc).__name__}); please report it "
              "with SMARTMETER_DEBUG=1 set to see the details", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # run as a script: use the package's module, not a second copy
    from smartmeter_readout.cli.main import main as package_main

    sys.exit(package_main())
