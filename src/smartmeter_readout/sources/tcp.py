"""A serial line behind a TCP bridge (ser2net, ESP-Link, Tasmota serial bridges)."""

from __future__ import annotations

import asyncio
import socket

from ..i18n import _, os_error_text
from ..operators import SerialSettings
from ._inbox import Inbox
from ._rest import LineRate, Rest, rest_for
from .base import Chunk, SourceLost, SourceUnavailable

__all__ = ["TcpConnection", "TcpConnector", "parse_host_port"]

_CONNECT_TIMEOUT = 10.0


def parse_host_port(text: str, *, listen: bool = False) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; ValueError with the expected form otherwise. To
    ``listen`` on, port 0 takes a free one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    lowest = 0 if listen else 1
    if not sep or not host or not port.isdigit() or not lowest <= int(port) < 65536:
        raise ValueError(_("{text!r} is not HOST:PORT (e.g. 192.168.1.50:8888)", text=text))
    return host, int(port)


class TcpConnector:
    settings: tuple[SerialSettings, ...] = ()  # the bridge owns the serial settings
    readout: SerialSettings | None = None

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.name = f"tcp {host}:{port}"

    async def open(self, settings: SerialSettings | None = None) -> TcpConnection:
        inbox = Inbox(self.name)
        loop = asyncio.get_running_loop()
        try:
            transport, _protocol = await asyncio.wait_for(
                loop.create_connection(lambda: inbox, self.host, self.port),
                _CONNECT_TIMEOUT)
        except TimeoutError:
            raise SourceUnavailable(_("{source}: no answer within {seconds:g} s (bridge off or "
                                      "address wrong?)", source=self.name,
                                      seconds=_CONNECT_TIMEOUT)) from None
        except socket.gaierror:
            raise SourceUnavailable(_("{source}: unknown host name", source=self.name)) from None
        except OSError as exc:
            reason = os_error_text(exc)  # asyncio's own text: "Connect call failed (...)"
            raise SourceUnavailable(_("{source}: {reason} (is the serial bridge running and "
                                      "listening on that port?)", source=self.name,
                                      reason=reason)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return TcpConnection(inbox, transport)


class TcpConnection:
    def __init__(self, inbox: Inbox, transport: asyncio.BaseTransport) -> None:
        self._inbox = inbox
        self._transport = transport
        self._rate = LineRate()  # the bridge's serial speed, as the bytes show it
        assert isinstance(transport, asyncio.ReadTransport)
        self._reading = transport
        self._rest = Rest(transport.pause_reading, self._resume)

    async def read(self, timeout: float) -> Chunk:
        try:
            chunk = await self._inbox.read(timeout)
        except SourceLost:
            raise SourceLost(_("{source}: the bridge closed the connection",
                               source=self._inbox.name)) from None
        if chunk.data:
            self._rate.arrived(len(chunk.data), asyncio.get_running_loop().time())
        return chunk

    def expect(self, size: int) -> None:
        """The frame under way lacks ``size`` bytes: stop reading the socket until the
        bridge's line can have carried them, at the pace its bytes came so far (``_rest``).
        A bridge that sends whole frames shows no pace and is read as before."""
        byte_time = self._rate.byte_time
        if byte_time is not None and not self._reading.is_closing():
            self._rest.take(rest_for(size, byte_time))

    def _resume(self) -> None:
        self._rate.rested(asyncio.get_running_loop().time())
        if not self._reading.is_closing():
            self._reading.resume_reading()

    def write(self, data: bytes) -> None:
        self._rate.wrote()
        self._transport.write(data)  # type: ignore[attr-defined]

    async def close(self) -> None:
        self._rest.cancel()
        self._transport.close()
        await self._inbox.wait_closed()
