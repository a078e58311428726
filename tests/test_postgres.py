"""PostgreSQL for real: one row per value, idempotent batches, an outage with a restart."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psycopg

from livekit import CLI, ENV
from servers import Postgres
from smartmeter_readout.history.store import HistoryStore


def service(tmp_path: Path, dsn: str, *extra: str) -> subprocess.Popen[str]:
    # one push a second, as meters do (the key is meter, value and second)
    env = {**ENV, "SMARTMETER_POSTGRES_DSN": dsn, "SMARTMETER_SOURCE_INTERVAL": "1"}
    return subprocess.Popen([*CLI, "run", "--simulate", "wienernetze", "--sqlite",
                             str(tmp_path / "h.sqlite"), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute("SELECT time, meter, obis, name, value, unit FROM readings "
                                  "ORDER BY time, obis").fetchall()


def test_readings_arrive_as_rows(tmp_path: Path, postgres: Postgres) -> None:
    process = service(tmp_path, postgres.dsn, "--count", "3")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    stored = HistoryStore(tmp_path / "h.sqlite").readings()
    got = rows(postgres.dsn)
    assert len(got) == 3 * 8  # Wiener Netze: eight values a push
    first = {row[2]: row for row in got[:8]}
    energy = first["1.0.1.8.0.255"]
    assert energy[3] == "active_energy_import" and energy[5] == "Wh"
    assert energy[4] == stored[0]["values"]["1.0.1.8.0.255"]["value"]


def test_outage_then_every_reading_once(tmp_path: Path, postgres: Postgres) -> None:
    first = service(tmp_path, postgres.dsn)
    time.sleep(3)
    postgres.stop()
    time.sleep(3)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=20)
    assert "postgres: cannot deliver" in err
    second = service(tmp_path, postgres.dsn)
    time.sleep(1.5)
    postgres.start()
    stored = HistoryStore(tmp_path / "h.sqlite")
    deadline = time.monotonic() + 60
    while len(rows(postgres.dsn)) < 8 * len(stored.readings()) and time.monotonic() < deadline:
        time.sleep(0.3)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=20)
    times = sorted({row[0] for row in rows(postgres.dsn)})
    assert len(times) == len(stored.readings()) and len(rows(postgres.dsn)) == 8 * len(times)
