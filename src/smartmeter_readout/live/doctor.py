"""``doctor``: step through what can go wrong between meter and reader, end with a verdict.

The steps follow the path of the bytes: can the port be opened, do bytes arrive, at which
serial setting do frames appear, who made the meter (system title) and so which operators
it may belong to, does the key decrypt, does the tag verify, is the body understood. The
verdict is one sentence a non-expert can act on; exit code 0 only when a push decoded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ..decoder import Decoder
from ..events import EventKind
from ..i18n import N_, _, localize
from ..message import Message
from ..operators import MAKERS, Operator, SerialSettings, likely_operators
from ..reading import Reading
from ..sources.base import (
    Connection,
    Connector,
    SettingUnsupported,
    SourceError,
    SourceFatal,
    SourceLost,
    describe,
)
from .detect import ProbeResult
from .reader import LiveOptions, probe_setting

__all__ = ["Diagnosis", "Verdict", "diagnose"]

# the decoder's security words ("none", "encrypted", "authenticated"), for people
SECURITY = {"none": N_("not encrypted"), "encrypted": N_("encrypted"),
            "authenticated": N_("encrypted and authenticated")}



class Verdict(StrEnum):
    CANNOT_OPEN = "cannot_open"
    NO_BYTES = "no_bytes"
    NO_FRAMES = "no_frames"
    NO_PUSH = "no_push"
    CUT_SHORT = "cut_short"
    KEY_MISSING = "key_missing"
    WRONG_KEY = "wrong_key"
    TAG_FAILS = "tag_fails"
    UNKNOWN_LAYOUT = "unknown_layout"
    IMPLAUSIBLE = "implausible_values"
    DECODED = "decoded"


EXIT_CODES = {Verdict.DECODED: 0, Verdict.KEY_MISSING: 3, Verdict.WRONG_KEY: 3,
              Verdict.TAG_FAILS: 3, Verdict.NO_PUSH: 4, Verdict.CUT_SHORT: 4,
              Verdict.UNKNOWN_LAYOUT: 4, Verdict.NO_FRAMES: 4}


@dataclass(slots=True)
class Diagnosis:
    verdict: Verdict = Verdict.NO_BYTES
    sentence: str = ""
    settings: SerialSettings | None = None
    framing: str | None = None
    system_title: str | None = None
    maker: str | None = None
    prefix: str | None = None  # the system title's three letters (KFM)
    operators: list[Operator] = field(default_factory=list)
    reading: Reading | None = None
    config: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.verdict, 1)


async def diagnose(connector: Connector, *, key: str | bytes | None = None,
                   auth_key: str | bytes | None = None, timeout: float = 30.0,
                   say: Callable[[str], None] = print,
                   options: LiveOptions | None = None) -> Diagnosis:
    opts = options or LiveOptions(silence=timeout)
    found = Diagnosis()
    opened = await _find_frames(connector, opts, found, say)
    if opened is None:
        return found
    connection, initial = opened
    try:
        await _decode(connection, initial, found, key, auth_key, timeout, say)
    except SourceLost as exc:  # unplugged while listening: said like a port that cannot open
        found.verdict, found.sentence = Verdict.CANNOT_OPEN, str(exc)
        say(_("   no: {reason}").format(reason=exc))
    finally:
        await connection.close()
    return found


async def _find_frames(connector: Connector, opts: LiveOptions, found: Diagnosis,
                       say: Callable[[str], None]) -> tuple[Connection, bytes] | None:
    candidates: tuple[SerialSettings | None, ...] = connector.settings or (None,)
    say(_("1. Opening {source}").format(source=describe(connector.name)))
    saw_bytes = False
    heard = b""
    for number, settings in enumerate(candidates):
        try:
            connection = await connector.open(settings)
        except SettingUnsupported:
            continue
        except (SourceFatal, SourceError) as exc:
            found.verdict, found.sentence = Verdict.CANNOT_OPEN, str(exc)
            say(_("   no: {reason}").format(reason=exc))
            return None
        if number == 0:
            say(_("   ok"))
            say(_("2. Listening for the meter (up to {seconds} s per setting)").format(
                seconds=f"{opts.silence:g}"))
        try:
            probe = await probe_setting(connection, opts)
        except SourceLost as exc:  # unplugged while listening
            await connection.close()
            found.verdict, found.sentence = Verdict.CANNOT_OPEN, str(exc)
            say(_("   no: {reason}").format(reason=exc))
            return None
        except BaseException:  # cancelled (a setup screen closed): the port is let go
            await connection.close()
            raise
        label = str(settings) if settings else _("the line")
        if probe.result is ProbeResult.FOUND:
            say(_("   {setting}: {framing} frames").format(setting=label, framing=probe.framing))
            found.settings, found.framing = settings, probe.framing
            return connection, bytes(probe.received)
        await connection.close()
        if probe.received:
            heard = bytes(probe.received)
            saw_bytes = True
            say(_("   {setting}: {count} bytes, no frames").format(
                setting=label, count=len(probe.received)))
        else:
            say(_("   {setting}: silence").format(setting=label))
            break
    if not saw_bytes:
        found.verdict = Verdict.NO_BYTES
        found.sentence = _(
            "No signal: not a single byte arrived. Check that the adapter sits on pins 3 and 4 "
            "of the meter's RJ12 socket (M-Bus), that a P1 cable drives the data-request pin, "
            "or that the IR head sits on the meter's optical eye; some operators switch the "
            "customer interface on only on request.")
    else:
        found.verdict = Verdict.NO_FRAMES
        found.sentence = _(
            "Bytes arrive, but no meter frames at any serial setting: the signal may be "
            "inverted (P1 on some adapters), the adapter may not suit the interface (M-Bus "
            "needs an M-Bus adapter, not a plain TTL one), or this is not a meter's customer "
            "interface.")
        from ..link.receivers import detect_receiver

        stick = detect_receiver(heard)
        if stick is not None:  # a radio receiver's stream: LINZ NETZ (issue 24)
            found.sentence = _(
                "This is a wireless M-Bus receiver ({receiver}), not a meter's cable: run "
                "again with --operator linznetz (LINZ NETZ) and the key.").format(
                receiver=stick)
    return None


async def _decode(connection: Connection, data: bytes, found: Diagnosis,
                  key: str | bytes | None, auth_key: str | bytes | None, timeout: float,
                  say: Callable[[str], None]) -> None:
    decoder = Decoder(key, auth_key)
    deadline = time.monotonic() + timeout
    readings: list[Reading] = []
    say(_("3. Waiting for a whole push"))
    while True:
        readings = decoder.feed(data, received=datetime.now(UTC))
        reply = decoder.data_to_send()
        if reply:  # an AMIS meter stops without its acknowledgements
            connection.write(reply)
        if readings or decoder.stats.complete:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        data = (await connection.read(min(left, 1.0))).data
    events = {event.kind: event for event in decoder.take_events()}
    title = decoder.seen.get("system_title")
    found.system_title = title if isinstance(title, str) else None
    maker = decoder.seen.get("maker")  # an M-Bus telegram's header names its maker
    if readings or decoder.stats.complete or found.system_title or maker:
        _identify(found, say, maker if isinstance(maker, str) else None)  # not from nothing
    if readings:
        _decoded(found, readings[0], decoder, key, auth_key, say)
        implausible = events.get(EventKind.IMPLAUSIBLE)
        if implausible is not None:
            found.verdict = Verdict.IMPLAUSIBLE
            found.sentence = implausible_verdict(implausible.message)
            say(_("   values: they do not fit each other (see the verdict)"))
        return
    fix = _key_source(found)
    if EventKind.KEY_MISSING in events:
        step = _("5. Decryption: no key given")
        found.verdict = Verdict.KEY_MISSING
        found.sentence = _("The meter encrypts its data and no key was given: run again with "
                           "--key. {where}").format(where=fix)
    elif EventKind.WRONG_KEY in events:
        step = _("5. Decryption: fails with this key")
        found.verdict = Verdict.WRONG_KEY
        found.sentence = _("The key does not decrypt this meter's data: check that all 32 hex "
                           "digits were copied and that it is this meter's key. {where}"
                           ).format(where=fix)
    elif EventKind.TAG_MISMATCH in events:
        step = _("5. Decryption: ok; authentication tag: does not match")
        found.verdict = Verdict.TAG_FAILS
        found.sentence = _("The data decrypts, but the authentication tag does not match: the "
                           "authentication key (--auth-key) is wrong. {where}").format(where=fix)
    elif EventKind.UNKNOWN_LAYOUT in events or EventKind.MALFORMED in events:
        step = _("5. Decryption: ok; layout: not known")
        found.verdict = Verdict.UNKNOWN_LAYOUT
        event = events.get(EventKind.UNKNOWN_LAYOUT) or events[EventKind.MALFORMED]
        found.sentence = _("The data decrypts but its layout is not known ({reason}): please "
                           "report it with a capture (smartmeter-readout record --redact)."
                           ).format(reason=localize(event))
    elif EventKind.CUT_SHORT in events:
        step = _("   frames arrive cut short: the next one begins before their end")
        found.verdict = Verdict.CUT_SHORT
        found.sentence = _(
            "Frames arrive cut short: their start arrives, but the next frame begins before "
            "their end, so bytes are lost between meter and reader. The serial settings are "
            "right. Check for a loose contact (adapter, cable, RJ12 plug, IR head) and that no "
            "second program reads the same port (another reader, ModemManager, a terminal "
            "program): stop it first.")
    elif decoder.link_resets:
        # an AMIS resets its link until it hears an E5: it never heard one
        step = _("   link resets only: the meter does not hear the acknowledgements")
        found.verdict = Verdict.NO_PUSH
        found.sentence = _(
            "The meter resets its link again and again but sends no data: it does not hear "
            "the acknowledgements (E5) this reader sends. The IR head must be able to "
            "transmit (some heads only receive) and sit straight on the meter's optical eye; "
            "the interface is also off while the terminal cover is open.")
    else:
        step = _("   no whole push within {seconds} s").format(seconds=f"{timeout:g}")
        found.verdict = Verdict.NO_PUSH
        reason = localize(next(iter(events.values()))) if events else _("nothing complete")
        found.sentence = _("Frames arrive but no whole push within {seconds} s ({reason}): a "
                           "loose contact or interference may damage them.").format(
                               seconds=f"{timeout:g}", reason=reason)
    say(step)


def implausible_verdict(message: str) -> str:
    """The doctor's sentence for values that decode but do not fit each other (``message``:
    the decoder's event message)."""
    findings = message.params.get("findings") if isinstance(message, Message) else None
    if findings is not None:
        detail = "; ".join(localize(finding) for finding in findings)
    else:
        detail = message.removeprefix("implausible values: ").split(". Please")[0]
    return _("The push decodes, but its values do not fit each other ({detail}): this list's "
             "units are not known yet, so these numbers may be wrong. Please record a push "
             "with `smartmeter-readout record --redact` and report it.").format(detail=detail)


