"""The ``smartmeter-readout`` command: the parser and the dispatch to one module per family.

Exit codes (ARCHITECTURE.md): 0 success, 1 runtime failure, 2 usage or configuration error,
3 decryption or authentication failed, 4 no valid push in the input. Errors are one sentence
on stderr, never a traceback and never a key. The command modules import what a command
needs inside it (``cli.common`` says why), so ``decode`` and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..extras import extra_hint, missing_extra
from ..i18n import N_, _, speak_for_argparse
from . import collect, decode, history, live, service
from .common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["main"]

COMMANDS = {**decode.COMMANDS, **live.COMMANDS, **service.COMMANDS, **history.COMMANDS,
            **collect.COMMANDS}


# argparse's own words that a user meets, for the catalogue (argparse looks them up itself,
# through gettext's domain: ``speak_for_argparse``)
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("positional arguments"), N_("options"),
    N_("show this help message and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"), N_("expected one argument"),
    N_("expected at most one argument"), N_("expected at least one argument"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"), N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"), N_("one of the arguments %s is required"),
    N_("not allowed with argument %s"), N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartmeter-readout",
        description=_("Read, decrypt and decode the customer interface of DLMS/COSEM smart "
                    "meters."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help=_("show the version and exit"))
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"))
    decode.add_decode_command(sub)
    live.add_live_commands(sub)
    service.add_service_commands(sub)
    history.add_history_command(sub)
    collect.add_collect_command(sub)
    return parser


def _joined_values(argv: Sequence[str]) -> list[str]:
    """``--since -7d`` as ``--since=-7d``: argparse takes a value that starts with a dash for
    an option of its own ("expected one argument")."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _DASHED_VALUES and arg.startswith("-") and arg != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


_DASHED_VALUES = {"--since", "--until", "--from", "--to"}


def main(argv: Sequence[str] | None = None) -> int:
    speak_for_argparse()
    parser = _parser()
    args = parser.parse_args(_joined_values(sys.argv[1:] if argv is None else argv))
    commands = COMMANDS
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
    except ImportError as exc:
        extra = missing_extra(exc)
        if extra is None or os.environ.get("SMARTMETER_DEBUG"):
            raise
        print(f"smartmeter-readout: {extra_hint(args.command, *extra)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug: one sentence, the traceback only on request
        if os.environ.get("SMARTMETER_DEBUG"):
            raise
        print("smartmeter-readout: " + _(
            "internal error ({name}); please report it with SMARTMETER_DEBUG=1 set to see the "
            "details").format(name=type(exc).__name__), file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # run as a script: use the package's module, not a second copy
    from smartmeter_readout.cli.main import main as package_main

    sys.exit(package_main())
