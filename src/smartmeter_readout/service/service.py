"""The service: one source and decoder per meter, many outputs, none of which can stop the
others.

Theory of operation: a ``LiveReader`` per meter yields readings, each in a task of its own (a
meter's unplugged adapter or unreadable port holds up that meter only; ``[[meters]]`` gives
each its name, which the readings carry). Each reading is handed to every output without waiting
for any of them:

- local outputs (SQLite, console) get it through a bounded in-memory queue; a worker per
  output writes it in batches. A full queue (the disk hangs) drops its oldest reading with a
  warning, so the reader never waits;
- network outputs (MQTT, InfluxDB, PostgreSQL) get it through the durable ``Outbox``: the
  reading is on disk before anything is sent; a worker per output sends batches in order and
  removes them once confirmed. An output that is down is retried with backoff (1 s doubling to
  60 s) and catches up by itself, also after a restart of the service.

With the SQLite history and network outputs together, a reading goes to the outbox once the
history has stored it (or the history cannot take it: it failed, or has not answered within
``_GATE_SECONDS``): so after a crash (``kill -9``) no network output holds a reading the
history never got.

Stopping (SIGTERM, Ctrl-C): reading stops, the local queues are written out (a few seconds at
most; an output waiting to retry tries once more at once), network workers finish their batch;
what they have not sent stays in the outbox. What a local output could not write is handed to
its ``spill`` (the history keeps it for the next start); what neither an output nor a spill
took is counted in ``lost``, for the log and the exit code. Each output's state changes are
logged once, as for the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from ..events import DecoderStats
from ..i18n import _
from ..live.reader import LiveReader, SourceStatus
from ..masking import hide_secrets, printable
from ..reading import Reading
from ..sinks.base import Sink
from .outbox import Outbox, OutboxError

__all__ = ["MeterFeed", "MeterStatus", "OutputStatus", "Service", "ServiceStatus", "SinkState",
           "SourceStatus"]

logger = logging.getLogger("smartmeter_readout")

_QUEUE = 10_000
_BATCH = 500
_BACKOFF_MAX = 60.0
_DRAIN_SECONDS = 5.0
_RETRY_METER = 60.0  # seconds before a meter whose source failed for good is tried again
_RETRY_METER_MAX = 600.0
_INTERVALS = 10  # a meter's push interval is the median of its last this many gaps
_GATE_SECONDS = 10.0  # the longest a network output waits for the history to store a reading
_WRITE_AT_STOP = 5.0  # seconds a stop waits for a local output's write under way


@dataclass(frozen=True, slots=True)
class OutputStatus:
    name: str
    up: bool
    backlog: int
    delivered: int
    failures: int
    dropped: int
    error: str


@dataclass(frozen=True, slots=True)
class MeterStatus:
    name: str  # "" for the one meter of a one-meter config
    readings: int
    last_reading: Reading | None
    last_reading_age: float | None  # seconds
    source: SourceStatus
    decoder: DecoderStats
    stopped: str  # why this meter is not read now, if it is not (it is tried again)
    push_interval: float | None = None  # seconds: the median gap of the last pushes


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What the service knows about itself at one moment: what the status API, /metrics and
    the page read, instead of reaching into the readers and the decoders. ``source`` and
    ``decoder`` are the first meter's; ``meters`` has every meter's."""

    started: float  # wall clock
    readings: int
    last_reading: Reading | None
    last_reading_age: float | None  # seconds
    source: SourceStatus
    decoder: DecoderStats
    outputs: tuple[OutputStatus, ...]
    meters: tuple[MeterStatus, ...] = ()


