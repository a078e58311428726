"""``decode``: every push found in hex text, a capture file, a raw binary file or stdin."""

from __future__ import annotations

import argparse
import itertools
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..capture.format import Chunk, is_capture, parse_capture
from ..events import DecoderStats, Event, EventKind
from ..i18n import _, localize
from ..sinks.formats import Printer
from .common import EXIT_KEY, EXIT_NO_PUSH, EXIT_OK, UsageError, decoder_from, key_options

__all__ = ["COMMANDS", "add_decode_command", "read_input"]

_HEX_TEXT = frozenset(string.hexdigits + string.whitespace + ":-,")


def add_decode_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decode = sub.add_parser(
        "decode", help=_("decode pushes from hex, a capture file or stdin"),
        description=_("Decode every push found in the inputs. INPUT is a hex string (spaces and "
                    "newlines allowed), a file (hex text or a raw binary capture) or - for "
                    "stdin."))
    decode.add_argument("inputs", nargs="*", metavar="INPUT", default=["-"])
    key_options(decode)
    decode.add_argument("--format", choices=("table", "json", "jsonl", "csv"), default="table",
                        help=_("table for people (default), json, jsonl or csv for programs"))
    decode.add_argument("--timezone", default="Europe/Vienna",
                        help=_("zone of meter clocks without UTC offset (default Europe/Vienna)"))
    decode.add_argument("--quiet", "-q", action="store_true",
                        help=_("print only the readings and the final verdict"))
    decode.add_argument("--config", type=Path,
                        help=_("TOML file; its [layouts.<name>] tables describe positional "
                             "layouts of meters the decoder does not know"))


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
        raise UsageError(_("cannot read {file}: {reason}").format(
            file=item[:60], reason=exc.strerror)) from None
    if text and all(c in string.hexdigits for c in text) and len(text) % 2 == 0:
        return bytes.fromhex(text)
    raise UsageError(_("input {input} is neither an existing file nor hex bytes (give a hex "
                       "string, a capture file, or - for stdin)").format(input=repr(item[:40])))


_CHUNK = 1 << 16


def _stdin_chunks(stream: BinaryIO) -> Iterator[Chunk]:
    """Standard input as it arrives, in bounded pieces: raw bytes, hex text (a hex dump, kept
    across line breaks) or a capture file (its lines with their receive times)."""
    first = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
    if not first:
        return
    if is_capture(first):
        pending = b""
        piece = first
        number = 0
        while piece:
            *lines, pending = (pending + piece).split(b"\n")
            for line in lines:
                number += 1
                try:
                    yield from parse_capture(line.decode("utf-8", "replace"))
                except ValueError as exc:
                    raise UsageError(f"-: capture line {number}: {exc}") from None
            piece = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
        yield from parse_capture(pending.decode("utf-8", "replace"))
        return
    stripped = first.strip()
    hex_text = bool(stripped) and all(chr(b) in _HEX_TEXT for b in stripped)
    carry = ""
    piece = first
    while piece:
        if hex_text:
            digits = carry + "".join(chr(b) for b in piece if chr(b) in string.hexdigits)
            cut = len(digits) - len(digits) % 2
            carry = digits[cut:]
            yield Chunk(None, bytes.fromhex(digits[:cut]))
        else:
            yield Chunk(None, piece)
        piece = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)


_END = Chunk(None, b"")  # an input ends here


def _inputs(items: list[str]) -> Iterator[tuple[str, Chunk]]:
    """The chunks of every input in order, each input closed by ``_END``: every input is a
    whole capture, and its last push must not wait for bytes that never come."""
    for item in items:
        yield from ((item, chunk) for chunk in _chunks_of(item))
        yield item, _END


def _chunks_of(item: str) -> Iterator[Chunk]:
    if item == "-":
        yield from _stdin_chunks(sys.stdin.buffer)
        return
    data = read_input(item)
    if not is_capture(data):
        yield Chunk(None, data)
        return
    try:  # a recorded capture: every chunk with its receive time
        yield from parse_capture(data.decode("utf-8", "replace"))
    except ValueError as exc:
        raise UsageError(f"{item}: {exc}") from None


