"""The web side of the service: the page, the REST API, the live feed and /metrics.

Served with aiohttp (the ``web`` extra) on ``[web] host:port``, 127.0.0.1:8080 unless
configured otherwise; off loopback every request needs ``[web] token`` (see ``auth``). A port
in use is logged and reading goes on: the meter comes first. Everything the page needs is in
the package (no CDN), so it works on a Raspberry Pi without internet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..i18n import _, os_error_text
from ..service.metrics import ServiceCollector, SummaryCollector
from ..service.service import Service
from .api import Api, SiteInfo
from .auth import FORM_BYTES, Auth, Handler
from .guard import ConnectionGuard, GuardCollector
from .throttle import Throttle, ThrottleCollector

if TYPE_CHECKING:  # the fleet's API needs psycopg (the postgres extra); only collect has it
    from .fleet import FleetApi

__all__ = ["SiteInfo", "WebServer"]

_STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class OneLineRateLimited(logging.Filter):
    """aiohttp logs a malformed request with its whole traceback: one line instead, and at
    most one a minute (a scanner on the network would otherwise fill the journal)."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self._last = -every
        self._quiet = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        if now - self._last < self.every:
            self._quiet += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        reason = (f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                  if error else record.getMessage())
        more = f" ({self._quiet} more since the last one)" if self._quiet else ""
        record.msg, record.args = f"web: {record.getMessage()}: {reason}{more}", None
        record.exc_info = record.exc_text = None
        self._last, self._quiet = now, 0
        return True


class WebServer:
    """The page and API of a running service (``service``), or the fleet's page and API
    over PostgreSQL (``fleet``, for ``collect``). ``header_timeout``: seconds a connection
    may take to send a request (and may idle between requests); ``max_connections`` and
    ``per_client``: see ``guard``."""

    def __init__(self, service: Service | None, host: str = "127.0.0.1", port: int = 8080,
                 log: logging.Logger | None = None, *, token: str = "",
                 info: SiteInfo | None = None, header_timeout: float = 10.0,
                 max_connections: int = 512, per_client: int = 256,
                 fleet: FleetApi | None = None) -> None:
        self.host, self.port = host, port
        self.log = log or logging.getLogger("smartmeter_readout")
        self.header_timeout = header_timeout
        self.registry = CollectorRegistry()
        self.api = Api(service, info or SiteInfo()) if service is not None else None
        self.fleet = fleet
        self._page = _STATIC / ("index.html" if service is not None else "fleet.html")
        if service is not None and self.api is not None:
            self.registry.register(ServiceCollector(service))
            self.registry.register(SummaryCollector(self.api.last_summary))
        self.guard = ConnectionGuard(total=max_connections, per_client=per_client,
                                     log=self.log)
        self.auth = Auth(token, form_seconds=header_timeout, throttle=Throttle(log=self.log),
                         idle=self.guard.idle)
        self.registry.register(GuardCollector(self.guard))
        self.registry.register(ThrottleCollector(self.auth.throttle))
        # the login form is the only body any route reads: aiohttp refuses a longer one
        self.app = web.Application(client_max_size=FORM_BYTES,
                                   middlewares=[self.guard.middleware, _headers,
                                                self.auth.middleware])
        self.app.add_routes([
            web.get("/", self.page), web.get("/metrics", self.metrics),
            web.get("/login", self.auth.login_page), web.post("/login", self.auth.login),
            web.post("/logout", self.auth.logout),
            web.static("/static", _STATIC),
            *(self.api.routes() if self.api is not None else []),
            *(self.fleet.routes() if self.fleet is not None else [])])
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> bool:
        """Listen; a port in use is logged, not fatal: reading the meter comes first."""
        errors = self.log.getChild("web")
        if not any(isinstance(f, OneLineRateLimited) for f in errors.filters):
            errors.addFilter(OneLineRateLimited())
        # aiohttp's keep-alive timer runs from the connection's start and is not pushed on
        # by partial data: with a short timeout it is the deadline for a request's headers;
        # a body answered before it was read (a refused login form) is read on and dropped
        # for as long at most, so the client can take the answer before the close
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, logger=errors,
                                     keepalive_timeout=self.header_timeout,
                                     lingering_time=self.header_timeout)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: self.guard.connection(server), self.host, self.port,
                reuse_address=True)
        except OSError as exc:
            self.log.error(_("web: cannot listen on %s:%s (%s): set [web] port to a free one "
                             "(the demo: --web-port 8081; or SMARTMETER_WEB_PORT)"),
                           self.host, self.port, os_error_text(exc))
            await self._runner.cleanup()
            self._runner = None
            return False
        self.port = self._listener.sockets[0].getsockname()[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.log.info(_("web: page on http://%s:%s/ (API /api/v1/, /metrics)"), shown,
                      self.port)
        return True

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._page.read_bytes(),
                            content_type="text/html", headers={"Cache-Control": "no-cache"})

    async def metrics(self, request: web.Request) -> web.Response:
        if self.api is not None:
            await self.api.fresh_summary()
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.fleet is not None:
            await self.fleet.close()
        if self._listener is not None:
            self._listener.close()  # no new connections; the runner ends the open ones
        if self._runner is not None:
            await self._runner.cleanup()
        if self._listener is not None:
            await self._listener.wait_closed()


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_SECURITY_HEADERS)
        raise
    response.headers.update(_SECURITY_HEADERS)
    return response
