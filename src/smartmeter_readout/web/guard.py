"""Bounds on the connections the web server holds, so slow or greedy clients cannot take it.

aiohttp closes a connection whose request has not arrived within its keep-alive timeout (the
server sets it short: a header deadline), but it accepts as many connections as the kernel
hands it. Here every connection is counted per client address and in total; when a limit is
reached the oldest *idle* connection (no request being answered: half a header, or keep-alive)
makes room, so a flood of half-open connections cannot lock out the page. Only when every
connection is busy (live feeds, say) is a newcomer turned away with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..i18n import _

__all__ = ["ConnectionGuard", "GuardCollector"]

_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
            b"Content-Type: text/plain\r\nRetry-After: 5\r\nContent-Length: 39\r\n\r\n"
            b"too many connections: try again shortly")


class _Connection(asyncio.Protocol):
    """Passes everything to aiohttp's own protocol; tells the guard it came and went."""

    def __init__(self, guard: ConnectionGuard, factory: Callable[[], asyncio.Protocol]
                 ) -> None:
        self.guard, self.factory = guard, factory
        self.inner: asyncio.Protocol = asyncio.Protocol()  # aiohttp's, once admitted
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.busy = 0
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        if not self.guard.admit(self):
            transport.write(_REFUSAL)
            transport.close()
            return
        self.admitted = True
        self.inner = self.factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ConnectionGuard:
    """Hands out the connections the server listens with (each wrapping one of aiohttp's)
    and is the middleware that marks a connection busy while a request of it is answered."""

    def __init__(self, *, total: int = 512, per_client: int = 256,
                 log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.per_client = total, per_client
        self.log = log or logging.getLogger("smartmeter_readout.web")
        self.clock = clock
        self.open: dict[_Connection, None] = {}  # oldest first
        self.by_transport: dict[asyncio.BaseTransport, _Connection] = {}
        self.per_address: Counter[str] = Counter()
        self.closed_idle = 0
        self.refused = 0
        self._warned = -3600.0

    def connection(self, factory: Callable[[], asyncio.Protocol]) -> asyncio.Protocol:
        """For ``create_server``: ``factory`` makes aiohttp's protocol once admitted."""
        return _Connection(self, factory)

    def admit(self, connection: _Connection) -> bool:
        client = connection.client
        while (len(self.open) >= self.total
               or self.per_address[client] >= self.per_client):
            mine = self.per_address[client] >= self.per_client
            victim = next((c for c in self.open if not c.busy
                           and (not mine or c.client == client)), None)
            if victim is None:
                self.refused += 1
                self._warn(client)
                return False
            self._warn(client)
            self.forget(victim)
            victim.close()
            self.closed_idle += 1
        self.open[connection] = None
        assert connection.transport is not None
        self.by_transport[connection.transport] = connection
        self.per_address[client] += 1
        return True

    def forget(self, connection: _Connection) -> None:
        if connection in self.open:
            del self.open[connection]
            self.per_address[connection.client] -= 1
            if self.per_address[connection.client] <= 0:
                del self.per_address[connection.client]
            if connection.transport is not None:
                self.by_transport.pop(connection.transport, None)

    def _warn(self, client: str) -> None:
        now = self.clock()
        if now - self._warned >= 60:
            self._warned = now
            self.log.warning(_("web: connection limit reached (%s open, %s from %s): idle "
                               "ones are closed first, then newcomers refused; [web] "
                               "max_connections and max_connections_per_client set the "
                               "limits"),
                             len(self.open), self.per_address[client], client)

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        connection = self.by_transport.get(request.transport)  # type: ignore[arg-type]
        if connection is None:
            return await handler(request)
        connection.busy += 1
        try:
            return await handler(request)
        finally:
            connection.busy -= 1


    @contextlib.contextmanager
    def idle(self, request: web.Request) -> Iterator[None]:
        """The request's connection counts as idle meanwhile (a login form still arriving):
        like half a header, it is closed first when a newcomer needs its place."""
        connection = self.by_transport.get(request.transport)  # type: ignore[arg-type]
        if connection is None:
            yield
            return
        connection.busy -= 1
        try:
            yield
        finally:
            connection.busy += 1


class GuardCollector(Collector):
    """``smartmeter_web_connections``, ``smartmeter_web_connections_closed_idle_total`` and
    ``smartmeter_web_connections_refused_total`` for ``/metrics``."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("smartmeter_web_connections", "Open connections to the web "
                                "server", value=len(self.guard.open))
        yield CounterMetricFamily("smartmeter_web_connections_closed_idle",
                                  "Idle connections closed to make room at a limit",
                                  value=self.guard.closed_idle)
        yield CounterMetricFamily("smartmeter_web_connections_refused", "Connections turned "
                                  "away at a limit with every one busy",
                                  value=self.guard.refused)
