"""Slow clients against the web server with its default limits: 3,000 connections that send
half a header (from one address, as a flood from one machine would), while the page is asked
for again and again.

Prints the most server-side connections the kernel held at once, how the page answered during
the flood (p50/p95 of 50 requests), and how long until the server had closed every half
header. Run: .venv/bin/python benchmarks/bench_slow_clients.py [connections]
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


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients' sockets too
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
