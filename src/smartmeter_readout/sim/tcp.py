"""A virtual serial bridge: the meter's line served over TCP, as ser2net or an ESP bridge does.

Every client that is connected gets what the meter sends from then on, byte for byte; with
none connected the bytes are lost, as on the bridge's own serial line. What a client sends
goes to the meter (an AMIS reader's acknowledgements). The bridge is set to the meter's serial
settings, so a TCP reader has none to choose and never gets noise. A client that takes nothing
for ``_BACKLOG`` bytes loses what follows, as a bridge's buffer would; one that reads never does.
"""

from __future__ import annotations

import asyncio
import socket

from .line import Line

__all__ = ["VirtualBridge"]

_BACKLOG = 1 << 16  # bytes queued for one client before its bytes are dropped


class _Client(asyncio.Protocol):
    def __init__(self, bridge: VirtualBridge) -> None:
        self.bridge = bridge
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.bridge.clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.bridge.heard += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.bridge.clients.discard(self)


class VirtualBridge(Line):
    """Listens on ``host:port`` (0: a free port) from the start; serves once ``start``ed (the
    first frame does it): a reader may connect before the meter's first push."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 baud: int | None = None) -> None:
        super().__init__(baud)
        self._socket = socket.create_server((host, port))  # SO_REUSEADDR: an unplugged
        # bridge comes back on its port at once
        self._socket.setblocking(False)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        self.path = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.clients: set[_Client] = set()
        self.heard = bytearray()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self._server is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: _Client(self), sock=self._socket)

    def write(self, data: bytes, *, baud: int | None = None) -> None:
        for client in list(self.clients):
            transport = client.transport
            if transport is None or transport.is_closing():
                continue
            if transport.get_write_buffer_size() > _BACKLOG:
                self.dropped += len(data)
                continue
            transport.write(data)

    def received(self) -> bytes:
        data = bytes(self.heard)
        self.heard.clear()
        return data

    def close(self) -> None:
        """Stop listening and drop every client at once, unsent bytes and all (unplugged)."""
        if self.closed:
            return
        self.closed = True
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        self.clients.clear()
        if self._server is not None:
            self._server.close()
        else:
            self._socket.close()
