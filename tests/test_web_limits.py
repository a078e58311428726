"""Slow and greedy clients: a header deadline, connection limits per address and in total,
and the page answering all the while. Counts come from the kernel's table of sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from smartmeter_readout.web.guard import GuardCollector
from smartmeter_readout.web.server import WebServer

HALF_A_HEADER = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


class _Nothing:
    """The service, as far as the server needs one for its page."""

    def status(self) -> None:
        raise AssertionError("not asked")


def established(port: int) -> int:
    """Server-side connections of ``port`` the kernel holds open right now."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
                    count += 1
    return count


@asynccontextmanager
async def serving(setup: Callable[[WebServer], None] | None = None,
                  **limits: float) -> AsyncIterator[WebServer]:
    server = WebServer(_Nothing(), "127.0.0.1", 0, **limits)  # type: ignore[arg-type]
    if setup is not None:
        setup(server)
    assert await server.start()
    try:
        yield server
    finally:
        await server.close()


async def get(port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                 .encode())
    answer = await reader.read()
    writer.close()
    return answer


async def until(condition: Callable[[], bool], within: float = 60) -> None:
    """Wait for a state, however loaded the machine (a safety net, not a timing)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)


def test_half_headers_cannot_hold_the_server() -> None:
    async def scenario() -> None:
        async with serving(header_timeout=2, max_connections=64, per_client=32) as server:
            slow = []
            most = 0
            for _ in range(300):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(HALF_A_HEADER)
                slow.append((reader, writer))
                if len(slow) % 25 == 0:
                    await asyncio.sleep(0.05)  # the server accepts what the kernel queued
                    most = max(most, established(server.port))
            # the page still answers in the middle of it
            assert (await get(server.port)).startswith(b"HTTP/1.1 200")
            assert most <= 32
            # every half header is closed by the server by its deadline
            await asyncio.gather(*(reader.read() for reader, _ in slow))
            await until(lambda: established(server.port) == 0)
            for _, writer in slow:
                writer.close()

    asyncio.run(scenario())


def test_busy_connections_stay_and_a_newcomer_is_told_to_come_back() -> None:
    release = asyncio.Event()

    async def wait(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    def route(server: WebServer) -> None:
        server.app.router.add_get("/wait", wait)

    async def scenario() -> None:
        async with serving(route, max_connections=100, per_client=4) as server:
            busy = [asyncio.create_task(get(server.port, "/wait")) for _ in range(4)]
            await until(lambda: sum(c.busy for c in server.guard.open) == 4)
            refused = await get(server.port)
            assert refused.startswith(b"HTTP/1.1 503")
            assert b"too many connections" in refused
            release.set()
            assert all(answer.startswith(b"HTTP/1.1 200") for answer in await asyncio.gather(
                *busy))
            assert (await get(server.port)).startswith(b"HTTP/1.1 200")
            assert server.guard.refused == 1
            counted = {m.name: m.samples[0].value for m in GuardCollector(server.guard).collect()}
            assert counted["smartmeter_web_connections_refused"] == 1

    asyncio.run(scenario())


def test_idle_keep_alive_connections_make_room_oldest_first() -> None:
    async def keep_alive(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return reader, writer

    async def scenario() -> None:
        async with serving(max_connections=3, per_client=100) as server:
            idle = [await keep_alive(server.port) for _ in range(3)]
            assert (await get(server.port)).startswith(b"HTTP/1.1 200")
            assert await idle[0][0].read() == b""  # the oldest was closed for it
            await until(lambda: established(server.port) == 2)
            for _, writer in idle:
                writer.close()

    asyncio.run(scenario())

