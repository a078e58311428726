"""One meter's line inside Home Assistant: the package's ``LiveReader`` on the event loop.

The reader owns reconnecting, detection and the state messages (as in ``smartmeter-readout
read``); this module turns them into what Home Assistant shows: readings for the entities
(every push, or at most every N seconds), availability (a silent meter's values go
unavailable after a few push intervals and come back with the next push), repair issues (a
wrong key, an adapter that stays lost, values that do not fit each other) and the material of
"Download diagnostics". The decoder does no I/O and decodes a push in well under a
millisecond, so it runs on the event loop itself; the serial port is opened in an executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later

from smartmeter_readout import Decoder, EventKind, Reading
from smartmeter_readout.capture.align import PushAligner
from smartmeter_readout.capture.format import format_chunk, format_header
from smartmeter_readout.capture.redact import Redactor
from smartmeter_readout.live import (
    KeyRejected,
    LiveOptions,
    LiveReader,
    SourceState,
    implausible_verdict,
)
from smartmeter_readout.operators import AUTO_SETTINGS, OPERATORS, SerialSettings
from smartmeter_readout.sources import serial as _serial  # noqa: F401 - imported here,
from smartmeter_readout.sources import tcp as _tcp  # noqa: F401 - not on the event loop
from smartmeter_readout.sources.address import connector_for
from smartmeter_readout.sources.base import SourceFatal

from . import const

_LOGGER = logging.getLogger(__name__)
#: the states in which no push can come: the line is away or says nothing
_TROUBLE = {SourceState.UNAVAILABLE, SourceState.LOST, SourceState.SILENT,
            SourceState.NO_FRAMES, SourceState.CUT_SHORT}
_KEPT_BYTES = 64 * 1024  # of recent pushes, for the diagnostics' redacted capture
_KEY_FAILURES = 3  # pushes a key must fail, none ever decoded, before the key is wrong


def signal_reading(entry_id: str) -> str:
    return f"{const.DOMAIN}_{entry_id}_reading"


def signal_available(entry_id: str) -> str:
    return f"{const.DOMAIN}_{entry_id}_available"


def applied(entry: ConfigEntry) -> tuple[Any, ...]:
    """What the running reader was built from: the options and the keys. Other changes of
    the entry's data (values first seen after setup) need no reload."""
    return (dict(entry.options), entry.data.get(const.CONF_KEY),
            entry.data.get(const.CONF_AUTH_KEY))


def candidates(entry_data: dict[str, Any]) -> tuple[SerialSettings, ...]:
    """What detection found first, then every other common setting (an adapter swapped for
    one that needs other settings is found again by itself)."""
    found = entry_data.get(const.CONF_SETTINGS)
    if not found:
        return AUTO_SETTINGS
    first = SerialSettings.parse(found)
    return (first, *(s for s in AUTO_SETTINGS if s != first))