def _identify(found: Diagnosis, say: Callable[[str], None], header_maker: str | None = None
              ) -> None:
    title = found.system_title
    if not title and header_maker:  # Netz OÖ's AMIS: M-Bus, no system title
        found.prefix = header_maker
        found.maker = MAKERS.get(header_maker, header_maker)
        found.operators = likely_operators(header_maker, settings=found.settings)
        say(_("4. Meter: made by {maker}").format(maker=found.maker))
        return
    if not title:
        say(_("   the push carries no system title (not encrypted)"))
        return
    prefix = bytes.fromhex(title)[:3]
    found.prefix = prefix.decode("ascii") if prefix.isalpha() else None
    found.maker = MAKERS.get(found.prefix or "", found.prefix)
    # a system title comes with a ciphered push: operators whose meters send plain text
    # (Norway) and those on other serial settings are out
    found.operators = likely_operators(found.prefix, settings=found.settings, encrypted=True)
    say(_("4. Meter: system title {title}, made by {maker}").format(
        title=title, maker=found.maker or _("an unknown maker")))


def _key_source(found: Diagnosis) -> str:
    """Where the key comes from, for each operator this meter may belong to (said once)."""
    sources = [f"{op.title}: {_(op.key_source)}" for op in found.operators]
    if not sources:
        return _("The key comes from your grid operator.")
    if len(sources) == 1:
        return _("The key comes from {source}.").format(source=sources[0])
    return _("Where customers get the key — {sources}.").format(sources="; ".join(sources))


