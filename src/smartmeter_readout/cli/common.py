"""What every command shares: exit codes, usage errors, the key and source flags, logging,
and the path from flags to the one composition root (``service.build``).

A command never builds a decoder or a source from its flags by itself: the flags become
config overrides (``flag_overrides``), the config loader adds the config file and the
environment (SMARTMETER_KEY ...), and ``service.build`` builds from the result, as ``run``
does. The heavy modules (the decoder's cryptography, asyncio, the sources) are imported
inside the functions that need them, so ``--help`` and ``decode`` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import _
from ..masking import hide_secrets

if TYPE_CHECKING:
    from ..decoder import Decoder
    from ..live.reader import LiveOptions
    from ..service.build import Keys
    from ..service.config import Config
    from ..sources.base import Connector

__all__ = ["EXIT_FAILURE", "EXIT_KEY", "EXIT_NO_PUSH", "EXIT_OK", "EXIT_USAGE", "Meter",
           "UsageError", "decoder_from", "flag_overrides", "key_options",
           "live_options", "load", "meter_from", "meter_options", "quiet_option",
           "run", "seconds", "setup_logging", "source_options"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_KEY, EXIT_NO_PUSH = 0, 1, 2, 3, 4


class UsageError(Exception):
    """Bad usage: one sentence for stderr, exit 2."""


# ------------------------------------------------------------------ flags


def seconds(text: str) -> float:
    """An argparse type for durations and paces: a finite number, not below zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or more")
    return value


def key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help=_("AES key from your grid operator (hex; or set "
                                      "SMARTMETER_KEY)"))
    parser.add_argument("--auth-key", help=_("authentication key, for meters that send a tag "
                                           "(or set SMARTMETER_AUTH_KEY)"))
    parser.add_argument("--key-file", type=Path, help=_("read the key from this file"))


def source_options(parser: argparse.ArgumentParser, *, replay: bool = False) -> None:
    """Where the bytes come from; none of them with ``--config``/``--meter``, whose
    ``[source]`` says it (``meter_from``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", help=_("serial device, e.g. /dev/ttyUSB0"))
    where.add_argument("--tcp", metavar="HOST:PORT", help=_("TCP serial bridge (ser2net, ESP)"))
    where.add_argument("--command", metavar="CMD", dest="source_command", help=_(
        "read what a program writes, e.g. \"rtl_sdr -f 868.95M -s 1.6e6 - | rtl_wmbus\""))
    if replay:
        where.add_argument("--replay", type=Path, metavar="CAPTURE",
                           help=_("read a recorded capture instead of a meter"))
        parser.add_argument("--speed", type=seconds, default=0.0,
                            help=_("replay pace: 1 = as recorded, 0 = at once (default)"))
    parser.add_argument("--operator", help=_("your grid operator: its serial settings are used "
                                           "(see README); default: detect"))
    # no defaults here: a flag not given leaves the config's setting (whose default is auto)
    parser.add_argument("--baud", help=_("auto (default) or a rate, e.g. 2400"))
    parser.add_argument("--parity", choices=("auto", "N", "E", "O"),
                        help=_("auto (default), N (none), E (even) or O (odd)"))
    parser.add_argument("--receiver", choices=("auto", "im871a", "amb8465", "cul", "rtl_wmbus"),
                        help=_("the wireless M-Bus receiver on the port (LINZ NETZ); default: "
                               "detect"))
    parser.add_argument("--radio-id", metavar="NUMBER",
                        help=_("your wireless M-Bus meter's number: the receiver hears others "
                               "too (default: the first the key opens)"))


def meter_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--meter``: the meter's source and keys from the service's config."""
    parser.add_argument("--config", type=Path, help=_(
        "TOML configuration file: the meter's source and keys ([meter], [source] or "
        "[[meters]]) and [layouts.<name>] tables; flags given beside it win"))
    parser.add_argument("--meter", metavar="NAME", help=_(
        "the meter of that name, of a config with [[meters]] tables (needed when it has "
        "several)"))
    parser.set_defaults(usage_error=parser.error)


def quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help=_("log only problems, not state changes"))


