"""``decode``: every push found in hex text, a capture file, a raw binary file or stdin."""

from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

from ..events import DecoderStats, EventKind
from .common import EXIT_KEY, EXIT_NO_PUSH, EXIT_OK, UsageError, decoder_from, key_options

__all__ = ["COMMANDS", "add_decode_command", "read_input"]

_HEX_TEXT = frozenset(string.hexdigits + string.whitespace + ":-,")


def add_decode_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decode = sub.add_parser(
        "decode", help="decode pushes from hex, a capture file or stdin",
        description="Decode every push found in the inputs. INPUT is a hex string (spaces and "
                    "newlines allowed), a file (hex text or a raw binary capture) or - for "
                    "stdin.")
    decode.add_argument("inputs", nargs="*", metavar="INPUT", default=["-"])
    key_options(decode)
    decode.add_argument("--format", choices=("table", "json", "jsonl", "csv"), default="table")
    decode.add_argument("--timezone", default="Europe/Vienna",
                        help="zone of meter clocks without UTC offset (default Europe/Vienna)")
    decode.add_argument("--config", type=Path,
                        help="TOML file; its [layouts.<name>] tables describe positional "
                             "layouts of meters the decoder does not know")


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

    decoder = decoder_from(args)
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


COMMANDS = {"decode": cmd_decode}