def cmd_decode(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    decoder = decoder_from(args)
    if args.inputs == ["-"] and sys.stdin.isatty() and not args.quiet:
        print("smartmeter-readout: " + _(
            "decoding what arrives on standard input (hex text, a capture file or raw bytes "
            "from a meter); Ctrl-D ends it"), file=sys.stderr)
    chunks = _inputs(args.inputs)
    head = next(chunks, None)
    if head is not None and _wireless(head[1].data):  # a wireless M-Bus telegram (LINZ NETZ)
        from ..wireless import WirelessDecoder

        decoder = WirelessDecoder.like(decoder)
    printer = Printer(args.format, sys.stdout, json_array=True)
    first: dict[EventKind, Event] = {}  # the first event of each kind: the verdict's evidence
    total = 0
    for _name, chunk in itertools.chain((head,) if head else (), chunks):
        total += len(chunk.data)
        end = chunk is _END  # (the end keeps the receive time of the input's last bytes)
        received = chunk.received or (None if end else datetime.now(UTC))
        for reading in decoder.feed(chunk.data, received=received, final=end):
            printer.print(reading)
            sys.stdout.flush()
        for event in decoder.take_events():
            first.setdefault(event.kind, event)
            if event.kind is EventKind.IMPLAUSIBLE and not args.quiet:
                print(f"smartmeter-readout: {localize(event)}", file=sys.stderr)
    printer.close()
    stats = decoder.stats
    if not args.quiet:
        _summarise(stats)
    if printer.count:
        return EXIT_OK
    if _key_is_the_cause(first, stats, total):
        cause = next(first[k] for k in (EventKind.TAG_MISMATCH, EventKind.WRONG_KEY,
                                        EventKind.KEY_MISSING) if k in first)
        print(f"smartmeter-readout: {localize(cause)}", file=sys.stderr)
        return EXIT_KEY
    for kind in (EventKind.UNKNOWN_LAYOUT, EventKind.MALFORMED, EventKind.SEGMENT_LOST,
                 EventKind.CUT_SHORT, EventKind.BAD_FRAME):
        if kind in first:
            print("smartmeter-readout: " + _("no valid push found; {reason}").format(
                reason=localize(first[kind])), file=sys.stderr)
            return EXIT_NO_PUSH
    print("smartmeter-readout: " + _(
        "no valid push found in the input (no M-Bus, HDLC, APDU or DSMR frame with intact "
        "checksums)"), file=sys.stderr)
    return EXIT_NO_PUSH


def _wireless(data: bytes) -> bool:
    from ..wireless import looks_like_telegram

    return looks_like_telegram(data)


def _key_is_the_cause(first: dict[EventKind, Event], stats: DecoderStats, total: int) -> bool:
    """A key verdict needs evidence: a push in a checksummed frame the key failed, or a stream
    that is pushes and not mostly noise. Random bytes hold a few things shaped like bare
    APDUs; their failing to decrypt says nothing about the key."""
    failed = [first[kind] for kind in (EventKind.TAG_MISMATCH, EventKind.WRONG_KEY,
                                       EventKind.KEY_MISSING) if kind in first]
    if not failed:
        return False
    if any(event.framing in ("mbus", "hdlc", "wmbus") for event in failed):
        return True
    return stats[EventKind.GARBAGE] * 2 < total


def _summarise(stats: DecoderStats) -> None:
    for kind in (EventKind.BAD_FRAME, EventKind.CUT_SHORT, EventKind.GARBAGE,
                 EventKind.SEGMENT_LOST, EventKind.MALFORMED, EventKind.TAG_UNCHECKED,
                 EventKind.UNKNOWN_LAYOUT):
        if stats[kind]:
            print(f"smartmeter-readout: {stats[kind]} {localize(kind.label)}", file=sys.stderr)


COMMANDS = {"decode": cmd_decode}
