"""Slow and greedy clients: a header deadline, connection limits per address and in total,
and the page answering all the while. Counts come from the kernel's table of sockets. Login
forms before any token: a few per address at once, idle while they arrive, the header
deadline, 4 KiB at most, and memory flat under a flood of them (issue 27)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from smartmeter_readout.web.guard import GuardCollector
from smartmeter_readout.web.server import WebServer
from smartmeter_readout.web.throttle import ThrottleCollector
from webkit import served

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



# issue 27, items 4 and 5: login forms before any token

TOKEN = "a-token-of-twenty-chars"


def held_form(length: int = 100) -> bytes:
    """A login form's headers whose body never comes."""
    return (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            f"application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n").encode()


async def connect(port: int, source: str = "127.0.0.1"
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def status_of(reader: asyncio.StreamReader) -> bytes:
    """The status line of an answer ("" when the server closed without one)."""
    try:
        return (await reader.readline()).split(b" ", 2)[1] if not reader.at_eof() else b""
    except (ConnectionError, IndexError):
        return b""


def test_held_login_forms_cannot_lock_out_their_address_or_others() -> None:
    # a deadline long enough not to help: the limits must
    async def scenario() -> None:
        async with serving(lambda s: None, header_timeout=60, max_connections=64,
                           per_client=32) as server:
            server.auth.token = TOKEN
            held = []
            for source in ("127.0.0.2", "127.0.0.3"):  # two addresses, 150 forms each
                for _ in range(150):
                    reader, writer = await connect(server.port, source)
                    writer.write(held_form())
                    held.append((reader, writer))
            throttle = server.auth.throttle
            # every form is refused at once or closed for a newcomer, but a few per address
            answers = [asyncio.create_task(status_of(reader)) for reader, _ in held]
            await until(lambda: sum(task.done() for task in answers)
                        >= len(held) - 2 * throttle.forms_per_address)
            assert sum(throttle.forms.values()) <= 2 * throttle.forms_per_address
            assert {task.result() for task in answers if task.done()} <= {b"429", b""}
            assert throttle.forms_refused > 0
            # the holders themselves and a third address: every probe answered
            for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
                for _ in range(20):
                    reader, writer = await connect(server.port, source)
                    writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    assert await status_of(reader) == b"200"
                    writer.close()
            counted = {m.name: m.samples[0].value for m in ThrottleCollector(throttle).collect()}
            assert counted["smartmeter_web_login_forms_refused"] == throttle.forms_refused
            for task in answers:
                task.cancel()
            for _, writer in held:
                writer.close()

    asyncio.run(scenario())


def test_a_held_form_is_idle_and_has_the_header_deadline() -> None:
    async def scenario() -> None:
        async with serving(header_timeout=1, max_connections=64, per_client=4) as server:
            server.auth.token = TOKEN
            held = []
            for _ in range(4):
                reader, writer = await connect(server.port)
                writer.write(held_form())
                held.append((reader, writer))
            await until(lambda: sum(server.auth.throttle.forms.values()) == 4)
            # a newcomer of the same address closes a waiting form instead of a 503
            assert (await get(server.port, "/login")).startswith(b"HTTP/1.1 200")
            # the others get the header deadline's 408, and the server closes them
            answers = await asyncio.gather(*(reader.read() for reader, _ in held))
            assert sum(a.startswith(b"HTTP/1.1 408") for a in answers) >= 2
            assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers)
            await until(lambda: established(server.port) == 0)
            for _, writer in held:
                writer.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("chunked", [False, True])
def test_a_long_login_form_is_refused_before_it_is_read(chunked: bool) -> None:
    async def scenario() -> None:
        async with serving(max_connections=64, per_client=32) as server:
            server.auth.token = TOKEN
            reader, writer = await connect(server.port)
            if chunked:  # no length given: aiohttp stops reading at client_max_size
                writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                             b"x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + b"1000\r\n" + b"t" * 0x1000 + b"\r\n" + b"10\r\n" + b"t" * 16
                             + b"\r\n")
            else:
                writer.write(held_form(1 << 20) + b"token=" + b"t" * 1000)
            assert await status_of(reader) == b"413"
            writer.close()

    asyncio.run(scenario())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_held_megabyte_forms_leave_the_memory_flat(tmp_path: Path) -> None:
    """Three rounds of 250 login forms of 1 MB held open against a running service: its
    memory stays where it was (it grew by 300 MB a round when the forms were read)."""
    env = {"SMARTMETER_SOURCE_SIMULATE": "vkw", "SMARTMETER_SOURCE_INTERVAL": "1",
           "SMARTMETER_WEB_TOKEN": TOKEN, "SMARTMETER_SQLITE_PATH": str(tmp_path / "h.sqlite"),
           "SMARTMETER_METER_KEY": "000102030405060708090A0B0C0D0E0F"}
    body = b"token=" + b"t" * ((1 << 20) - 7)  # one byte short: the form never completes

    async def round_of(port: int) -> list[bytes]:
        held = []
        for _ in range(250):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(held_form(1 << 20) + body)
            held.append((reader, writer))
        answers = await asyncio.gather(*(status_of(reader) for reader, _ in held))
        for _, writer in held:
            writer.close()
        return answers

    with served("run", env=env) as service:
        port = int(service.url.rsplit(":", 1)[1])
        service.wait_readings(1, TOKEN)
        before = rss_mb(service.process.pid)
        sizes, answers = [], []
        for _ in range(3):
            answers += asyncio.run(round_of(port))
            sizes.append(rss_mb(service.process.pid))
        assert service.get("/api/v1/status", TOKEN)[0] == 200
    assert max(sizes) - before < 40, (before, sizes)
    # an answer was read, or the server closed at once (the rest of the form unread)
    assert set(answers) <= {b"413", b"429", b""} and b"413" in answers
