"""``doctor`` for a wireless M-Bus receiver (LINZ NETZ): the radio's own ways of failing.

The steps: can the port be opened, does the stick answer in a protocol this reader knows
(iM871A, culfw, rtl_wmbus), does it hear meters at all, is ours among them, does the key
open its telegrams, are its values plausible. What goes wrong on the radio side is not what
goes wrong on a cable: a receiver that hears other meters but not ours is too far away (868
MHz through walls and a metal meter cabinet) or the meter does not send yet (LINZ NETZ
switches its customer interface on only when asked in the customer portal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..events import EventKind
from ..i18n import _, localize
from ..link.receivers import RECEIVER_BAUD
from ..operators import OPERATORS
from ..reading import Reading
from ..sources.base import Connector, SourceError, SourceFatal, SourceLost, describe
from ..wireless import WirelessDecoder
from .doctor import SECURITY, Diagnosis, Verdict, implausible_verdict

__all__ = ["diagnose_radio"]

_RECEIVER_NAMES = {"im871a": "iM871A", "cul": "CUL", "amb8465": "AMB8465"}
_ONE_CYCLE = 6.0  # LN-666: a telegram every 5 s


async def diagnose_radio(connector: Connector, decoder: WirelessDecoder, *,
                         timeout: float = 30.0,
                         say: Callable[[str], None] = print) -> Diagnosis:
    found = Diagnosis()
    say(_("1. Opening {source}").format(source=describe(connector.name)))
    settings = connector.settings[0] if connector.settings else None
    try:
        connection = await connector.open(settings)
    except (SourceFatal, SourceError) as exc:
        found.verdict, found.sentence = Verdict.CANNOT_OPEN, str(exc)
        say(_("   no: {reason}").format(reason=exc))
        return found
    found.settings = getattr(connection, "settings", settings)  # the rate a search found
    say(_("   ok"))
    setup = decoder.data_to_send()
    if setup:
        connection.write(setup)
    say(_("2. Listening to the receiver for up to {seconds} s").format(seconds=f"{timeout:g}"))
    received = 0
    readings: list[Reading] = []
    deadline = time.monotonic() + timeout
    try:
        # after our meter's first telegram, on to its next (one cycle), to count the others
        while len(readings) < 2 and (left := deadline - time.monotonic()) > 0:
            data = (await connection.read(min(left, 1.0))).data
            received += len(data)
            readings += decoder.feed(data, received=datetime.now(UTC))
            if len(readings) == 1:
                deadline = min(deadline, time.monotonic() + _ONE_CYCLE)
            setup = decoder.data_to_send()
            if setup:  # detected now: the stick's set-up
                connection.write(setup)
            if decoder.stats[EventKind.WRONG_KEY] or decoder.stats[EventKind.KEY_MISSING]:
                break
    except SourceLost as exc:
        found.verdict, found.sentence = Verdict.CANNOT_OPEN, str(exc)
        say(_("   no: {reason}").format(reason=exc))
        return found
    finally:
        await connection.close()
    events = {event.kind: event for event in decoder.take_events()}
    receiver = decoder.detected_receiver
    found.framing = "wmbus"
    if not received:
        found.verdict = Verdict.NO_BYTES
        found.sentence = _(
            "The receiver sends nothing: check that the port is the wireless M-Bus stick "
            "(iM871A, AMB8465, CUL with culfw, or rtl_wmbus) and that no other program uses "
            "it.")
        say(_("   silence"))
        return found
    if receiver in (None, "auto"):
        found.verdict = Verdict.NO_FRAMES
        found.sentence = _(
            "Bytes arrive, but in no receiver protocol this reader knows (iM871A, AMB8465, "
            "culfw, rtl_wmbus): name the receiver with --receiver, or check the baud rate "
            "({rates}).").format(rates=", ".join(
                f"{_RECEIVER_NAMES[name]} {rate}" for name, rate in RECEIVER_BAUD.items()))
        say(_("   {count} bytes, no receiver protocol").format(count=received))
        return found
    others = decoder.other_meters
    say((_("   {receiver}: 1 other meter heard") if others == 1 else
         _("   {receiver}: {count} other meters heard")).format(receiver=receiver,
                                                              count=others))
    linz = OPERATORS["linznetz"]
    if readings:
        reading = readings[0]
        found.verdict, found.reading = Verdict.DECODED, reading
        found.maker = reading.meter.manufacturer
        found.operators = [linz]
        values = len([m for m in reading.values.values() if m.name != "clock"])
        security = _(SECURITY.get(reading.security, reading.security))
        say(_("3. Meter {number} ({maker}): {count} values, {security}").format(
            number=reading.meter.id, maker=reading.meter.manufacturer, count=values,
            security=security))
        found.sentence = (_("Everything works: meter {number} decoded to {count} values "
                            "({security}); the receiver also hears 1 other meter.")
                          if others == 1 else
                          _("Everything works: meter {number} decoded to {count} values "
                            "({security}); the receiver also hears {others} other meters.")
                          ).format(number=reading.meter.id, count=values,
                                   security=security, others=others)
        implausible = events.get(EventKind.IMPLAUSIBLE)
        if implausible is not None:
            found.verdict = Verdict.IMPLAUSIBLE
            found.sentence = implausible_verdict(implausible.message)
        placeholder = _("your key")
        found.config = ["[meter]", f'operator = "{linz.name}"  # {linz.title}',
                        f'key = "<{placeholder}>"', f'radio_id = "{reading.meter.id}"', "",
                        "[source]", f'receiver = "{receiver}"']
        if found.settings is not None:  # the rate used: the stick's, or the one given
            found.config.append(f"baud = {found.settings.baud}")
        return found
    if EventKind.KEY_MISSING in events:
        found.verdict = Verdict.KEY_MISSING
        found.sentence = _("The meter encrypts its data and no key was given: run again with "
                           "--key. The key comes from {source}.").format(
            source=_(linz.key_source))
        say(_("3. Decryption: no key given"))
    elif EventKind.WRONG_KEY in events:
        found.verdict = Verdict.WRONG_KEY
        found.sentence = localize(events[EventKind.WRONG_KEY])
        say(_("3. Decryption: fails with this key"))
    else:
        found.verdict = Verdict.NO_PUSH
        wanted = decoder.meter_id
        mine = _("meter {number}").format(number=wanted) if wanted else _("an electricity meter")
        found.sentence = (_(
            "No telegram from {mine} within {seconds} s, while the receiver hears 1 other "
            "meter. Bring the receiver closer to the meter (868 MHz through walls and "
            "the meter cabinet), and check in the LINZ NETZ customer portal that the customer "
            "interface is switched on: the meter sends only then, every 5 s.") if others == 1
            else _(
            "No telegram from {mine} within {seconds} s, while the receiver hears {others} "
            "other meters. Bring the receiver closer to the meter (868 MHz through walls and "
            "the meter cabinet), and check in the LINZ NETZ customer portal that the customer "
            "interface is switched on: the meter sends only then, every 5 s.")).format(
            mine=mine, seconds=f"{timeout:g}", others=others)
        if decoder.refused:  # heard too few times for a verdict on the key
            found.sentence += " " + _(
                "The key opens none of the electricity meters heard so far ({ids}): give "
                "--radio-id from your meter's label, or listen longer (--timeout).").format(
                ids=", ".join(sorted(decoder.refused)))
        say(_("3. No telegram from {mine}").format(mine=mine))
    return found
