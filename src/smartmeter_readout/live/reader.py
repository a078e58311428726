"""Keep reading a meter through everything an installation throws at it.

``LiveReader`` wires a source connector to a ``Decoder`` and yields readings as they
arrive. It owns the retry policy (aiomqtt's lesson: reconnecting belongs to the
application loop, not to the client): a device that is missing, unplugged or silent, a TCP
bridge that closes, a line with bytes but no frames. Each state change is logged once, as one
line that names the cause and the fix; repeats are not. Waiting never spins: reads block in
the event loop with timeouts, retries back off up to ``backoff_max`` seconds.

With several serial settings to try (auto-detection), each is judged by ``SettingProbe``
until one shows meter frames; the bytes that showed them go on to the decoder, so the
first push is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from ..decoder import Decoder
from ..events import Event, EventKind
from ..i18n import _, localize
from ..operators import SerialSettings
from ..reading import Reading
from ..sources.base import (
    Chunk,
    Connection,
    Connector,
    SettingUnsupported,
    SourceFinished,
    SourceLost,
    SourceUnavailable,
    describe,
)
from .detect import ProbeResult, SettingProbe
from .identify import ask_meter_number

__all__ = ["KeyRejected", "LiveOptions", "LiveReader", "SourceState", "SourceStatus",
           "probe_setting"]

logger = logging.getLogger("smartmeter_readout")

class SourceState(StrEnum):
    """Where the reader stands with its source; the status API shows the value."""

    STARTING = "starting"
    UNAVAILABLE = "unavailable"
    CONNECTED = "connected"
    DETECTING = "detecting"
    FOUND = "found"
    RECEIVING = "receiving"
    NO_FRAMES = "no_frames"
    CUT_SHORT = "cut_short"
    SILENT = "silent"
    LOST = "lost"
    FINISHED = "finished"
    KEY_MISSING = "key_missing"
    WRONG_KEY = "wrong_key"
    TAG_MISMATCH = "tag_mismatch"
    UNKNOWN_LAYOUT = "unknown_layout"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Where the reader stands, for the status API and /metrics."""

    name: str
    state: SourceState
    message: str
    settings: SerialSettings | None
    framing: str | None
    bytes_received: int
    reconnects: int
    recent_events: tuple[Event, ...]


class KeyRejected(Exception):
    """The first pushes all failed for a key reason (missing, wrong, tag): a user error."""

    def __init__(self, event: Event) -> None:
        super().__init__(event.message)
        self.event = event


@dataclass(frozen=True, slots=True)
class LiveOptions:
    silence: float = 20.0  # no byte for this long: the line is silent
    reconnect_after: float = 60.0  # silent this long: reopen (hung adapters, dead TCP)
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    quiet_gap: float = 0.25  # ends a burst during auto-detection
    key_failures: int = 0  # > 0: raise KeyRejected after this many, if none ever decoded
    key_needed: bool = True  # False (record): a push that needs a key is no problem