@dataclass(slots=True)
class MeterFeed:
    """One meter's reader and what came of it."""

    name: str
    reader: LiveReader
    readings: int = 0
    last_reading: Reading | None = None
    last_reading_at: float | None = None  # monotonic
    stopped: str = ""
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=_INTERVALS + 1))

    def status(self) -> MeterStatus:
        age = (time.monotonic() - self.last_reading_at
               if self.last_reading_at is not None else None)
        return MeterStatus(self.name, self.readings, self.last_reading, age,
                           self.reader.status(), self.reader.decoder.stats, self.stopped,
                           self.push_interval())

    def push_interval(self) -> float | None:
        """How often the meter pushes, from the gaps between its last readings (the median:
        one late push or a burst after a reconnect does not move it); None before two."""
        if len(self.arrivals) < 2:
            return None
        return statistics.median(later - earlier
                                 for earlier, later in itertools.pairwise(self.arrivals))


@dataclass(slots=True)
class SinkState:
    delivered: int = 0
    failures: int = 0
    dropped: int = 0
    healthy: bool = True
    error: str = ""


class Service:
    def __init__(self, readers: LiveReader | Mapping[str, LiveReader], sinks: Sequence[Sink],
                 *, outbox: Outbox | None = None, log: logging.Logger = logger,
                 count: int | None = None, secrets: Sequence[str] = ()) -> None:
        """``readers``: the one meter's reader, or each meter's by its name."""
        named = readers if isinstance(readers, Mapping) else {"": readers}
        self.feeds = [MeterFeed(name, reader) for name, reader in named.items()]
        self.reader = self.feeds[0].reader
        self.sinks = list(sinks)
        self.outbox = outbox
        self.log = log
        self.count = count  # stop after this many readings (demo, tests)
        self.secrets = tuple(secrets)  # hidden in every message an output's failure makes
        self.readings = 0
        self.last_reading: Reading | None = None
        self.last_reading_at: float | None = None  # monotonic
        self.state = {sink.name: SinkState() for sink in self.sinks}
        self._by_name = {sink.name: sink for sink in self.sinks}
        self._subscribers: set[asyncio.Queue[Reading]] = set()  # the web page's live feed
        self.outbox_error = ""  # why the outbox cannot store readings now, if it cannot
        self.started = time.time()
        self._queues: dict[str, asyncio.Queue[tuple[int, Reading]]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        #: the history, when network outputs wait for it (both are there): set by ``_run``
        self._gate: Sink | None = None
        #: per local output, the batch being written (what a stop must not lose)
        self._writing: dict[str, list[tuple[int, Reading]]] = {}
        #: readings the history has not stored yet, held back from the network outputs:
        #: (number, when dispatched, reading)
        self._held: deque[tuple[int, float, Reading]] = deque()
        self._releasing = asyncio.Lock()
        self._stopping = asyncio.Event()
        #: readings lost at the stop, by output: neither written nor kept for the next start
        self.lost: dict[str, int] = {}
        if outbox is None and any(sink.durable for sink in self.sinks):
            raise ValueError("network outputs need an outbox")

    def backlog(self, name: str) -> int:
        if name in self._queues:
            return self._queues[name].qsize()
        return self.outbox.backlog(name) if self.outbox is not None else 0

    def dropped(self, name: str) -> int:
        """Readings an output lost: its queue was full, or the outbox was."""
        outbox = self.outbox.dropped.get(name, 0) if self.outbox is not None else 0
        return self.state[name].dropped + outbox

    def status(self) -> ServiceStatus:
        age = (time.monotonic() - self.last_reading_at
               if self.last_reading_at is not None else None)
        outputs = tuple(OutputStatus(name, state.healthy and not self._fault(name),
                                     self.backlog(name), state.delivered, state.failures,
                                     self.dropped(name),
                                     self._fault(name) or state.error or self._notice(name))
                        for name, state in self.state.items())
        return ServiceStatus(self.started, self.readings, self.last_reading, age,
                             self.reader.status(), self.reader.decoder.stats, outputs,
                             tuple(feed.status() for feed in self.feeds))

    def _fault(self, name: str) -> str:
        """Why an output is down whatever its last write did: the outbox cannot store, or
        its file is damaged."""
        return ((self.outbox_error if name in self._wake else "")
                or str(getattr(self._by_name.get(name), "fault", "") or ""))

    def _notice(self, name: str) -> str:
        """What an output that is up lost at the start: its outbox was damaged."""
        if name in self._wake and self.outbox is not None:
            return self.outbox.damaged
        return ""

    def report_fault(self, name: str, reason: str) -> None:
        """Damage seen from outside an output (a read of the history failed): the output
        takes it (``damaged``: a warning once, its state until a restart)."""
        handler = getattr(self._by_name.get(name), "damaged", None)
        if callable(handler):
            handler(reason)

    @contextlib.asynccontextmanager
    async def subscribe(self, size: int = 64) -> AsyncIterator[AsyncIterator[Reading]]:
        """The readings from now on, as an async iterator over a bounded queue: a reader
        that falls behind loses the oldest, never holds the service up."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(size)
        self._subscribers.add(queue)

        async def readings() -> AsyncIterator[Reading]:
            while True:
                yield await queue.get()

        try:
            yield readings()
        finally:
            self._subscribers.discard(queue)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        if self.outbox is not None:
            for note in self.outbox.notes:
                self.log.warning(hide_secrets(note, self.secrets))
            for note in self.outbox.news:
                self.log.info(note)
        try:
            async with contextlib.AsyncExitStack() as outputs:
                if self.outbox is not None:
                    outputs.callback(self.outbox.close)  # closed last, after every output
                for sink in self.sinks:  # opened together, each closed on the way out
                    await outputs.enter_async_context(sink)
                await self._run(stop or asyncio.Event())
        finally:
            if self.outbox is not None:
                for name, count in self.outbox.lost.items():
                    self.lost[name] = self.lost.get(name, 0) + count
            for name, count in self.lost.items():
                self.log.error(_("{name}: {count} readings could not be stored before the "
                                 "stop and are lost for it").format(name=name, count=count))

    async def _run(self, stop: asyncio.Event) -> None:
        local = [sink for sink in self.sinks if not sink.durable]
        durable = [sink for sink in self.sinks if sink.durable]
        for sink in local:
            await sink.start()  # a local output that cannot start is a configuration error
            self._queues[sink.name] = asyncio.Queue(_QUEUE)
        workers = [asyncio.create_task(self._local_worker(sink), name=sink.name)
                   for sink in local]
        for sink in durable:
            self._wake[sink.name] = asyncio.Event()
            self._wake[sink.name].set()  # deliver what an earlier run left in the outbox
            workers.append(asyncio.create_task(self._durable_worker(sink), name=sink.name))
        if self._wake:
            self._gate = next((sink for sink in local if getattr(sink, "history", False)),
                              None)
        reading = [asyncio.create_task(self._read(feed, stop), name=f"meter {feed.name}")
                   for feed in self.feeds]
        stopping = asyncio.create_task(stop.wait())
        try:
            await self._follow(reading, stopping)
        finally:
            for task in (*reading, stopping):
                task.cancel()
            await asyncio.gather(*reading, stopping, return_exceptions=True)
            await self._shutdown(workers)

    async def _follow(self, reading: list[asyncio.Task[None]],
                      stopping: asyncio.Task[bool]) -> None:
        """Until the stop, or every meter's source has ended (a replay, ``count``). A
        source that fails for good ends the service when it is its only meter; of several
        meters, ``_read`` tries that one again later while the others go on."""
        pending = set(reading)
        while pending:
            await asyncio.wait({*pending, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done():
                return
            for task in [task for task in pending if task.done()]:
                pending.discard(task)
                task.result()

    async def _read(self, feed: MeterFeed, stop: asyncio.Event) -> None:
        delay = _RETRY_METER
        while True:
            try:
                await self._read_meter(feed, stop)
                return
            except Exception as exc:  # one meter's trouble is never the others'
                if len(self.feeds) == 1:
                    raise
                feed.stopped = hide_secrets(str(exc) or type(exc).__name__, self.secrets)
                self.log.error(_("meter {name}: {reason}; the other meters are read on, this "
                                 "one again in {seconds:g} s").format(
                    name=printable(feed.name), reason=feed.stopped, seconds=delay))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_METER_MAX)

    async def _read_meter(self, feed: MeterFeed, stop: asyncio.Event) -> None:
        name = feed.name
        async with aclosing(feed.reader.readings()) as readings:
            async for decoded in readings:
                if self.count is not None and self.readings >= self.count:
                    return  # another meter's reading was the last one asked for
                reading = (replace(decoded, meter=replace(decoded.meter, name=name)) if name
                           else decoded)
                if feed.stopped:
                    feed.stopped = ""
                    self.log.info(_("meter {name}: read again").format(name=printable(name)))
                feed.readings += 1
                feed.last_reading, feed.last_reading_at = reading, time.monotonic()
                feed.arrivals.append(feed.last_reading_at)
                await self.dispatch(reading)
                if self.count is not None and self.readings >= self.count:
                    stop.set()
                    return

    async def dispatch(self, reading: Reading) -> None:
        self.readings += 1
        number = self.readings
        self.last_reading, self.last_reading_at = reading, time.monotonic()
        for name, queue in self._queues.items():
            if queue.full():
                queue.get_nowait()
                queue.task_done()
                self.state[name].dropped += 1
                self._note(name, False, _("falls behind: the oldest waiting reading was "
                                          "dropped"))
            queue.put_nowait((number, reading))
        if self._wake and self.outbox is not None:
            self._held.append((number, self.last_reading_at, reading))
            gate = self._gate
            if (gate is None or not self.state[gate.name].healthy
                    or self.last_reading_at - self._held[0][1] > _GATE_SECONDS):
                await self._release(number)
        for subscriber in self._subscribers:
            if subscriber.full():
                subscriber.get_nowait()
            subscriber.put_nowait(reading)

    async def _release(self, up_to: int) -> None:
        """Hand the held readings up to number ``up_to`` to the outbox, in order: on disk
        before anything is sent (SQLite's fsync runs off the event loop)."""
        assert self.outbox is not None
        async with self._releasing:
            batch = []
            while self._held and self._held[0][0] <= up_to:
                batch.append(self._held.popleft()[2])
            if not batch:
                return
            names = list(self._wake)
            try:
                await asyncio.to_thread(self.outbox.append, names, batch)
            except OutboxError as exc:
                if not self.outbox_error:
                    self.log.warning(_("outbox: %s (reading goes on; stored when it can be)"),
                                     hide_secrets(str(exc), self.secrets))
                self.outbox_error = str(exc).split(";")[0]
            else:
                if self.outbox_error:
                    self.log.info(_("outbox: storing readings again"))
                    self.outbox_error = ""
            for name in names:
                self._wake[name].set()

    async def _local_worker(self, sink: Sink) -> None:
        queue = self._queues[sink.name]
        while True:
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            self._writing[sink.name] = batch
            await self._deliver(sink, batch)
            for _done in batch:
                queue.task_done()

    async def _deliver(self, sink: Sink, batch: list[tuple[int, Reading]]) -> None:
        delay = 1.0
        gate = sink is self._gate
        readings = [reading for _number, reading in batch]
        while True:
            try:
                await self._write(sink, readings)
            except Exception as exc:
                self._failed(sink.name, exc)
                if gate:  # the network outputs do not wait for a history that fails
                    await self._release(self.readings)
                await self._pause(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
            else:
                self._writing.pop(sink.name, None)
                self._delivered(sink.name, len(batch))
                if gate:
                    await self._release(batch[-1][0])
                return

    async def _write(self, sink: Sink, readings: list[Reading]) -> None:
        """``sink.write``; a stop meanwhile waits a moment for its outcome, so a batch is
        either written or handed to the spill, not both (or neither)."""
        writing = asyncio.ensure_future(sink.write(readings))
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(_WRITE_AT_STOP):
                    await asyncio.shield(writing)
            if writing.done() and not writing.cancelled() and writing.exception() is None:
                self._writing.pop(sink.name, None)  # written after all
            raise

    async def _pause(self, seconds: float) -> None:
        """Wait before a retry; a stop cuts it short (the output gets one more try then,
        and a try a second while the stop lasts)."""
        if self._stopping.is_set():
            await asyncio.sleep(min(seconds, 1.0))
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _durable_worker(self, sink: Sink) -> None:
        assert self.outbox is not None
        wake = self._wake[sink.name]
        delay = 1.0
        started = False
        while True:
            if not started:
                try:
                    await sink.start()
                    started = True
                except Exception as exc:
                    self._failed(sink.name, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX)
                    continue
            wake.clear()
            try:
                rows = await asyncio.to_thread(self.outbox.peek, sink.name, _BATCH)
            except OutboxError as exc:
                self._failed(sink.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if not rows:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30):
                        await wake.wait()
                continue
            try:
                await sink.write([reading for _, reading in rows])
            except Exception as exc:
                self._failed(sink.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            await self._acknowledge(sink.name, rows[-1][0], len(rows))
            delay = 1.0

    async def _acknowledge(self, name: str, up_to: int, count: int) -> None:
        """Mark a sent batch delivered even when shutdown cancels the worker meanwhile:
        otherwise the next start would send it a second time."""
        assert self.outbox is not None
        marking = asyncio.ensure_future(asyncio.to_thread(self.outbox.remove, name, up_to))
        try:
            await asyncio.shield(marking)
        except asyncio.CancelledError:
            await marking
            raise
        finally:
            if marking.done() and not marking.cancelled() and marking.exception() is None:
                self._delivered(name, count)

    def _failed(self, name: str, exc: BaseException) -> None:
        state = self.state[name]
        state.failures += 1
        reason = hide_secrets(str(exc) or type(exc).__name__, self.secrets)
        waiting = self.backlog(name)
        self._note(name, False, _("cannot deliver ({reason}); {waiting} waiting, retrying")
                   .format(reason=reason, waiting=waiting), reason)

    def _delivered(self, name: str, count: int) -> None:
        state = self.state[name]
        state.delivered += count
        if not state.healthy:
            self._note(name, True, _("delivering again"))

    def _note(self, name: str, healthy: bool, message: str, error: str = "") -> None:
        state = self.state[name]
        if state.healthy == healthy and state.error == error:
            return
        state.healthy, state.error = healthy, error
        self.log.log(logging.INFO if healthy else logging.WARNING, "%s: %s", name, message)

    async def _shutdown(self, workers: list[asyncio.Task[None]]) -> None:
        self._stopping.set()
        queues = [queue.join() for queue in self._queues.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                await asyncio.gather(*queues)
        if self._held:  # what the history did not store goes to the outbox all the same
            await self._release(self.readings)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                # network outputs that are up get a moment to send what is waiting; the
                # rest stays in the outbox for the next start
                while any(self.backlog(name) and self.state[name].healthy
                          for name in self._wake):
                    await asyncio.sleep(0.05)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self._keep_unwritten()

    async def _keep_unwritten(self) -> None:
        """What each local output did not write: to its spill, the rest counted as lost."""
        for sink in self.sinks:
            if sink.name not in self._queues:
                continue
            queue = self._queues[sink.name]
            left = [reading for _number, reading in self._writing.pop(sink.name, [])]
            while not queue.empty():
                left.append(queue.get_nowait()[1])
                queue.task_done()
            if not left:
                continue
            spill = getattr(sink, "spill", None)
            kept = await asyncio.to_thread(spill, left) if callable(spill) else 0
            if kept:
                self.log.warning(_("{name}: {count} readings not written before the stop are "
                                   "kept for the next start").format(name=sink.name,
                                                                     count=kept))
            if len(left) > kept:
                self.lost[sink.name] = self.lost.get(sink.name, 0) + len(left) - kept
