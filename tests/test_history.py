"""The history is written by one object and read by another that never changes the file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartmeter_readout.history.query import HistoryError, HistoryQuery
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.sim.simulator import Simulator

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def _readings(count: int) -> list:
    from smartmeter_readout import Decoder

    pushes = Simulator("vkw", key=KEY).pushes(datetime(2024, 5, 1, tzinfo=UTC), count)
    decoder = Decoder(KEY)
    return [reading for push in pushes for reading in decoder.feed(push.wire)]


def test_the_reader_sees_what_the_writer_stored(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    store.write(_readings(5))
    query = HistoryQuery(tmp_path / "h.sqlite")
    assert len(query.readings()) == 5
    assert query.series() == store.series()
    assert query.intervals("15m") == store.intervals("15m")
    store.close()
    query.close()


def test_the_reader_never_creates_nor_changes_a_database(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history at"):
        HistoryQuery(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()
    HistoryStore(tmp_path / "h.sqlite").close()
    query = HistoryQuery(tmp_path / "h.sqlite")
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        query._db.execute("DELETE FROM readings")  # the connection itself refuses
    query.close()


def test_a_file_that_is_no_database_is_a_history_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(HistoryError, match="cannot read the history"):
        HistoryQuery(path)
