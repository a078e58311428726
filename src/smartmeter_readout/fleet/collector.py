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

Two batches are under way at a time: while one is in PostgreSQL, the next is gathered (each
reading parsed, and made into COPY rows, as it arrives), so the collector's CPU and
PostgreSQL's overlap instead of taking turns; commits, and so acknowledgements, stay in the
order of the batches. Reading pauses at two batches parsed ahead. ``collect --workers N``
runs N collectors as processes of one share group (``cli/collect.py``), one core each.

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
import gc
import json
import logging
import os
import signal
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..i18n import _
from .rows import NotAReading, Row, copy_binary_of, micros, read_reading
from .store import BadBatch, FleetStore, Prepared, StoreUnavailable

__all__ = ["Collector", "CollectorSettings", "CollectorStats", "worker_settings"]

_READS_PER_WAKEUP = 50  # packets read by paho at most, then other tasks get their turn
#: readings parsed at most, then other tasks get their turn: a buffer of 256 kB holds some
#: 500, and a wake-up that parsed a backlog of 7,000 at once kept a batch's COPY waiting
#: for a third of a second, with PostgreSQL idle (bench_fleet.py)
_TAKEN_PER_WAKEUP = 100
_CHUNK = 256 * 1024  # bytes taken from the socket at once
_PAUSE = 5.0  # seconds at most without reading the socket while a backlog waits
_UNBOUNDED = 1 << 62
_SENDING = 1.0  # seconds at most that reading waits for a batch's rows to be sent
_PUBACK = struct.Struct("!BBH").pack  # the packet type, the remaining length 2, the packet id

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


def worker_settings(settings: CollectorSettings, number: int) -> CollectorSettings:
    """Worker ``number`` (from 1) of ``collect --workers``: the first keeps the client id,
    so one collector that becomes several keeps its session; the others add ``-<number>``."""
    if number == 1:
        return settings
    return replace(settings, client_id=f"{settings.client_id}-{number}")


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


