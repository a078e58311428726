"""``simulate --profile linznetz --receiver NAME``: a receiver stick on a pseudo-terminal that
hears a LINZ NETZ meter (and its neighbours), for ``read``, ``doctor``, ``run`` and the tests."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable

from ..i18n import _, localize
from .common import EXIT_OK, UsageError, run, setup_logging

__all__ = ["simulate_radio"]


def simulate_radio(args: argparse.Namespace,
                   until_read: Callable[[object], Awaitable[None]]) -> int:
    """``until_read``: waits until a reader took the line's last bytes (``simulate``'s)."""
    from ..keys import parse_key

    try:
        key = parse_key(args.key)
    except ValueError as exc:
        raise UsageError(localize(exc)) from None
    if args.interval is not None and args.interval <= 0:
        raise UsageError(_("--interval must be positive"))
    if not 0 <= args.loss < 1:
        raise UsageError(_("--loss must be at least 0 and below 1"))
    setup_logging(args)
    if key is None:
        key = os.urandom(16)
        print(_("key (made up for this simulation): {key}").format(key=key.hex().upper()),
              flush=True)
    return run(_simulate(args, args.receiver or "im871a", key, until_read))


async def _simulate(args: argparse.Namespace, receiver: str, key: bytes,
                    until_read: Callable[[object], Awaitable[None]]) -> int:
    from ..sim.radio import RadioStick

    log = args.log.open("w") if args.log else None
    stick = RadioStick(receiver, key, link=args.link, interval=args.interval, seed=args.seed,
                       loss=args.loss, log=log)
    where = f" (link {args.link})" if args.link else ""
    print(f"{stick.path}{where}", flush=True)
    print(_("simulating a LINZ NETZ meter ({meter}) heard by a {receiver} receiver, a telegram "
            "every {seconds} s, neighbours around").format(
        meter=stick.meter.ident, receiver=receiver, seconds=f"{stick.interval:g}"),
        file=sys.stderr, flush=True)
    try:
        await stick.run(args.count)
        await until_read(stick.port)
    finally:
        stick.close()
        if log is not None:
            log.close()
        print(_("sent {count} telegrams, {lost} lost on the air; receiver set up by the "
                "reader: {configured}").format(
            count=stick.sent, lost=stick.lost,
            configured=_("yes") if stick.configured else _("no")), file=sys.stderr)
    return EXIT_OK