class SecretFilter(logging.Filter):
    """Hides passwords, tokens and keys in every log line (``masking``), in every form."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = hide_secrets(message, self.secrets)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


SECRETS = SecretFilter()  # the service adds the configured secrets by value


def setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SECRETS)
    if os.environ.get("JOURNAL_STREAM"):  # journald stamps time and level itself
        handler.setFormatter(logging.Formatter("smartmeter-readout: %(message)s"))
    elif getattr(args, "command", None) in ("run", "demo", "collect"):  # long runs: when, how bad
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s smartmeter-readout: %(message)s", "%Y-%m-%d %H:%M:%S"))
    else:
        handler.setFormatter(logging.Formatter("smartmeter-readout: %(message)s"))
    log = logging.getLogger("smartmeter_readout")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


# ------------------------------------------------------------------ flags -> config -> build


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def flag_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every flag that has a config key, as overrides (``None``: not given)."""
    def flag(name: str) -> Any:
        return getattr(args, name, None)

    return {
        "meter": {"key": flag("key"), "auth_key": flag("auth_key"),
                  "key_file": _text(flag("key_file")), "operator": flag("operator"),
                  "timezone": flag("timezone"), "radio_id": flag("radio_id")},
        "source": {"port": flag("port"), "tcp": flag("tcp"), "simulate": flag("simulate"),
                   "replay": _text(flag("replay")), "speed": flag("speed"),
                   "command": flag("source_command"),
                   "baud": _text(flag("baud")), "parity": flag("parity"),
                   "receiver": flag("receiver")},
        "sqlite": {"path": _text(flag("sqlite"))},
        "console": {"format": flag("console")},
    }


@contextlib.contextmanager
def _as_usage() -> Iterator[None]:
    """A configuration error met while building for a command is a usage error (exit 2)."""
    from ..errors import ConfigError
    from ..i18n import localize

    try:
        yield
    except ConfigError as exc:
        raise UsageError(localize(exc)) from None


def load(args: argparse.Namespace, overrides: dict[str, dict[str, Any]] | None = None,
         *, one_meter: bool = False) -> Config:
    """The config: ``--config`` (if the command has it), the environment, then the flags.
    ``one_meter``: for a command that reads one meter, the one ``--meter`` names
    (``load_config``)."""
    from ..service.config import load_config

    with _as_usage():
        return load_config(getattr(args, "config", None),
                           overrides=flag_overrides(args) if overrides is None else overrides,
                           warn=logging.getLogger("smartmeter_readout").warning,
                           one_meter=one_meter, meter=getattr(args, "meter", None))


@dataclass(frozen=True, slots=True)
class Meter:
    """The one meter a command reads: its config, source, decoder and keys."""

    config: Config
    connector: Connector
    decoder: Decoder
    keys: Keys


_SOURCE_FLAGS = ("port", "tcp", "source_command", "replay")


def meter_from(args: argparse.Namespace) -> Meter:
    """The meter of ``read``, ``record`` and ``doctor``: named by the flags, or by
    ``--config`` (its ``[source]``, or ``--meter``'s ``[[meters]]`` table), built once with
    the keys its source needs (a simulated meter of the config makes one up)."""
    from ..service.build import build_connector, build_decoder, meter_keys

    named = any(getattr(args, flag, None) for flag in _SOURCE_FLAGS)
    if not (named or getattr(args, "config", None) or getattr(args, "meter", None)):
        flags = " ".join(f"--{flag.removeprefix('source_')}" for flag in _SOURCE_FLAGS
                         if hasattr(args, flag))
        message = _("one of the arguments %s is required") % flags  # argparse's own words
        error = getattr(args, "usage_error", None)  # the command's parser (``meter_options``)
        if error is None:
            raise UsageError(message)
        error(message)
    config = load(args, one_meter=True)
    with _as_usage():
        connector, keys, notes = build_connector(config, meter_keys(config))
        decoder = build_decoder(config, keys)
    for note in notes:
        logging.getLogger("smartmeter_readout").info(note)
    return Meter(config, connector, decoder, keys)


def decoder_from(args: argparse.Namespace) -> Decoder:
    from ..service.build import build_decoder

    config = load(args)
    with _as_usage():
        return build_decoder(config)


# ------------------------------------------------------------------ running


def run(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; SIGTERM stops it like Ctrl-C, so what it made (a symlink
    to its pseudo-terminal, a capture file) is cleaned up on the way out."""
    import asyncio
    import signal

    def stop(number: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        return EXIT_OK  # stopped by the user
    finally:
        signal.signal(signal.SIGTERM, previous)


def live_options(key_failures: int = 0, *, key_needed: bool = True) -> LiveOptions:
    """The reader's timings; SMARTMETER_LIVE_<NAME> shortens them (the tests do)."""
    from dataclasses import replace

    from ..live.reader import LiveOptions

    base = LiveOptions(key_failures=key_failures, key_needed=key_needed)

    def tuned(name: str, default: float) -> float:
        return float(os.environ.get(f"SMARTMETER_LIVE_{name.upper()}") or default)

    return replace(base, silence=tuned("silence", base.silence),
                   reconnect_after=tuned("reconnect_after", base.reconnect_after),
                   backoff_max=tuned("backoff_max", base.backoff_max))
