"""Take readings from an MQTT v5 shared subscription and commit them to PostgreSQL in batches,
acknowledging each message only after the transaction that holds it committed.

Theory of operation: the broker hands each reading (``<topic>/<meter>/state``, QoS 1) to one
of the collectors of a share group (``$share/<group>/…``), so N collectors share the load and
the others carry on when one dies. A collector's session persists (clean start off, a
session expiry), so what the broker holds for it while it restarts is delivered then, and
every message it received but never acknowledged is sent again. Messages are gathered until
``batch_size`` or ``batch_seconds``; the batch goes in with one COPY and one transaction
(``store``); then, and only then, every message of the batch is acknowledged. A collector
killed between the commit and the acknowledgements gets the batch again: the table's key
makes it land once.

Faults: a broken broker connection drops the unacknowledged batch (the broker sends it
again) and reconnects with back-off; PostgreSQL going away keeps the batch and retries it
until it commits; a batch PostgreSQL refuses is written message by message so the one bad
message is found, logged, acknowledged and dropped instead of blocking the queue forever. A
message that is no reading (``rows.parse_reading`` checks size and depth before parsing, then
types, times and lengths) is logged, counted (``rejected``), acknowledged and dropped the same
way: the broker would otherwise bring it to every restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..i18n import _
from .rows import NotAReading, Row, parse_reading
from .store import BadBatch, FleetStore, StoreUnavailable

__all__ = ["Collector", "CollectorSettings", "CollectorStats"]

_READS_PER_WAKEUP = 2000  # packets at most, then other tasks get their turn

log = logging.getLogger("smartmeter_readout")


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    topic: str = "smartmeter"  # readings arrive on <topic>/<meter>/state
    group: str = "collectors"  # the share group: collectors of one group split the load
    client_id: str = "smartmeter-collect"  # unique per collector: it names the session
    session_expiry: int = 3600  # seconds the broker keeps a collector's session while away
    batch_size: int = 5000  # readings per transaction
    batch_seconds: float = 0.5  # at most this long from a batch's first message to commit
    dsn: str = "postgresql:///smartmeter"
    table: str = "readings"

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{self.topic}/+/state"


@dataclass(slots=True)
class CollectorStats:
    received: int = 0
    committed: int = 0  # readings in committed batches
    rows_landed: int = 0  # rows new to the table (redelivered ones land once)
    rejected: int = 0  # messages that were no reading, or that PostgreSQL refused
    batches: int = 0
    reconnects: int = 0
    subscribed: int = 0  # sessions that got as far as the subscription
    #: seconds from the reader's receive time to the commit, the most recent 100,000
    delays: list[float] = field(default_factory=list)

    def note_delays(self, delays: list[float]) -> None:
        self.delays.extend(delays)
        if len(self.delays) > 200_000:
            del self.delays[:-100_000]

    def write(self, path: Path) -> None:
        """As JSON, replaced whole (a benchmark reads it while the collector runs)."""
        # not asdict(): it deep-copies the delays, up to 200,000 of them, at every batch
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                                if f.name != "delays"}
        ordered = sorted(self.delays)
        data["delays"] = {"count": len(ordered)} | ({
            "p50": ordered[len(ordered) // 2], "p95": ordered[int(len(ordered) * 0.95)],
            "max": ordered[-1]} if ordered else {})
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(data))
        temporary.replace(path)


def _share_property_tables() -> None:
    """paho builds three tables of MQTT v5's property names and types afresh for every
    ``Properties`` object, and it makes one for every message it receives: that took a
    third of a collector's time. The tables never change after they are built, so every
    object gets the same ones. Done once per process, by the first collector."""
    if getattr(Properties, "_tables", None) is not None:
        return
    sample = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    tables = {"types": sample.types, "names": sample.names, "properties": sample.properties}

    def init(self: Properties, packetType: int) -> None:  # noqa: N803 - paho's name
        object.__setattr__(self, "packetType", packetType)
        for name, table in tables.items():
            object.__setattr__(self, name, table)

    Properties.__init__ = init  # type: ignore[method-assign]
    Properties._tables = tables  # type: ignore[attr-defined]


class _BulkClient(aiomqtt.Client):
    """aiomqtt's client, reading every packet the socket holds at each wake-up. aiomqtt
    reads one packet per wake-up of the event loop (paho's ``loop_read`` reads one when
    nothing is in flight), which held a collector at the broker's pace of about 4,000
    messages a second while PostgreSQL waited."""

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        super()._on_socket_open(client, userdata, sock)
        if isinstance(sock, ssl.SSLSocket):  # no MSG_PEEK there: aiomqtt's reader stays
            return

        def read_all() -> None:
            try:
                for _ in range(_READS_PER_WAKEUP):
                    client.loop_read()
                    try:  # more bytes waiting? (paho keeps a partial packet for later)
                        if not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                            break
                    except (BlockingIOError, InterruptedError):
                        break
            except Exception as exc:  # as aiomqtt does: the connection broke
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        # replaces aiomqtt's reader (a file descriptor has one), after aiomqtt added it
        self._loop.call_soon_threadsafe(self._loop.add_reader, sock.fileno(), read_all)


class Collector:
    def __init__(self, settings: CollectorSettings, *,
                 on_commit: Callable[[int], None] | None = None,
                 stats_file: Path | None = None) -> None:
        _share_property_tables()
        self.settings = settings
        self.stats_file = stats_file
        self.store = FleetStore(settings.dsn, settings.table)
        self.stats = CollectorStats()
        self.on_commit = on_commit  # told the batch size after each commit (tests, bench)
        self._prefix = settings.topic.rstrip("/") + "/"

    async def run(self) -> None:
        """Collect until cancelled; connection trouble is retried, never raised."""
        delay = 1.0
        while True:
            subscribed = self.stats.subscribed
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                log.warning(_("collector: broker %s:%s: %s; connecting again"),
                            self.settings.host, self.settings.port, exc)
            except StoreUnavailable as exc:  # at start, before the first message
                log.warning(_("collector: %s; trying again"), exc)
            self.stats.reconnects += 1
            if self.stats.subscribed > subscribed:
                delay = 1.0  # it worked for a while: try again soon
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)

    async def retire(self, quiet: float = 3.0) -> int:
        """Leave the share group for good, losing nothing: unsubscribe (the broker routes
        this session no more readings), commit what it still holds for it until ``quiet``
        seconds pass without a message, then end the session. The readings committed."""
        await self.store.connect()
        before = self.stats.committed
        client = self._client()
        async with client:
            await client.unsubscribe(self.settings.subscription)
            await self._drain(client, quiet)
        async with self._client(end_session=True):
            pass  # a clean start with no expiry: the broker forgets the session
        return self.stats.committed - before

    def _client(self, *, end_session: bool = False) -> aiomqtt.Client:
        settings = self.settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0 if end_session else settings.session_expiry
        # the broker may send this many unacknowledged readings: a whole batch and the next
        properties.ReceiveMaximum = min(65535, 2 * settings.batch_size)
        client = _BulkClient(
            settings.host, settings.port, username=settings.username,
            password=settings.password, identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5, clean_start=end_session, properties=properties,
            tls_context=ssl.create_default_context() if settings.tls else None,
            keepalive=30, timeout=10)
        # acknowledge after the commit, not on arrival (paho's manual acknowledgements;
        # aiomqtt has no switch for it)
        client._client.manual_ack_set(True)
        return client

    async def _session(self) -> None:
        await self.store.connect()
        client = self._client()
        async with client:
            await client.subscribe(self.settings.subscription, qos=1)
            self.stats.subscribed += 1
            if self.stats_file is not None:
                self.stats.write(self.stats_file)
            log.info(_("collector %s: subscribed to %s"), self.settings.client_id,
                     self.settings.subscription)
            await self._drain(client)

    async def _drain(self, client: aiomqtt.Client, quiet: float | None = None) -> None:
        """Batches, each committed and then acknowledged, until cancelled or (``quiet``)
        until that many seconds pass without a message."""
        inbox = _Inbox(client)
        try:
            while True:
                try:  # batch() takes messages only as it returns: a timeout loses none
                    async with asyncio.timeout(quiet):
                        batch = await inbox.batch(self.settings.batch_size,
                                                  self.settings.batch_seconds)
                except TimeoutError:
                    batch = inbox.take(self.settings.batch_size)  # came in meanwhile
                    if not batch:
                        return  # quiet for ``quiet`` seconds: nothing is left
                self.stats.received += len(batch)
                await self._commit(batch)
                for message in batch:
                    if message.qos:
                        client._client.ack(message.mid, message.qos)
        finally:
            await inbox.close()

    async def _commit(self, batch: list[aiomqtt.Message]) -> None:
        parsed: list[list[Row]] = []
        received: list[str] = []
        for message in batch:
            try:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray | str):
                    raise NotAReading("an empty or numeric payload")
                rows, when = parse_reading(bytes(payload) if isinstance(payload, bytearray)
                                           else payload, self._meter_of(message))
                parsed.append(rows)
                if when:
                    received.append(when)
            except NotAReading as exc:
                self.stats.rejected += 1
                log.warning(_("collector: a message on %s is no reading (%s); dropped"),
                            _shown(message.topic), exc)
            except Exception as exc:  # a case parse_reading missed: still one message's drop
                self.stats.rejected += 1
                log.error(_("collector: a message on %s could not be read (%s); dropped"),
                          _shown(message.topic), f"{type(exc).__name__}: {str(exc)[:200]}")
        rows = [row for rows in parsed for row in rows]
        delay = 1.0
        while True:
            try:
                landed = await self.store.write(rows) if rows else 0
                break
            except StoreUnavailable as exc:
                log.warning(_("collector: %s; the batch waits"), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
            except BadBatch:
                landed = await self._one_by_one(parsed)
                break
        self.stats.batches += 1
        self.stats.committed += len(batch)
        self.stats.rows_landed += landed
        now = datetime.now(UTC)  # parse_reading passes only times with an offset
        self.stats.note_delays([(now - datetime.fromisoformat(when)).total_seconds()
                                for when in received])
        if self.stats_file is not None:
            self.stats.write(self.stats_file)
        if self.on_commit is not None:
            self.on_commit(len(batch))

    async def _one_by_one(self, parsed: list[list[Row]]) -> int:
        landed = 0
        for rows in parsed:
            while True:
                try:
                    landed += await self.store.write(rows) if rows else 0
                    break
                except BadBatch as exc:
                    self.stats.rejected += 1
                    log.warning(_("collector: PostgreSQL refused a reading of %s (%s); dropped"),
                                _shown(rows[0].meter), exc)
                    break
                except StoreUnavailable as exc:
                    log.warning(_("collector: %s; the batch waits"), exc)
                    await asyncio.sleep(1.0)
        return landed

    def _meter_of(self, message: aiomqtt.Message) -> str:
        topic = str(message.topic)
        if topic.startswith(self._prefix):
            return topic[len(self._prefix):].split("/", 1)[0]
        return ""


def _shown(text: object) -> str:
    """A topic or name from a publisher, for the log: quoted, control characters escaped,
    cut short (a topic may be 64 kB long)."""
    shown = repr(str(text)[:80])
    return shown if len(str(text)) <= 80 else f"{shown}…"


async def retire(settings: CollectorSettings) -> int:
    """``collect --retire``: the session of a collector that will not come back."""
    collector = Collector(settings)
    try:
        committed = await collector.retire()
    except aiomqtt.MqttError as exc:
        log.error(_("collector %s: cannot retire: broker %s:%s: %s; nothing changed, try "
                  "again when it answers"), settings.client_id, settings.host, settings.port,
                  exc)
        return 1
    except StoreUnavailable as exc:
        log.error(_("collector %s: cannot retire: %s; nothing changed, try again when it "
                  "answers"), settings.client_id, exc)
        return 1
    finally:
        await collector.store.close()
    log.info(_("collector %s: retired; %d waiting readings committed, the session ended"),
             settings.client_id, committed)
    return 0


async def collect(settings: CollectorSettings, stats_file: Path | None = None) -> int:
    """Run a collector until SIGTERM or Ctrl-C; 0 then. The signal cancels the collector
    where it waits, so a batch under way is committed or rolled back, never half done, and
    what was not acknowledged comes again from the broker."""
    collector = Collector(settings, stats_file=stats_file)
    running = asyncio.create_task(collector.run())
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, running.cancel)
    try:
        await running
    except asyncio.CancelledError:
        pass
    finally:
        await collector.store.close()
    return 0


class _Inbox:
    """The session's messages, moved by a task of their own into a list the batches are
    cut from. Waiting with a timeout directly on aiomqtt's message iterator loses a message
    now and then: on Python 3.11 ``asyncio.wait_for`` drops a result that arrives just as
    its timeout cancels the wait (seen here: one or two readings in 30,000)."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._pending: list[aiomqtt.Message] = []
        self._arrived = asyncio.Event()
        self._receiving = asyncio.create_task(self._receive(client))

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._pending.append(message)
            self._arrived.set()

    async def batch(self, size: int, seconds: float) -> list[aiomqtt.Message]:
        """Up to ``size`` messages, once ``size`` are there or ``seconds`` after the first."""
        until: float | None = None
        while True:
            if self._receiving.done():  # the connection broke: MqttError from here
                self._receiving.result()
                raise aiomqtt.MqttError("the broker ended the message stream")
            now = time.monotonic()
            if self._pending and until is None:
                until = now + seconds
            if len(self._pending) >= size or (until is not None and now >= until):
                batch = self._pending[:size]
                del self._pending[:size]
                return batch
            self._arrived.clear()
            waiter = asyncio.ensure_future(self._arrived.wait())
            try:  # cancelling an Event.wait() loses nothing
                await asyncio.wait((waiter, self._receiving),
                                   timeout=None if until is None else until - now,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    def take(self, size: int) -> list[aiomqtt.Message]:
        """What has arrived, up to ``size`` messages, at once."""
        batch = self._pending[:size]
        del self._pending[:size]
        return batch

    async def close(self) -> None:
        self._receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self._receiving
