"""A small HTTP/1.1 server on asyncio streams: GET /metrics (Prometheus text format).

Binds to ``[web] host`` (127.0.0.1 unless configured otherwise). Requests are read with a
size cap and a timeout; anything but GET /metrics is answered 404/405.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..metrics import ServiceCollector
from ..service import Service

__all__ = ["WebServer"]

_HEAD_LIMIT = 8192
_TIMEOUT = 10.0


class WebServer:
    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 8080,
                 log: logging.Logger | None = None) -> None:
        self.host, self.port = host, port
        self.log = log or logging.getLogger("smartmeter_readout")
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(service))
        self._server: asyncio.Server | None = None

    async def start(self) -> bool:
        """Listen; a port in use is logged, not fatal: reading the meter comes first."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            self.log.error("web: cannot listen on %s:%s (%s): set [web] port to a free one",
                           self.host, self.port, exc.strerror)
            return False
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("web: /metrics on http://%s:%s/metrics", self.host, self.port)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                raise ValueError("request head too long")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if target.split("?", 1)[0] != "/metrics":
                await self._reply(writer, 404, "text/plain", b"not found\n")
            elif method not in ("GET", "HEAD"):
                await self._reply(writer, 405, "text/plain", b"method not allowed\n")
            else:
                body = generate_latest(self.registry)
                await self._reply(writer, 200, CONTENT_TYPE_LATEST,
                                  b"" if method == "HEAD" else body)
        except (ValueError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, kind: str,
                     body: bytes) -> None:
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