class MeterLink:
    """Reads one config entry's meter for as long as the entry is loaded."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry,
                 words: Callable[[str], str] = str) -> None:
        self.hass = hass
        self.words = words  # the package's catalogue in Home Assistant's language
        self.entry = entry
        data = entry.data
        operator = OPERATORS.get(data.get(const.CONF_OPERATOR) or "")
        number = data.get(const.CONF_METER, {}).get("asked_number")
        # a meter whose pushes lack its number (the AMIS) is asked once, at setup, not at
        # each start: its readout at 300 baud takes seconds
        readout = operator.readout if operator and not number else None
        self.connector = connector_for(data[const.CONF_PORT], candidates(dict(data)),
                                       readout=readout)
        self.decoder = Decoder(data.get(const.CONF_KEY), data.get(const.CONF_AUTH_KEY))
        if number:
            self.decoder.meter_number = number
        self.reader = LiveReader(self.connector, self.decoder, on_state=self._on_state,
                                 on_bytes=self._on_bytes,
                                 options=LiveOptions(key_failures=_KEY_FAILURES))
        self.interval = float(entry.options.get(const.CONF_INTERVAL, 0) or 0)
        self.applied = applied(entry)  # what a change of must reload the entry
        self.latest: Reading | None = None
        self.available = False
        self.pushes = 0
        self.implausible = 0
        self.started = datetime.now(UTC)
        self._arrivals: deque[float] = deque(maxlen=9)
        self._written = float("-inf")  # when entities were last given a reading (monotonic)
        self._pending: CALLBACK_TYPE | None = None  # a throttled write to come
        self._expiry: CALLBACK_TYPE | None = None
        self._lost_check: CALLBACK_TYPE | None = None
        self._trouble_since: float | None = None
        self._recent: deque[tuple[datetime, bytes]] = deque()
        self._recent_size = 0
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        self._task = self.entry.async_create_background_task(
            self.hass, self._run(), f"{const.DOMAIN} {self.connector.name}")

    async def stop(self) -> None:
        """Stop reading and close the port: nothing of this entry keeps running."""
        for cancel in (self._pending, self._expiry, self._lost_check):
            if cancel is not None:
                cancel()
        self._pending = self._expiry = self._lost_check = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.reader.readings()) as readings:
                    async for reading in readings:
                        self._on_reading(reading)
                return  # a finite source ended (not a live line)
            except KeyRejected as exc:
                self._key_rejected(exc)
                return  # the options flow's new key reloads the entry
            except SourceFatal as exc:  # no permission, not a serial port: the user must act
                self._raise_lost(str(exc))
                await asyncio.sleep(60)

    # ------------------------------------------------------------ pushes

    @callback
    def _on_reading(self, reading: Reading) -> None:
        now = time.monotonic()
        self.pushes += 1
        self._arrivals.append(now)
        self.latest = reading
        self._check_plausible()
        if not self.available:
            self.available = True
            async_dispatcher_send(self.hass, signal_available(self.entry.entry_id))
        if self._expiry is not None:
            self._expiry()
        self._expiry = async_call_later(self.hass, self.silent_after(), self._expire)
        if not self.interval or now - self._written >= self.interval:
            self._write()
        elif self._pending is None:
            self._pending = async_call_later(self.hass, self._written + self.interval - now,
                                             self._write_pending)

    def push_interval(self) -> float | None:
        """The meter's push interval, as measured (the median of the last gaps)."""
        gaps = [b - a for a, b in itertools.pairwise(self._arrivals)]
        return statistics.median(gaps) if gaps else None

    def silent_after(self) -> float:
        interval = self.push_interval()
        return max(const.SILENT_FLOOR, const.SILENT_INTERVALS * interval if interval else 0.0,
                   2 * self.interval)

    @callback
    def _write(self) -> None:
        self._written = time.monotonic()
        async_dispatcher_send(self.hass, signal_reading(self.entry.entry_id), self.latest)

    @callback
    def _write_pending(self, _now: datetime) -> None:
        self._pending = None
        self._write()

    @callback
    def _expire(self, _now: datetime) -> None:
        self._expiry = None
        self.available = False
        async_dispatcher_send(self.hass, signal_available(self.entry.entry_id))

    # ------------------------------------------------------------ what the reader says

    @callback
    def _on_state(self, state: SourceState, message: str) -> None:
        if state is SourceState.RECEIVING:
            self._trouble_since = None
            if self._lost_check is not None:
                self._lost_check()
                self._lost_check = None
            ir.async_delete_issue(self.hass, const.DOMAIN, self._issue("adapter_lost"))
            ir.async_delete_issue(self.hass, const.DOMAIN, self._issue("wrong_key"))
        elif state in _TROUBLE and self._trouble_since is None:
            self._trouble_since = time.monotonic()
            self._lost_check = async_call_later(self.hass, const.LOST_AFTER, self._still_lost)

    @callback
    def _still_lost(self, _now: datetime) -> None:
        self._lost_check = None
        if self._trouble_since is not None:
            self._raise_lost(self.reader.state_message)

    def _raise_lost(self, reason: str) -> None:
        ir.async_create_issue(
            self.hass, const.DOMAIN, self._issue("adapter_lost"), is_fixable=False,
            severity=ir.IssueSeverity.ERROR, translation_key="adapter_lost",
            translation_placeholders={"title": self.entry.title,
                                      "port": self.entry.data[const.CONF_PORT],
                                      "reason": reason})

    def _key_rejected(self, exc: KeyRejected) -> None:
        ir.async_create_issue(
            self.hass, const.DOMAIN, self._issue("wrong_key"), is_fixable=False,
            severity=ir.IssueSeverity.ERROR, translation_key="wrong_key",
            translation_placeholders={"title": self.entry.title,
                                      "reason": self.reader.state_message or str(exc)})

    def _check_plausible(self) -> None:
        found = self.decoder.stats[EventKind.IMPLAUSIBLE]
        if found <= self.implausible:
            return
        self.implausible = found
        event = next((e for e in reversed(self.reader.recent_events)
                      if e.kind is EventKind.IMPLAUSIBLE), None)
        if event is None:
            return
        ir.async_create_issue(
            self.hass, const.DOMAIN, self._issue("implausible_values"), is_fixable=False,
            severity=ir.IssueSeverity.WARNING, translation_key="implausible_values",
            translation_placeholders={"title": self.entry.title,
                                      "reason": implausible_verdict(event.message)})

    def _issue(self, kind: str) -> str:
        return f"{kind}_{self.entry.entry_id}"

    # ------------------------------------------------------------ diagnostics

    def _on_bytes(self, data: bytes, received: datetime) -> None:
        self._recent.append((received, data))
        self._recent_size += len(data)
        while self._recent_size > _KEPT_BYTES and len(self._recent) > 1:
            self._recent_size -= len(self._recent.popleft()[1])

    def redacted_capture(self) -> str:
        """The recent bytes as ``record --redact`` writes them: whole pushes only, new system
        title and meter numbers, still decodable with the same key (which is not in it)."""
        aligner = PushAligner()
        redactor = Redactor(self.entry.data.get(const.CONF_KEY),
                            self.entry.data.get(const.CONF_AUTH_KEY))
        lines = [format_header(self.connector.name, self.reader.settings and
                               str(self.reader.settings),
                               ["identifiers redacted: system title and meter numbers "
                                "replaced"])]
        last = self.started
        for received, data in list(self._recent):
            last = received
            redacted = redactor.feed(aligner.feed(data))
            if redacted:
                lines.append(format_chunk(received, redacted))
        rest = redactor.feed(aligner.flush()) + redactor.flush()
        if rest:
            lines.append(format_chunk(last, rest))
        return "".join(lines)

    def status(self) -> dict[str, Any]:
        """Counters and state, for diagnostics."""
        stats = self.decoder.stats
        return {
            "state": str(self.reader.state), "message": self.reader.state_message,
            "settings": str(self.reader.settings) if self.reader.settings else None,
            "framing": self.reader.framing or self.decoder.seen.get("framing"),
            "bytes_received": self.reader.bytes_received, "reconnects": self.reader.reconnects,
            "pushes": self.pushes, "push_interval_seconds": self.push_interval(),
            "available": self.available, "write_interval_seconds": self.interval,
            "decoder": {str(kind): stats[kind] for kind in EventKind if stats[kind]},
            "pushes_complete": stats.complete,
            "recent_events": [{"kind": str(e.kind), "message": str(e.message)}
                              for e in self.reader.recent_events[-10:]],
            "started": self.started.isoformat(),
        }

