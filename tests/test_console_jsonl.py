"""``read --format jsonl`` writes its lines from cached parts: byte for byte what
``json.dumps(reading.to_dict(), ensure_ascii=False)`` writes (issue 25)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.reading import Measurement, MeterIdentity, Reading
from smartmeter_readout.sim.simulator import PROFILES, Simulator
from smartmeter_readout.sinks.console import JsonLines

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AUTH = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "vectors.json"


def _expected(reading: Reading) -> str:
    return json.dumps(reading.to_dict(), ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_prints_as_json_dumps_would(name: str) -> None:
    simulator = Simulator(name, key=KEY, auth_key=AUTH, seed=3)
    decoder = Decoder(KEY, AUTH if simulator.profile.authenticated else None)
    lines = JsonLines()
    start = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    for index, push in enumerate(simulator.pushes(start, 12, interval=600)):
        received = start + timedelta(seconds=index, microseconds=123456 * (index % 2))
        for reading in decoder.feed(push.wire, received=received):
            assert lines.line(reading) == _expected(reading)


def test_every_capture_prints_as_json_dumps_would() -> None:
    lines = JsonLines()
    for vector in json.loads(VECTORS.read_text()):
        key = vector.get("key")
        for reading in Decoder(key, vector.get("auth_key")).feed(
                bytes.fromhex(vector["hex"]), final=True):
            assert lines.line(reading) == _expected(reading), vector["id"]


def test_odd_values_names_and_meters() -> None:
    lines = JsonLines()
    meters = [MeterIdentity(), MeterIdentity("4B464D", "KFM", "1\"2", "ä\\b", None, "Top 3"),
              MeterIdentity("4B464D", "KFM", "1\"2", "ä\\b", None, "Top 4")]
    values = [1, -5, 2**70, 0.1, 232.9, 1e-7, 1e22, float("nan"), float("inf"),
              float("-inf"), "", "täglich \"x\"\n\u2028", None, True, False, 3.0]
    for meter in meters * 2:
        for value in values:
            reading = Reading(time=None, received=None, meter=meter, frame_counter=None,
                              values={"1.0.1.8.0.255": Measurement("a\"ä", value, "Wh"),
                                      "x": Measurement("", value, None)})
            assert lines.line(reading) == _expected(reading), (meter, value)
    moment = datetime(2024, 3, 31, 1, 59, 59, 999999, tzinfo=UTC)
    reading = Reading(time=moment, received=moment, meter=meters[0], frame_counter=2**32 - 1,
                      values={})
    assert lines.line(reading) == _expected(reading)
