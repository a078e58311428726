"""Shared test data: the real captures of ../shared/vectors and a feed-every-way helper;
a private Mosquitto (``broker``) and PostgreSQL (``postgres``) for a test."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

# the tests read English messages, whatever language the machine speaks (set before the
# program is imported: it picks its language then, as gettext does)
os.environ["LANGUAGE"] = "en"

from servers import Mosquitto, Postgres
from smartmeter_readout import Decoder, Reading

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["hakit"]  # the Home Assistant venv, for the tests that need it
#: run inside the Home Assistant venv by tests/test_ha_integration.py, not collected here
collect_ignore = ["ha"]
VECTORS_FILE = ROOT.parent / "shared" / "vectors" / "vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())
BY_ID = {vector["id"]: vector for vector in VECTORS}


def vector_ids(predicate: Any = None) -> list[str]:
    return [v["id"] for v in VECTORS if predicate is None or predicate(v)]


def wire(vector_id: str) -> bytes:
    return bytes.fromhex(BY_ID[vector_id]["hex"])


def feed_ways(data: bytes) -> dict[str, list[bytes]]:
    """The same stream whole, byte by byte, in odd chunks, and between noise."""
    return {
        "whole": [data],
        "byte_by_byte": [data[i : i + 1] for i in range(len(data))],
        "chunks_of_7": [data[i : i + 7] for i in range(0, len(data), 7)],
        "noise_around": [b"\x00\x11\x68\x7e\xff" + data + b"\x16\x55\xaa"],
    }


def feed_all(decoder: Decoder, chunks: list[bytes]) -> list[Reading]:
    readings: list[Reading] = []
    for chunk in chunks:
        readings.extend(decoder.feed(chunk))
    return readings


def same_moment(actual: datetime | str | None, expected: str) -> bool:
    """Aware expectations must match exactly; naive ones are the meter's wall clock."""
    if actual is None:
        return False
    if isinstance(actual, str):
        actual = datetime.fromisoformat(actual)
    wanted = datetime.fromisoformat(expected)
    if wanted.tzinfo is None:
        return actual.replace(tzinfo=None) == wanted
    return actual == wanted


@pytest.fixture(params=vector_ids(lambda v: v["verified"]))
def verified_vector(request: pytest.FixtureRequest) -> dict[str, Any]:
    return BY_ID[request.param]


@pytest.fixture(autouse=True)
def _logger_as_it_was() -> Iterator[None]:
    """A command run in this process points the program's logger at that test's captured
    stderr and stops propagation; later tests would log into a closed stream and past caplog."""
    log = logging.getLogger("smartmeter_readout")
    saved = log.handlers[:], log.level, log.propagate
    yield
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free loopback port, for one test."""
    server = Mosquitto(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster on a free loopback port, for one test."""
    if os.geteuid() != 0:
        pytest.fail("run the test suite as root (as CI does): PostgreSQL runs as postgres")
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        server.remove()


# a broker that queues without limit: the fleet path's collectors may be away a while
BROKER = "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Mosquitto, Postgres, Path]]:
    """A broker and a PostgreSQL cluster for collectors, and a collect config for both."""
    broker = Mosquitto(tmp_path, extra=BROKER)
    database = Postgres()
    broker.start()
    database.start()
    config = tmp_path / "collect.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'[postgres]\ndsn = "{database.dsn}"\n'
                      '[collect]\nbatch_seconds = 0.2\nsession_expiry = 600\n')
    config.chmod(0o600)
    try:
        yield broker, database, config
    finally:
        broker.stop()
        database.stop()
        database.remove()
