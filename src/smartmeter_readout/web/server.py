"""The web side of the service: the page, the REST API, the live feed and /metrics.

Served with aiohttp (the ``web`` extra) on ``[web] host:port``, 127.0.0.1:8080 unless
configured otherwise; off loopback every request needs ``[web] token`` (see ``auth``). A port
in use is logged and reading goes on: the meter comes first. Everything the page needs is in
the package (no CDN), so it works on a Raspberry Pi without internet.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..service.metrics import ServiceCollector
from ..service.service import Service
from .api import Api, SiteInfo
from .auth import Auth, Handler

__all__ = ["SiteInfo", "WebServer"]

_STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class WebServer:
    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 8080,
                 log: logging.Logger | None = None, *, token: str = "",
                 info: SiteInfo | None = None) -> None:
        self.host, self.port = host, port
        self.log = log or logging.getLogger("smartmeter_readout")
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(service))
        self.api = Api(service, info or SiteInfo())
        self.auth = Auth(token)
        self.app = web.Application(middlewares=[_headers, self.auth.middleware])
        self.app.add_routes([
            web.get("/", self.page), web.get("/metrics", self.metrics),
            web.get("/login", self.auth.login_page), web.post("/login", self.auth.login),
            web.post("/logout", self.auth.logout),
            web.static("/static", _STATIC), *self.api.routes()])
        self._runner: web.AppRunner | None = None

    async def start(self) -> bool:
        """Listen; a port in use is logged, not fatal: reading the meter comes first."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            self.log.error("web: cannot listen on %s:%s (%s): set [web] port to a free one",
                           self.host, self.port, exc.strerror)
            await self._runner.cleanup()
            self._runner = None
            return False
        self.port = self._runner.addresses[0][1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.log.info("web: page on http://%s:%s/ (API /api/v1/, /metrics)", shown, self.port)
        return True

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=(_STATIC / "index.html").read_bytes(),
                            content_type="text/html", headers={"Cache-Control": "no-cache"})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close(self) -> None:
        self.api.close()
        if self._runner is not None:
            await self._runner.cleanup()


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_SECURITY_HEADERS)
        raise
    response.headers.update(_SECURITY_HEADERS)
    return response
