"""Slow clients against the web server with its default limits: 3,000 connections that send
half a header (from one address, as a flood from one machine would), while the page is asked
for again and again.

Prints the most server-side connections the kernel held at once, how the page answered during
the flood (p50/p95 of 50 requests), and how long until the server had closed every half
header. Run: .venv/bin/python benchmarks/bench_slow_clients.py [connections]

``--logins`` (issue 27): a ``run`` service with a token, three rounds of 250 login forms of
1 MB whose last byte never comes, then 260 forms whose body never comes while the page is
probed from the same address, then wrong tokens as fast as one client asks: the service's
RSS after each round (from /proc), how the probes were answered, and how many guesses it
compared (the rest answered 429).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time

from smartmeter_readout.web.server import WebServer

HALF = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


class _Nothing:
    def status(self) -> None:
        raise AssertionError("not asked")


def established(port: int) -> int:
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    count += 1
    return count


async def page(port: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:40]
    return time.perf_counter() - started


async def main(count: int) -> None:
    server = WebServer(_Nothing(), "127.0.0.1", 0)  # type: ignore[arg-type]
    assert await server.start()
    port = server.port
    most, times, slow = 0, [], []
    started = time.perf_counter()
    for i in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF)
        slow.append((reader, writer))
        if i % 60 == 0:
            times.append(await page(port))
            most = max(most, established(port))
    flood = time.perf_counter() - started
    results = await asyncio.gather(*(reader.read() for reader, _ in slow))
    closed = time.perf_counter() - started
    for _, writer in slow:
        writer.close()
    times.sort()
    print(f"{count} half-header connections in {flood:.1f} s from one address")
    print(f"server-side connections held at most: {most} (limits: {server.guard.total} in all,"
          f" {server.guard.per_client} per address)")
    print(f"page during the flood: {len(times)} requests, p50 {statistics.median(times) * 1000:.1f}"
          f" ms, p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms, all 200")
    print(f"idle connections closed to make room: {server.guard.closed_idle}; refused: "
          f"{server.guard.refused}; every half header closed {closed:.1f} s after the start "
          f"(header_timeout {server.header_timeout:g} s); {sum(1 for r in results if not r)} "
          "got no answer")
    await server.close()


def _rss(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _status(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readline()
    except ConnectionError:
        return b"reset"
    return line.split(b" ", 2)[1] if line else b"closed"


def _form(length: int) -> bytes:
    return (f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
            f"x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n").encode()


async def logins(port: int, pid: int) -> None:
    from collections import Counter

    print(f"service RSS at the start: {_rss(pid):.0f} MB")
    body = b"token=" + b"t" * ((1 << 20) - 7)
    for round_ in range(3):
        held = []
        for _ in range(250):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_form(1 << 20) + body)
            held.append((reader, writer))
        answers = Counter(await asyncio.gather(*(_status(r) for r, _ in held)))
        print(f"round {round_ + 1}: 250 held 1 MB forms, answers {dict(answers)}; "
              f"RSS {_rss(pid):.0f} MB")
        for _, writer in held:
            writer.close()
    held = []
    for _ in range(260):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_form(100))
        held.append((reader, writer))
    probes = []
    for _ in range(284):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        probes.append(await _status(reader))
        writer.close()
    print(f"260 held forms from one address, then 284 probes from it: "
          f"{probes.count(b'200')} answered 200")
    for _, writer in held:
        writer.close()
    codes: Counter[bytes] = Counter()
    started = time.perf_counter()
    while time.perf_counter() - started < 5:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Authorization: Bearer guess-{sum(codes.values())}\r\n\r\n".encode())
        codes[await _status(reader)] += 1
        writer.close()
    print(f"wrong tokens for 5 s: {sum(codes.values())} asked, {codes[b'401']} compared "
          f"(401), {codes[b'429']} answered 429 unseen")


def run_logins() -> None:
    import os
    import socket
    import subprocess
    import tempfile

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    work = tempfile.mkdtemp(prefix="smartmeter-bench-logins-")
    env = {**os.environ, "SMARTMETER_SOURCE_SIMULATE": "vkw", "SMARTMETER_WEB_PORT": str(port),
           "SMARTMETER_WEB_TOKEN": "a-token-of-twenty-chars",
           "SMARTMETER_METER_KEY": "000102030405060708090A0B0C0D0E0F",
           "SMARTMETER_SQLITE_PATH": f"{work}/history.sqlite"}
    service = subprocess.Popen([sys.executable, "-m", "smartmeter_readout", "run"], env=env,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        asyncio.run(logins(port, service.pid))
    finally:
        service.terminate()
        service.wait(10)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients' sockets too
    if "--logins" in sys.argv:
        run_logins()
    else:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
