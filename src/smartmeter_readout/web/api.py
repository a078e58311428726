"""The REST API under /api/v1 and the live feed (server-sent events).

- ``GET /api/v1/reading?meter=``: the last reading (the JSON contract), 404 before the first;
- ``GET /api/v1/meters``: every meter the service reads, with its state and last reading;
- ``GET /api/v1/status``: source, meter, push counts, last error, outputs, and the counters
  that went back (``counter_resets``, from the history);
- ``GET /api/v1/summary?meter=``: energy today, yesterday, this month, last month, this year;
- ``GET /api/v1/history?from=&to=&step=&obis=&meter=``: intervals from the SQLite history
  (``raw`` gives the stored readings);
- ``meter=*`` (summary, history) takes the service's meters together, added up: a
  building's import, export, peak and cost;
- ``GET /api/v1/peaks?from=&to=&step=&meter=``: the highest quarter hour per day or month;
- ``GET /api/v1/costs?from=&to=&step=&meter=``: cost per quarter hour, day or month;
- ``GET /api/v1/series``: which values of which meter the history holds;
- ``GET /api/v1/events``: ``reading`` events as they come, ``status`` every few seconds;
- ``GET /api/v1/openapi.json``: the description of all of the above.

History queries run in a worker thread on a read connection of their own, so a slow query
never holds up the meter, and the answers are bounded in size.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import __version__
from ..events import EventKind
from ..history.costs import cost_intervals
from ..history.query import STEPS, HistoryError, HistoryQuery, spans
from ..history.summary import peaks, summary
from ..history.timespec import parse_when
from ..i18n import localize
from ..service.service import Service, ServiceStatus
from ..sinks.sqlite import is_damage

__all__ = ["Api", "SiteInfo", "when_param"]

# the same patterns as in openapi.json: what the description admits, the server takes
OBIS_LIST = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){5}(,[0-9]{1,3}(\.[0-9]{1,3}){5})*")
WHEN = re.compile(r"-[0-9]{1,5}[smhdw]|today|yesterday|[0-9]{4}-[0-9]{2}-[0-9]{2}"
                  r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_STEP_SECONDS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400, "1mo": 31 * 86400}
_MAX_INTERVALS = 20_000
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_MAX_RAW = 10_000
# a long history answer is read, encoded and written in pieces of this many intervals (of
# all the values asked for) or readings: about 0.5 MB of JSON each, a few tens of ms of a
# worker thread holding the history's connection
_PIECE_INTERVALS = 256
_PIECE_READINGS = 500
_MAX_PEAK_DAYS = 3 * 366  # quarter hours are read one by one: about 100,000 of them
_MAX_QUARTER_DAYS = 31  # quarter hours answered one by one: about 3,000 of them
_STATUS_EVERY = 2.0
_CLIENT_QUEUE = 64


@dataclass(slots=True)
class SiteInfo:
    """What the page shows that the running service does not know by itself."""

    sqlite_path: Path | None = None
    tz: tzinfo = UTC
    operator: str = "auto"
    outputs: list[str] = field(default_factory=list)
    peak_warning: float = 0.0  # W; 0: off


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


class Api:
    def __init__(self, service: Service, info: SiteInfo) -> None:
        self.service = service
        self.info = info
        self._store: HistoryQuery | None = None
        self._clients: set[asyncio.Queue[bytes]] = set()
        self._feed: asyncio.Task[None] | None = None  # one subscription for all open pages
        self._summary: tuple[float, dict[str, dict[str, Any]]] | None = None
        self._resets: list[dict[str, Any]] = []  # the history's newest counter drops
        self._resets_seen = -1  # the history output's count of drops when last read

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/v1/reading", self.reading),
                web.get("/api/v1/meters", self.meters),
                web.get("/api/v1/status", self.status),
                web.get("/api/v1/summary", self.summary),
                web.get("/api/v1/history", self.history),
                web.get("/api/v1/peaks", self.peaks),
                web.get("/api/v1/costs", self.costs),
                web.get("/api/v1/series", self.series),
                web.get("/api/v1/events", self.events),
                web.get("/api/v1/openapi.json", self.openapi)]

    async def reading(self, request: web.Request) -> web.Response:
        reading = self.service.last_reading
        name = request.query.get("meter")
        if name:
            feed = next((f for f in self.service.feeds if f.name == name), None)
            if feed is None:
                raise BadRequest(f"meter={name!r} is not read here; the meters are: "
                                 f"{', '.join(f.name for f in self.service.feeds if f.name)}")
            reading = feed.last_reading
        if reading is None:
            return web.json_response({"error": "no reading yet: the service is waiting for "
                                      "the meter (see /api/v1/status)"}, status=404)
        return web.json_response(reading.to_dict())

    async def status(self, request: web.Request) -> web.Response:
        await self._read_resets()
        return web.json_response(self.status_data())

    async def _read_resets(self) -> None:
        """The counter drops the history holds (newest first, at most 10), for
        ``status_data``: read once, and again only when the history output wrote one."""
        history = next((sink for sink in self.service.sinks if sink.name == "sqlite"), None)
        written = getattr(history, "resets", 0)
        if self.info.sqlite_path is None or written == self._resets_seen:
            return
        try:
            store = await self._history_store()
            found = await asyncio.to_thread(store.counter_resets, 10)
        except (web.HTTPServiceUnavailable, HistoryError):
            return  # no history yet: none to show (and look again next time)
        self._resets_seen = written
        self._resets = [{
            "meter": reset.meter, "code": reset.obis,
            "name": reset.name,
            "time": datetime.fromtimestamp(reset.time, self.info.tz).isoformat(),
            "before": _tidy(reset.before), "after": _tidy(reset.after),
        } for reset in found]

    async def meters(self, request: web.Request) -> web.Response:
        return web.json_response({"meters": [
            {**meter, "reading": feed.last_reading.to_dict() if feed.last_reading else None}
            for meter, feed in zip(self._meters(self.service.status()), self.service.feeds,
                                   strict=True)]})

    def _meters(self, status: ServiceStatus) -> list[dict[str, Any]]:
        """Each meter's name, identity, source state and age, in the config's order."""
        found = []
        for meter in status.meters:
            reading = meter.last_reading
            found.append({
                "name": meter.name or None,
                "history_id": reading.meter_key if reading is not None else meter.name or None,
                "meter": reading.meter.to_dict() if reading is not None else None,
                "source": {"name": meter.source.name, "state": meter.source.state,
                           "message": meter.source.message},
                "readings": meter.readings,
                "last_reading_age": None if meter.last_reading_age is None
                else round(meter.last_reading_age, 3),
                "pushes_bad": sum(meter.decoder.outcomes.values())
                - meter.decoder.outcomes["ok"],
                "stopped": meter.stopped or None,
            })
        return found

    def status_data(self) -> dict[str, Any]:
        status = self.service.status()
        source, stats, reading = status.source, status.decoder, status.last_reading
        problems = [event for event in source.recent_events if event.kind.problem]
        meter = last = None
        if reading is not None:
            shown = reading.to_dict()
            meter = {"history_id": reading.meter_key, **shown["meter"]}
            last = {"time": shown["time"], "age_seconds": round(status.last_reading_age or 0.0, 3),
                    # the service's clock (the meter's may be off), the page ages it by;
                    # layout and security, which the page names in its language
                    "received": shown["received"], "layout": reading.layout,
                    "security": reading.security}
        pushes = stats.outcomes
        settings = source.settings
        meters = self._meters(status)
        for entry, each in zip(meters, status.meters, strict=True):  # when not live is late
            entry["push_interval_seconds"] = _rounded(each.push_interval)
        return {
            "version": __version__,
            "uptime_seconds": round(time.time() - status.started, 1),
            "time_zone": str(self.info.tz),
            "peak_warning_w": self.info.peak_warning or None,
            "push_interval_seconds": meters[0]["push_interval_seconds"] if meters else None,
            "source": {
                "name": source.name,
                "state": source.state,
                "message": source.message,
                "baud": settings.baud if settings else None,
                "parity": settings.parity if settings else None,
                "framing": source.framing,
                "operator": self.info.operator,
                "bytes_received": source.bytes_received,
                "reconnects": source.reconnects,
            },
            "meter": meter,
            "last_reading": last,
            "readings": status.readings,
            "pushes": {**pushes, "bad": sum(pushes.values()) - pushes["ok"],
                       "frames_bad": stats[EventKind.BAD_FRAME],
                       "implausible_values": stats[EventKind.IMPLAUSIBLE]},
            "last_error": None if not problems else {
                "kind": str(problems[-1].kind), "message": localize(problems[-1])},
            "outputs": [{
                "name": output.name, "up": output.up, "backlog": output.backlog,
                "delivered": output.delivered, "failures": output.failures,
                "dropped": output.dropped, "error": output.error or None,
            } for output in status.outputs],
            "meters": meters,
            "counter_resets": self._resets,
        }

    async def history(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        step = query.get("step", "15m")
        if step != "raw" and step not in STEPS:
            raise BadRequest(f"step={step!r}: use raw, {', '.join(STEPS)}")
        tz = self.info.tz
        now = datetime.now(tz)
        until = _clamp(self._when(query, "to", now, now))
        since = _clamp(self._when(query, "from", until - timedelta(days=1), now))
        if since >= until:
            raise BadRequest("from must be before to")
        obis = None
        if "obis" in query:
            text = query["obis"]
            if not OBIS_LIST.fullmatch(text):
                raise BadRequest(f"obis={text!r} is not a list of OBIS codes like "
                                 "1.0.1.7.0.255,1.0.2.7.0.255")
            obis = text.split(",")
        meter = self._meter(query)
        truncated = False
        if step != "raw" and (until - since).total_seconds() / _STEP_SECONDS[step] > \
                _MAX_INTERVALS:
            since = until - timedelta(seconds=_MAX_INTERVALS * _STEP_SECONDS[step])
            truncated = True
        head: dict[str, Any] = {"step": step, "from": since.isoformat(),
                                "to": until.isoformat()}
        store = await self._history_store()
        if step == "raw":
            if meter is not None and not isinstance(meter, str):
                raise BadRequest("step=raw is for one meter at a time: meter=NAME")
            return await self._streamed(request, head, "readings",
                                        self._raw_pieces(store, since, until, meter))
        head["truncated"] = truncated
        pieces = (functools.partial(_encoded, store.intervals, step, low, high, tz, obis=obis,
                                    meter=meter)
                  for low, high in spans(step, since, until, tz, _PIECE_INTERVALS))
        return await self._streamed(request, head, "intervals", self._pieces(pieces))

    async def _pieces(self, calls: Iterable[Callable[[], tuple[bytes, int]]]
                      ) -> AsyncIterator[tuple[bytes, int]]:
        for call in calls:
            yield await self._query(call)

    async def _raw_pieces(self, store: HistoryQuery, since: datetime, until: datetime,
                          meter: str | None) -> AsyncIterator[tuple[bytes, int]]:
        """The stored readings a piece at a time, at most ``_MAX_RAW``; the one read past
        them tells ``truncated``. Each piece: (its encoded readings, how many were read)."""
        read = 0
        after: tuple[float, int] | None = None
        while True:
            rows, after = await self._query(store.readings_after, since, until,
                                            min(_PIECE_READINGS, _MAX_RAW + 1 - read), meter,
                                            after)
            kept = rows[:_MAX_RAW - read]
            read += len(rows)
            yield await asyncio.to_thread(_joined, kept), len(rows)
            if after is None or read > _MAX_RAW:
                return

    async def _streamed(self, request: web.Request, head: dict[str, Any], key: str,
                        pieces: AsyncIterator[tuple[bytes, int]]) -> web.StreamResponse:
        """``head`` with ``key`` holding the list the pieces make, written as it is read
        (each piece queried and encoded in a worker thread), so a year of quarter hours
        neither fills the memory nor holds up the status. An answer of one piece goes out
        whole; a database failing in the first piece is a 503, in a later one the answer
        breaks off (its JSON incomplete: never a wrong whole)."""
        opening = json.dumps(head)[:-1].encode() + f', "{key}": ['.encode()
        first, count = await anext(pieces, (b"", 0))
        second = await anext(pieces, None)
        total = count
        if second is None:
            return web.Response(body=opening + first + self._closing(key, total),
                                content_type="application/json", charset="utf-8")
        response = web.StreamResponse()
        response.content_type, response.charset = "application/json", "utf-8"
        await response.prepare(request)
        await response.write(opening + first)
        written = bool(first)
        piece: tuple[bytes, int] | None = second
        try:
            while piece is not None:
                body, count = piece
                total += count
                if body:
                    await response.write(b", " + body if written else body)
                    written = True
                piece = await anext(pieces, None)
        except web.HTTPServiceUnavailable:
            if request.transport is not None:
                request.transport.close()  # the client sees the answer cut, not a whole one
            return response
        except ConnectionError:
            return response  # the client left
        await response.write(self._closing(key, total))
        await response.write_eof()
        return response

    @staticmethod
    def _closing(key: str, total: int) -> bytes:
        if key == "readings":  # one reading past the limit was asked for: there are more
            return f'], "truncated": {"true" if total > _MAX_RAW else "false"}}}'.encode()
        return b"]}"

    async def summary(self, request: web.Request) -> web.Response:
        store = await self._history_store()
        meter = self._meter(request.query)
        return web.json_response(await self._query(summary, store, datetime.now(self.info.tz),
                                                   self.info.tz, meter))

    async def fresh_summary(self, max_age: float = 60.0) -> dict[str, dict[str, Any]]:
        """Each meter's summary for /metrics, by its name ("" for the one meter of a config
        that names none: the one read last), read again when older than ``max_age``; empty
        while there is no history."""
        now = time.monotonic()
        if self._summary is None or now - self._summary[0] > max_age:
            data: dict[str, dict[str, Any]] = {}
            try:
                store = await self._history_store()
                for feed in self.service.feeds:
                    data[feed.name] = await self._query(
                        summary, store, datetime.now(self.info.tz), self.info.tz,
                        feed.name or None)
            except web.HTTPServiceUnavailable:
                data = {}
            self._summary = (now, data)
        return self._summary[1]

    def last_summary(self) -> dict[str, dict[str, Any]]:
        return self._summary[1] if self._summary else {}

    async def peaks(self, request: web.Request) -> web.Response:
        return await self._by_period(request, peaks, ("1d", "1mo"), "peaks")

    async def costs(self, request: web.Request) -> web.Response:
        return await self._by_period(request, cost_intervals, ("1d", "15m", "1mo"), "costs")

    async def _by_period(self, request: web.Request, find: Callable[..., Any],
                         steps: tuple[str, ...], key: str) -> web.Response:
        query = request.query
        step = query.get("step", steps[0])
        if step not in steps:
            raise BadRequest(f"step={step!r}: use {' or '.join(steps)}")
        now = datetime.now(self.info.tz)
        until = _clamp(self._when(query, "to", now, now))
        since = _clamp(self._when(query, "from", until - timedelta(days=31), now))
        if since >= until:
            raise BadRequest("from must be before to")
        longest = timedelta(days=_MAX_QUARTER_DAYS if step == "15m" else _MAX_PEAK_DAYS)
        if until - since > longest:
            since = until - longest
        store = await self._history_store()
        meter = self._meter(query)
        if meter is not None and not isinstance(meter, str):
            raise BadRequest(f"/api/v1/{key} is for one meter at a time: meter=NAME")
        rows = await self._query(find, store, step, since, until, self.info.tz, meter)
        return web.json_response({"step": step, "from": since.isoformat(),
                                  "to": until.isoformat(), key: rows})

    async def series(self, request: web.Request) -> web.Response:
        store = await self._history_store()
        return web.json_response({"series": await self._query(store.series)})

    def _meter(self, query: Any) -> str | list[str] | None:
        """``meter=NAME``, or ``meter=*``: the service's named meters taken together."""
        text = query.get("meter") or None
        if text != "*":
            return text
        names = [feed.name for feed in self.service.feeds if feed.name]
        if not names:
            raise BadRequest("meter=* adds up the meters of [[meters]]; this service reads "
                             "one meter")
        return names

    async def _query(self, call: Callable[..., Any], *args: Any) -> Any:
        """A history query off the event loop; a database that cannot be read is a 503,
        and a damaged one the SQLite output's fault (a warning, and in the status)."""
        try:
            return await asyncio.to_thread(call, *args)
        except HistoryError as exc:
            if is_damage(str(exc)):
                self.service.report_fault("sqlite", str(exc))
            raise _unavailable(str(exc)) from None

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue[bytes] = asyncio.Queue(_CLIENT_QUEUE)
        self._clients.add(queue)
        if self._feed is None:
            self._feed = asyncio.create_task(self._follow(), name="web live feed")
        try:
            await self._read_resets()
            await response.write(b"retry: 2000\n\n" + _event("status", self.status_data()))
            if self.service.last_reading is not None:
                await response.write(_event("reading", self.service.last_reading.to_dict()))
            while True:
                try:
                    async with asyncio.timeout(_STATUS_EVERY):
                        message = await queue.get()
                except TimeoutError:
                    await self._read_resets()
                    message = _event("status", self.status_data())
                await response.write(message)
        except ConnectionError:
            pass  # the tab was closed
        finally:
            self._clients.discard(queue)
        return response

    async def openapi(self, request: web.Request) -> web.Response:
        text = (files(__package__) / "openapi.json").read_text(encoding="utf-8")
        return web.Response(text=text.replace("{version}", __version__),
                            content_type="application/json")

    async def _follow(self) -> None:
        async with self.service.subscribe() as readings:
            async for reading in readings:
                if self._clients:  # no page open: no work on the reading's way
                    self._publish(_event("reading", reading.to_dict()))

    def _publish(self, message: bytes) -> None:
        for queue in self._clients:  # encoded once for all open pages
            if queue.full():  # a stalled browser tab: it gets the newest, not the oldest
                queue.get_nowait()
            queue.put_nowait(message)

    def _when(self, query: Any, name: str, default: datetime, now: datetime) -> datetime:
        return when_param(query, name, default, now, self.info.tz)

    async def _history_store(self) -> HistoryQuery:
        if self.info.sqlite_path is None:
            raise _unavailable("there is no history: enable [sqlite]")
        if self._store is None:
            try:
                self._store = await asyncio.to_thread(HistoryQuery, self.info.sqlite_path)
            except HistoryError as exc:
                raise _unavailable(str(exc)) from None
        return self._store

    def close(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
        if self._store is not None:
            self._store.close()


def when_param(query: Any, name: str, default: datetime, now: datetime,
               tz: tzinfo) -> datetime:
    """A time parameter (``from``, ``to``) of a query, ``default`` without one; a 400 that
    shows the forms it takes otherwise."""
    text = query.get(name)
    if text is None:
        return default
    if not WHEN.fullmatch(text):
        raise BadRequest(f"{name}={text!r} is not a time: use e.g. 2026-11-20, "
                         "2026-11-20T08:00, -2h, -7d, today or yesterday")
    try:
        return parse_when(text, tz, now)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name}: {exc}") from None


def _joined(items: list[dict[str, Any]]) -> bytes:
    """Items of a JSON list, without its brackets (as json.dumps writes them)."""
    return ", ".join(json.dumps(item) for item in items).encode()


def _encoded(call: Callable[..., list[dict[str, Any]]], *args: Any,
             **kwargs: Any) -> tuple[bytes, int]:
    """A history query's rows, encoded where it ran (a worker thread): the bytes of a piece
    of the answer and how many rows it holds."""
    rows = call(*args, **kwargs)
    return _joined(rows), len(rows)


def _unavailable(reason: str) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(text=json.dumps({"error": reason}),
                                      content_type="application/json")


def _event(name: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _tidy(number: float) -> float | int:
    return int(number) if number == int(number) else number


def _clamp(moment: datetime) -> datetime:
    """Keep ranges where time arithmetic cannot overflow."""
    return min(max(moment, _EARLIEST), _LATEST)