def _decoded(found: Diagnosis, reading: Reading, decoder: Decoder, key: str | bytes | None,
             auth_key: str | bytes | None, say: Callable[[str], None]) -> None:
    found.verdict, found.reading = Verdict.DECODED, reading
    values = len([m for m in reading.values.values() if m.name != "clock"])
    note = ""
    if decoder.stats[EventKind.TAG_UNCHECKED]:
        note = _(" (the meter sends an authentication tag: add auth_key to have it checked)")
    security = _(SECURITY.get(reading.security, reading.security))
    found.sentence = _("Everything works: the push decoded to {count} values (layout {layout}, "
                       "{security}){note}.").format(count=values, layout=reading.layout,
                                                    security=security, note=note)
    step = _("5. Decryption and tag: ok; layout {layout}, {count} values") \
        if reading.security == "authenticated" else \
        _("5. Decryption: ok; layout {layout}, {count} values")
    say(step.format(layout=reading.layout, count=values))
    found.config = ["[meter]"]
    if key is not None:
        # the config refuses it as a placeholder, in any language
        placeholder = _("your key")
        found.config.append(f'key = "<{placeholder}>"')
    if auth_key is not None:
        found.config.append('auth_key = "<your authentication key>"')
    prefix = found.prefix or _prefix(reading.meter.manufacturer)
    fits = likely_operators(prefix, layout=reading.layout, settings=found.settings,
                            encrypted=reading.security != "none")
    if len(fits) == 1:
        found.config.append(f'operator = "{fits[0].name}"  # {fits[0].title}')
    else:  # alike meters, or none known: the serial settings below are what matters
        alike = "  # " + _("one of {names}: their meters send alike").format(
            names=", ".join(op.name for op in fits)) if fits else ""
        found.config.append(f'operator = "auto"{alike}')
    if found.settings is not None:
        found.config += ["", "[source]", f'baud = {found.settings.baud}',
                         f'parity = "{found.settings.parity}"']


def _prefix(manufacturer: str | None) -> str | None:
    return manufacturer[:3].upper() if manufacturer and manufacturer[:3].isalpha() else None