class LiveReader:
    def __init__(self, connector: Connector, decoder: Decoder, *,
                 options: LiveOptions = LiveOptions(), log: logging.Logger = logger,
                 on_state: Callable[[SourceState, str], None] | None = None,
                 on_bytes: Callable[[bytes, datetime], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connector = connector
        self.source = describe(connector.name)  # in the words of the user's language
        self.decoder = decoder
        self.options = options
        self.log = log
        self.on_state = on_state
        self.on_bytes = on_bytes  # every byte that reaches the decoder (record taps here)
        self.clock = clock
        self.state = SourceState.STARTING
        self.state_message = ""
        self.settings: SerialSettings | None = None  # what the line turned out to use
        self.framing: str | None = None
        self.bytes_received = 0
        self.reconnects = 0  # connections lost and made again (unplugged, bridge closed ...)
        self.recent_events: list[Event] = []
        self._said: tuple[SourceState, str] | None = None
        self._key_failures = 0
        self._decoded_any = False
        self._tag_note = False
        self._cut_note = False
        self._cut_since_push = 0  # frames cut short since the last whole push
        self._asked_number = False

    def status(self) -> SourceStatus:
        framing = self.framing or self.decoder.seen.get("framing")
        return SourceStatus(self.connector.name, self.state, self.state_message, self.settings,
                            framing if isinstance(framing, str) else None,
                            self.bytes_received, self.reconnects, tuple(self.recent_events))

    # ------------------------------------------------------------ the loop

    async def readings(self) -> AsyncGenerator[Reading, None]:
        """Readings until a finite source ends; ``SourceFatal`` and ``KeyRejected`` escape."""
        delay = self.options.backoff_min
        while True:
            try:
                connection, initial = await self._connect()
            except SourceFinished:
                return
            except (SourceUnavailable, SourceLost) as exc:
                self._say(SourceState.UNAVAILABLE, str(exc), logging.WARNING)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.options.backoff_max)
                continue
            decoded = self.decoder.pushes_ok
            try:
                async for reading in self._pump(connection, initial):
                    yield reading
            except SourceFinished:
                for reading in self.decoder.feed(b"", final=True):  # a replay's last push
                    yield reading
                self._say(SourceState.FINISHED, _("{source}: end of input").format(
                    source=self.source), logging.INFO)
                return
            except SourceLost as exc:
                self.reconnects += 1
                self._say(SourceState.LOST, _("{reason}; trying again").format(reason=exc),
                          logging.WARNING)
            finally:
                await connection.close()
            if self.decoder.pushes_ok > decoded:
                delay = self.options.backoff_min  # it worked for a while: retry soon
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.backoff_max)

    async def _connect(self) -> tuple[Connection, bytes]:
        if self.connector.readout is not None and not self._asked_number:
            await self._ask_number(self.connector.readout)  # the port missing: next time
            self._asked_number = True  # once: a meter that did not answer will not now
        candidates = self.connector.settings
        if len(candidates) <= 1:
            self.settings = candidates[0] if candidates else None
            try:
                connection = await self.connector.open(self.settings)
            except SettingUnsupported as exc:
                assert self.settings is not None
                self.settings = replace(self.settings, parity="N")
                self.log.warning(_("%s; reading at %s instead"), exc, self.settings)
                connection = await self.connector.open(self.settings)
            message = _("{source}: connected at {settings}") if self.settings else \
                _("{source}: connected")
            self._say(SourceState.CONNECTED, message.format(
                source=self.source, settings=self.settings), logging.INFO)
            return connection, b""
        return await self._detect(candidates)

    async def _detect(self, candidates: tuple[SerialSettings, ...]) -> tuple[Connection, bytes]:
        name = self.source
        saw_bytes = False
        for settings in candidates:
            try:
                connection = await self.connector.open(settings)
            except SettingUnsupported:
                continue
            self._say(SourceState.DETECTING, _("{source}: looking for meter frames at "
                                               "{settings}").format(
                source=name, settings=", ".join(map(str, candidates))), logging.INFO)
            try:
                probe = await self._probe(connection)
            except BaseException:
                await connection.close()
                raise
            self.bytes_received += len(probe.received)
            if probe.result is ProbeResult.FOUND:
                self.settings, self.framing = settings, probe.framing
                self._say(SourceState.FOUND, _("{source}: {framing} frames at {settings}")
                          .format(source=name, framing=probe.framing, settings=settings),
                          logging.INFO)
                return connection, bytes(probe.received)
            await connection.close()
            saw_bytes = saw_bytes or bool(probe.received)
            if probe.result is ProbeResult.SILENT and not probe.received:
                break  # no byte at all: no other setting will change that
        if not saw_bytes:
            raise SourceUnavailable(_(
                "{source}: no bytes at all for {seconds:g} s: check the wiring (M-Bus adapter on "
                "pins 3 and 4 of the RJ12 socket, P1 data request, IR head position) and that "
                "the meter's customer interface is switched on", source=name,
                seconds=self.options.silence))
        raise SourceUnavailable(_(
            "{source}: bytes arrive but no meter frames at any of {settings}: the signal may "
            "be inverted, or this is not a meter's customer interface", source=name,
            settings=", ".join(map(str, candidates))))

    async def _ask_number(self, settings: SerialSettings) -> None:
        name = self.source
        answer = await ask_meter_number(self.connector, settings)
        if answer.number:
            self.decoder.meter_number = answer.number
            self.log.info(_("{source}: meter {number} ({identification})").format(
                source=name, number=answer.number, identification=answer.identification))
        elif answer.identification:
            self.log.info(_("{source}: the meter ({identification}) did not send its number")
                          .format(source=name, identification=answer.identification))
        else:
            self.log.info(_("{source}: no answer to the IEC 62056-21 sign-on at {settings}; "
                            "reading without the meter's number").format(
                source=name, settings=settings))

    async def _probe(self, connection: Connection) -> SettingProbe:
        return await probe_setting(connection, self.options, self.clock)

    async def _pump(self, connection: Connection,
                    initial: bytes) -> AsyncGenerator[Reading, None]:
        opts = self.options
        setup = self.decoder.data_to_send()  # a radio receiver's set-up (mode T1) comes first
        if setup:
            connection.write(setup)
        auto = len(self.connector.settings) > 1
        last_byte = last_push = self.clock()
        chunk = Chunk(None, initial)
        # a serial port or bridge rests while the frame under way cannot have arrived
        # (sources/_rest.py)
        expect: Callable[[int], None] | None = getattr(connection, "expect", None)
        while True:
            data = chunk.data
            if data:
                now = self.clock()
                last_byte = now
                # a replayed capture knows when its bytes were first received
                received = chunk.received or datetime.now(UTC)
                if self.on_bytes is not None:
                    self.on_bytes(data, received)
                readings = self.decoder.feed(data, received=received)
                if expect is not None and (wanted := self.decoder.wanted):
                    expect(wanted)
                reply = self.decoder.data_to_send()
                if reply:  # an AMIS meter waits for its acknowledgement
                    connection.write(reply)
                    # promptly: a rest ends 20 ms after a frame is due (a reply 16 ms instead
                    # of 6 after the frame), and its meter gives up after half a second
                    expect = None
                events = self.decoder.take_events()
                if readings or any(event.kind.ends_push for event in events):
                    last_push, self._cut_since_push = now, 0
                if events or self.state is not SourceState.RECEIVING:
                    self._review(events, bool(readings))
                for reading in readings:
                    yield reading
                if now - last_push >= opts.silence and self._cut_since_push:
                    # frame heads arrive, so the setting is right: bytes go missing
                    self._say(SourceState.CUT_SHORT, self._cut_short(), logging.WARNING)
                    last_push, self._cut_since_push = now, 0
                elif now - last_push >= opts.silence:
                    message = _("{source}: bytes arrive but no valid push for {seconds} s "
                                "(the reader searches the serial settings again)") if auto \
                        else _("{source}: bytes arrive but no valid push for {seconds} s: wrong "
                               "baud rate or parity? try --baud auto --parity auto")
                    self._say(SourceState.NO_FRAMES, message.format(
                        source=self.source, seconds=f"{opts.silence:g}"),
                        logging.WARNING)
                    if auto:
                        raise SourceLost(_("{source}: no frames any more",
                                           source=self.source))
                    last_push = now
            else:
                quiet = self.clock() - last_byte
                if quiet >= opts.reconnect_after:
                    raise SourceLost(_("{source}: nothing received for {seconds:.0f} s",
                                       source=self.source, seconds=quiet))
                if quiet >= opts.silence:
                    self._say(SourceState.SILENT, _(
                        "{source}: no data for {seconds} s (meter not sending? cable or "
                        "adapter loose?)").format(source=self.source,
                                                  seconds=f"{opts.silence:g}"),
                        logging.WARNING)
            chunk = await connection.read(opts.silence)
            self.bytes_received += len(chunk.data)  # the initial bytes were counted by _detect

    # ------------------------------------------------------------ reporting

    def _review(self, events: list[Event], decoded: bool) -> None:
        if events:
            self.recent_events = (self.recent_events + events)[-32:]
        if decoded:
            self._decoded_any = True
            self._key_failures = 0
            detail = ", ".join(str(part) for part in (self.settings, self.framing) if part)
            message = _("{source}: reading pushes ({detail})") if detail else \
                _("{source}: reading pushes")
            self._say(SourceState.RECEIVING, message.format(source=self.source,
                                                            detail=detail), logging.INFO)
        for event in events:
            if event.kind is EventKind.CUT_SHORT:
                self._cut_since_push += 1
                if self._decoded_any and not self._cut_note:  # said once; the status page
                    self._cut_note = True  # shows each in its recent events
                    self.log.warning(self._cut_short())
            if event.kind is EventKind.TAG_UNCHECKED and not self._tag_note:
                self._tag_note = True
                self.log.info(_("the meter authenticates its pushes; give the authentication "
                                "key (--auth-key) to have them checked"))
            if event.kind is EventKind.IMPLAUSIBLE:
                self.log.warning(localize(event))
                continue
            if not event.kind.ends_push or decoded:
                continue
            if event.kind.key_problem and not self.options.key_needed:
                continue  # recording takes the bytes; decrypting is for later
            message = localize(event)
            if event.kind is EventKind.MALFORMED:
                message = _("pushes arrive but cannot be decoded: {reason}", reason=event.message)
            self._say(SourceState(event.kind.value), message, logging.ERROR)
            if event.kind.key_problem:
                self._key_failures += 1
                limit = self.options.key_failures
                if limit and not self._decoded_any and self._key_failures >= limit:
                    raise KeyRejected(event)

    def _cut_short(self) -> str:
        return _("{source}: frames arrive cut short, bytes are lost between meter and reader: "
                 "a loose contact, or a second program reading the same port (another reader, "
                 "ModemManager, a terminal program)?", source=self.source)

    def _say(self, state: SourceState, message: str, level: int) -> None:
        self.state, self.state_message = state, message
        if self._said == (state, message):
            return
        self._said = (state, message)
        self.log.log(level, message)
        if self.on_state is not None:
            self.on_state(state, message)


async def probe_setting(connection: Connection, options: LiveOptions = LiveOptions(),
                        clock: Callable[[], float] = time.monotonic) -> SettingProbe:
    """Listen on ``connection`` until its setting shows frames, noise or silence."""
    probe = SettingProbe(started=clock(), quiet=options.quiet_gap, silence=options.silence)
    deadline = probe.started + 2 * options.silence
    while probe.result is None and clock() < deadline:
        data = (await connection.read(options.quiet_gap / 2)).data
        if data:
            probe.feed(data, clock())
        else:
            probe.idle(clock())
    if probe.result is None:
        probe.result = ProbeResult.WRONG if probe.received else ProbeResult.SILENT
    return probe