class _Buffer:
    """The socket as paho reads it, from a buffer filled by one ``recv`` of up to
    ``_CHUNK`` bytes: paho asks for a packet's first byte, its length a byte at a time, then
    the rest, five system calls for every reading."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""
        self.at = 0
        self.dry = False  # the last recv found nothing waiting

    def recv(self, size: int) -> bytes:
        if self.at >= len(self.data):
            try:
                self.data = self.sock.recv(_CHUNK)
            except BlockingIOError:
                self.dry = True
                raise
            self.at = 0
            if not self.data:
                return b""  # the broker closed the connection
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return chunk

    @property
    def holds(self) -> bool:
        return self.at < len(self.data)

    def publishes(self, take: Callable[[int, memoryview], None], most: int) -> int:
        """Hand each whole PUBLISH of QoS 0 or 1 at the front of the buffer to ``take``
        (its QoS and the packet after the fixed header), without paho, ``most`` at most;
        stop at anything else or at a packet not whole yet, for paho to read. The number
        taken."""
        data, at, taken = self.data, self.at, 0
        view = memoryview(data)
        while at < len(data) and taken < most:
            header = data[at]
            if header & 0xF0 != 0x30 or header & 0x06 > 0x02:  # not a PUBLISH of QoS 0/1
                break
            remaining = _varint(data, at + 1)  # the remaining length
            if remaining is None:
                break  # cut off here, or no length: paho's turn
            length, start = remaining
            if start + length > len(data):
                break
            at = start + length
            self.at = at
            take((header & 0x06) >> 1, view[start:at])
            taken += 1
        return taken


class _Message(NamedTuple):
    """A PUBLISH as the collector keeps it until its batch is committed: its reading is
    parsed as it arrives."""

    topic: bytes
    mid: int
    qos: int
    rows: list[Row] | None  # None: no reading (logged and counted), acknowledged all the same
    received: int  # when the reader received it, µs since 1970; 0: not known
    copied: bytes  # the rows in COPY's binary format (rows.read_reading)

#: a message's topic and payload -> its rows (None: no reading), receive time, COPY data
Reader = Callable[[bytes, bytes], tuple[list[Row] | None, int, bytes]]


class _BulkClient(aiomqtt.Client):
    """aiomqtt's client, reading every packet the socket holds at each wake-up, through a
    buffer, and every PUBLISH straight into a plain list.

    aiomqtt reads one packet per wake-up of the event loop (paho's ``loop_read`` reads one
    when nothing is in flight), which held a collector at the broker's pace of about 4,000
    messages a second while PostgreSQL waited. For each PUBLISH paho then builds a message
    with a properties object and a ``threading.Condition``, and matches its topic against
    callback filters with a recursive closure: five objects in a reference cycle per
    message, which kept Python's cyclic garbage collector busy for half of a collector's
    time. aiomqtt wraps the message again and passes it through a queue and a task switch.
    So a PUBLISH of QoS 0 or 1 is decoded here (topic, packet id, payload; its properties
    skipped: the collector reads none, and no topic alias is allowed it) and parsed at once
    by ``read``, so a batch is ready when it is cut, and the parsing happens while the batch
    before is in PostgreSQL. QoS 2, and every other packet, stay with paho."""

    def __init__(self, read: Reader, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived: list[_Message] = []  # the inbox cuts its batches from here
        self.on_arrival: Callable[[int], None] | None = None  # told the count waiting
        #: messages parsed ahead at most while batches are cut (``_Inbox``); then the socket
        #: is left alone until a batch is taken, or ``_PAUSE`` seconds pass (paho's
        #: keepalive wants bytes now and then). Unbounded while a SUBACK or UNSUBACK is
        #: awaited: it comes behind what the broker kept for the session
        self.hold = _UNBOUNDED
        self.resume: Callable[[], None] = lambda: None
        paho = self._client
        handle_publish = paho._handle_publish

        def take(qos: int, packet: bytearray | memoryview) -> None:
            topic, mid, payload = _publish(packet, qos)
            self.arrived.append(_Message(topic, mid, qos, *read(topic, payload)))
            if self.on_arrival is not None:
                self.on_arrival(len(self.arrived))

        def publish() -> MQTTErrorCode:  # one that paho read: at a buffer's edge, or TLS
            header = paho._in_packet["command"]
            qos = (header & 0x06) >> 1
            if qos == 2:
                return handle_publish()
            try:
                take(qos, paho._in_packet["packet"])
            except IndexError:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
            return MQTTErrorCode.MQTT_ERR_SUCCESS

        self._take = take
        paho._handle_publish = publish  # type: ignore[method-assign]

    def acknowledge(self, messages: list[_Message]) -> None:
        """PUBACK for each message of QoS 1 as one write (paho queues, wakes its socket
        pair and asks the event loop to watch the socket for every single one)."""
        paho = self._client
        acks = b"".join(_PUBACK(0x40, 2, message.mid) for message in messages
                        if message.qos == 1)
        if acks:
            paho._packet_queue(0x40, acks, 0, 0)
        for message in messages:
            if message.qos == 2:
                paho.ack(message.mid, 2)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        super()._on_socket_open(client, userdata, sock)
        if isinstance(sock, ssl.SSLSocket):  # paho's own reads handle TLS: aiomqtt's reader
            return
        buffer = _Buffer(sock)
        client._sock_recv = buffer.recv  # type: ignore[method-assign,assignment]
        fileno = sock.fileno()
        paused: list[asyncio.TimerHandle] = []
        #: the one turn asked for while the buffer holds what the socket will not wake us
        #: for (one per wake-up piled up: 500 readings a turn, and growing)
        queued: list[asyncio.Handle] = []

        def read_soon() -> None:
            if not queued:
                queued.append(self._loop.call_soon(read_queued))

        def read_queued() -> None:
            queued.clear()
            read_all()

        def resume() -> None:
            if paused and client._sock is sock:
                paused.pop().cancel()
                self._loop.add_reader(fileno, read_all)
                read_soon()  # the buffer may hold what is read already

        def read_all() -> None:
            if len(self.arrived) >= self.hold:
                # a backlog: parsing further ahead only takes the CPU from the batch being
                # written, whose COPY waits for this loop between its steps
                if not paused:
                    self._loop.remove_reader(fileno)
                    paused.append(self._loop.call_later(_PAUSE, resume))
                return
            try:
                buffer.dry = False
                budget = _TAKEN_PER_WAKEUP
                for _ in range(_READS_PER_WAKEUP):
                    # whole PUBLISH packets straight from the buffer while paho is between
                    # packets; anything else, or a packet cut at the buffer's end, is paho's
                    if not client._in_packet["command"] and (
                            taken := buffer.publishes(self._take, budget)):
                        with client._msgtime_mutex:  # paho's keepalive counts them
                            client._last_bytes_received = time.monotonic()
                        budget -= taken
                        if budget <= 0 or len(self.arrived) >= self.hold:
                            break
                    if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or buffer.dry:
                        return
                if buffer.holds:  # read already, so the socket will not wake us for it
                    read_soon()
            except Exception as exc:  # as aiomqtt does: the connection broke
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        # replaces aiomqtt's reader (a file descriptor has one), after aiomqtt added it
        self.resume = resume
        self._loop.call_soon_threadsafe(self._loop.add_reader, fileno, read_all)


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

    def _client(self, *, end_session: bool = False) -> _BulkClient:
        settings = self.settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0 if end_session else settings.session_expiry
        # the broker may send this many unacknowledged readings: a whole batch and the next
        properties.ReceiveMaximum = min(65535, 2 * settings.batch_size)
        client = _BulkClient(
            self._read, settings.host, settings.port, username=settings.username,
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

    async def _drain(self, client: _BulkClient, quiet: float | None = None) -> None:
        """Batches, each committed and then acknowledged, until cancelled or (``quiet``)
        until that many seconds pass without a message. A batch is gathered (and so
        parsed) while the one before it is in PostgreSQL."""
        inbox = _Inbox(client, self.settings.batch_size)
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                try:  # batch() takes messages only as it returns: a timeout loses none
                    async with asyncio.timeout(quiet):
                        batch = await inbox.batch(self.settings.batch_size,
                                                  self.settings.batch_seconds)
                except TimeoutError:
                    batch = inbox.take(self.settings.batch_size)  # came in meanwhile
                    if not batch:
                        if writing is not None:
                            await writing
                        return  # quiet for ``quiet`` seconds: nothing is left
                self.stats.received += len(batch)
                parsed = [message.rows for message in batch if message.rows is not None]
                rows = [row for rows in parsed for row in rows]
                # while the batch before is in PostgreSQL
                prepared = self.store.prepare(rows, copy_binary_of(
                    [message.copied for message in batch if message.rows]))
                if writing is not None:
                    await writing  # commits in the order of the batches
                sent = asyncio.Event()
                writing = asyncio.create_task(self._commit(client, batch, parsed, prepared,
                                                           sent))
                # the next batch is cut and encoded once this one's rows are on their way,
                # while PostgreSQL takes them (earlier, it would hold up this one's COPY);
                # until then no message is read either: the COPY's writes wait for the event
                # loop, and a backlog's parsing held them up for a third of a second, with
                # PostgreSQL idle (bench_fleet.py)
                waiter = asyncio.ensure_future(sent.wait())
                inbox.hold_back()
                try:
                    await asyncio.wait((waiter, writing), timeout=_SENDING,
                                       return_when=asyncio.FIRST_COMPLETED)
                    inbox.let_in()  # a slow or unreachable PostgreSQL: the socket is read
                    await asyncio.wait((waiter, writing), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    inbox.let_in()
        finally:
            if writing is not None and not writing.done():
                writing.cancel()  # rolled back, not acknowledged: the broker sends it again
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
            await inbox.close()

    def _read(self, topic: bytes, payload: bytes) -> tuple[list[Row] | None, int, bytes]:
        """A message's rows (None: no reading, logged and counted), receive time and rows
        in COPY's binary format."""
        try:
            rows, when, copied = read_reading(payload, self._meter_of(topic))
        except NotAReading as exc:
            self.stats.rejected += 1
            log.warning(_("collector: a message on %s is no reading (%s); dropped"),
                        _shown(_topic(topic)), exc)
            return None, 0, b""
        except Exception as exc:  # a case parse_reading missed: still one message's drop
            self.stats.rejected += 1
            log.error(_("collector: a message on %s could not be read (%s); dropped"),
                      _shown(_topic(topic)), f"{type(exc).__name__}: {str(exc)[:200]}")
            return None, 0, b""
        return rows, micros(when) if when else 0, copied

    async def _commit(self, client: _BulkClient, batch: list[_Message], parsed: list[list[Row]],
                      prepared: Prepared, sent: asyncio.Event) -> None:
        delay = 1.0
        while True:
            try:
                landed = await self.store.write(prepared.rows, sent, prepared) \
                    if prepared.rows else 0
                break
            except StoreUnavailable as exc:
                log.warning(_("collector: %s; the batch waits"), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
            except BadBatch:
                landed = await self._one_by_one(parsed)
                break
        client.acknowledge(batch)
        self.stats.batches += 1
        self.stats.committed += len(batch)
        self.stats.rows_landed += landed
        now = time.time_ns() // 1000
        self.stats.note_delays([(now - message.received) / 1e6 for message in batch
                                if message.received])
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

    def _meter_of(self, topic_bytes: bytes) -> str:
        topic = _topic(topic_bytes)
        if topic.startswith(self._prefix):
            return topic[len(self._prefix):].split("/", 1)[0]
        return ""


def _publish(packet: bytearray | memoryview, qos: int) -> tuple[bytes, int, bytes]:
    """A PUBLISH packet after its fixed header (MQTT 5.0, 3.3.2): the topic's length and
    bytes, the packet id (QoS 1 and 2), the properties' length (a variable byte integer) and
    properties, then the payload: topic, packet id and payload. IndexError where it ends
    too soon."""
    end = 2 + int.from_bytes(packet[0:2], "big")
    topic = bytes(packet[2:end])
    if len(topic) != end - 2:
        raise IndexError("a topic beyond the packet")
    mid = 0
    if qos:
        mid = int.from_bytes(packet[end : end + 2], "big")
        end += 2
    properties = _varint(packet, end)
    if properties is None:
        raise IndexError("a properties length cut off or of more than four bytes")
    size, end = properties
    end += size
    if end > len(packet):
        raise IndexError("properties beyond the packet")
    return topic, mid, bytes(packet[end:])


def _varint(data: bytes | bytearray | memoryview, at: int) -> tuple[int, int] | None:
    """MQTT's variable byte integer at ``at``: its value and where it ends; None when the
    data ends first or it runs over four bytes."""
    value = shift = 0
    for place in range(at, min(at + 4, len(data))):
        byte = data[place]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, place + 1
    return None


def _topic(topic: bytes) -> str:
    """A topic; bytes that are no UTF-8 replaced."""
    return topic.decode("utf-8", "replace")


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
    _settle_garbage_collection()
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


def _settle_garbage_collection() -> None:
    """What the process holds after start-up is never garbage: the cyclic collector leaves
    it alone (``gc.freeze``), and it runs after 10,000 new objects instead of 700. A batch
    under way holds some 100,000 objects (messages, rows) that the default made it walk
    over and over: a fifth of a collector's time, none of it freeing anything."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class _Inbox:
    """The session's messages as the client lists them, cut into batches. The batch waits
    for an event set at the first message and when a batch is full, not at every message.
    A task of its own watches the connection (aiomqtt's message iterator ends with an error
    when it breaks). Waiting with a timeout directly on aiomqtt's message iterator lost a
    message now and then: on Python 3.11 ``asyncio.wait_for`` drops a result that arrives
    just as its timeout cancels the wait (seen here: one or two readings in 30,000)."""

    def __init__(self, client: _BulkClient, size: int) -> None:
        self._pending = client.arrived
        self._size = size
        self._arrived = asyncio.Event()
        client.on_arrival = self._note
        client.hold = 2 * size  # a batch being written and the next
        self._client = client
        self._receiving = asyncio.create_task(self._watch(client))

    def _note(self, waiting: int) -> None:
        if waiting == 1 or waiting >= self._size:
            self._arrived.set()

    async def _watch(self, client: aiomqtt.Client) -> None:
        async for _message in client.messages:  # none: the client lists them instead
            pass

    async def batch(self, size: int, seconds: float) -> list[_Message]:
        """Up to ``size`` messages, once ``size`` are there or ``seconds`` after the first."""
        self._size = size
        until: float | None = None
        while True:
            if self._receiving.done():  # the connection broke: MqttError from here
                self._receiving.result()
                raise aiomqtt.MqttError("the broker ended the message stream")
            now = time.monotonic()
            if self._pending and until is None:
                until = now + seconds
            if len(self._pending) >= size or (until is not None and now >= until):
                return self.take(size)
            self._arrived.clear()
            waiter = asyncio.ensure_future(self._arrived.wait())
            try:  # cancelling an Event.wait() loses nothing
                await asyncio.wait((waiter, self._receiving),
                                   timeout=None if until is None else until - now,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    def hold_back(self) -> None:
        """No more messages are read until ``let_in`` (over TLS paho reads them itself:
        nothing is held back then, and nothing lost)."""
        self._client.hold = 0

    def let_in(self) -> None:
        self._client.hold = 2 * self._size
        self._client.resume()

    def take(self, size: int) -> list[_Message]:
        """What has arrived, up to ``size`` messages, at once."""
        batch = self._pending[:size]
        del self._pending[:size]
        if len(self._pending) < self._client.hold:
            self._client.resume()
        return batch

    async def close(self) -> None:
        self._client.on_arrival = None
        self._client.hold = _UNBOUNDED
        self._client.resume()
        self._receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self._receiving
