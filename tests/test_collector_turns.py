"""Issue 25: a collector with a backlog takes turns with its own COPY.

A collector that comes back to thousands of queued readings parses them as they arrive, in
the same event loop that sends the batch before to PostgreSQL. Two rules keep PostgreSQL
busy (bench_fleet.py: one collector went from 80 % to 98 % of PostgreSQL alone):

- a wake-up parses at most ``_TAKEN_PER_WAKEUP`` readings, then other tasks get their turn
  (a buffer of 256 kB holds some 500, and one wake-up once parsed 7,000);
- while a batch's rows are being sent, no reading is parsed.

Both are counted here on a real broker and a real PostgreSQL, not timed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from servers import Mosquitto, Postgres
from smartmeter_readout.fleet import collector as collector_module
from smartmeter_readout.fleet.collector import Collector, CollectorSettings
from test_collector_workers import _publish

BATCH = 1000


def test_a_backlog_is_parsed_in_turns_and_waits_while_a_batch_is_sent(
        fleet: tuple[Mosquitto, Postgres, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    broker, database, _config = fleet
    # however slowly this machine sends a batch, reading waits for it
    monkeypatch.setattr(collector_module, "_SENDING", 600.0)
    settings = CollectorSettings(port=broker.port, dsn=database.dsn, client_id="turns",
                                 session_expiry=600, batch_size=BATCH, batch_seconds=0.2)

    async def subscribe_once() -> None:
        collector = Collector(settings)
        running = asyncio.create_task(collector.run())
        while not collector.stats.subscribed:
            await asyncio.sleep(0.05)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await collector.store.close()

    asyncio.run(subscribe_once())  # the session the broker keeps the backlog for
    published = _publish(broker.port, 0, meters=500, ticks=12)  # and poison: 60 of them
    expected = published + 60

    parsed = 0
    turns: list[int] = []  # readings parsed by each turn of another task
    while_sending: list[int] = []  # readings parsed while a batch's rows were sent

    async def collect() -> int:
        nonlocal parsed
        collector = Collector(settings)
        read = collector._read

        def counted(topic: bytes, payload: bytes) -> Any:
            nonlocal parsed
            parsed += 1
            return read(topic, payload)

        collector._read = counted  # type: ignore[method-assign]
        write = collector.store.write

        async def watched(rows: Any, sent: asyncio.Event | None = None,
                          prepared: Any = None) -> int:
            before = parsed

            class Noted:
                def set(self) -> None:
                    while_sending.append(parsed - before)
                    assert sent is not None
                    sent.set()

            return await write(rows, cast(asyncio.Event, Noted()) if sent else None, prepared)

        collector.store.write = watched  # type: ignore[method-assign]
        running = asyncio.create_task(collector.run())
        seen = 0
        while collector.stats.committed < expected:
            await asyncio.sleep(0)  # one turn of the loop
            turns.append(parsed - seen)
            seen = parsed
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await collector.store.close()
        return collector.stats.committed

    assert asyncio.run(collect()) == expected
    assert parsed == expected
    # a turn may see two wake-ups: the socket's, and the one a full buffer asks for; and a
    # packet cut at the buffer's edge, which paho reads, comes on top of a wake-up's budget
    assert max(turns) <= 2 * collector_module._TAKEN_PER_WAKEUP + 10, max(turns)
    assert sum(1 for count in turns if count) >= expected // (2 * collector_module
                                                             ._TAKEN_PER_WAKEUP)
    assert len(while_sending) >= expected // BATCH
    assert while_sending == [0] * len(while_sending)
