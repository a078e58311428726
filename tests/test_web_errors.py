"""A malformed HTTP request is one log line, at most one a minute, not a traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from smartmeter_readout.web.server import OneLineRateLimited, WebServer


class _Nothing:
    """The service, as far as the server needs one to start."""

    def status(self) -> None:
        raise AssertionError("not asked")


def test_malformed_requests_log_one_line_each_minute(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("smartmeter_readout.test_web_errors")

    async def scenario() -> None:
        server = WebServer(_Nothing(), "127.0.0.1", 0, log)  # type: ignore[arg-type]
        assert await server.start()
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /\x00bad HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert (await reader.read(100)).startswith(b"HTTP/1.0 400")
            writer.close()
        await server.close()

    caplog.set_level(logging.INFO)
    asyncio.run(scenario())
    lines = [r for r in caplog.records if r.name.endswith(".web")]
    assert len(lines) == 1
    assert "Traceback" not in caplog.text and "\n" not in lines[0].getMessage()
    assert "InvalidURLError" in lines[0].getMessage()


def test_the_filter_counts_what_it_held_back() -> None:
    now = [0.0]
    limit = OneLineRateLimited(every=60, clock=lambda: now[0])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Error handling request", (),
                               None)
    assert limit.filter(record)
    assert not limit.filter(logging.LogRecord("x", 40, __file__, 1, "again", (), None))
    now[0] = 61
    later = logging.LogRecord("x", 40, __file__, 1, "Error handling request", (), None)
    assert limit.filter(later) and "1 more since the last one" in later.getMessage()
