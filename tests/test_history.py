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


def _damage_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle : middle + page] = b"\xa5" * page  # a page of garbage inside the file
    path.write_bytes(bytes(data))


def _damaged_history(tmp_path: Path) -> Path:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    store.write(_readings(400))
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    _damage_the_middle(path)
    return path


def test_a_database_damaged_in_the_middle_is_set_aside_with_what_to_do(tmp_path: Path) -> None:
    path = _damaged_history(tmp_path)
    fresh = HistoryStore(path)
    assert fresh.readings() == []  # a fresh database: the meter is still read and stored
    (note,) = fresh.notes
    aside = next(tmp_path.glob("h.sqlite.damaged-*"))
    assert str(aside) in note and ".recover" in note and "backup" in note
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    fresh.close()


def test_reading_a_damaged_database_is_a_history_error_not_a_crash(tmp_path: Path) -> None:
    path = _damaged_history(tmp_path)
    try:
        query = HistoryQuery(path)
    except HistoryError:
        return  # refused at once: as good
    with pytest.raises(HistoryError, match="cannot read the history"):
        query.readings()
        query.intervals("1h")
