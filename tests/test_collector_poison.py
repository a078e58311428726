"""Issue 27, items 1 and 2: whatever a publisher sends, the fleet collector takes a reading or
drops one message with a log line and a count, and never stops; a row PostgreSQL will never
take is dropped, not retried while everything behind it waits.

The payloads go to ``parse_reading`` and the row building (hypothesis), then to a running
collector through a real Mosquitto into a real PostgreSQL, between good readings, while it
runs, while it is away and to ``collect --retire``.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livekit import CLI, ENV, until
from servers import Mosquitto, Postgres
from smartmeter_readout.fleet.rows import (
    MAX_DEPTH,
    MAX_NAME,
    MAX_UNIT,
    NotAReading,
    Row,
    _too_deep,
    copy_text,
    parse_reading,
)
from smartmeter_readout.fleet.store import COUNTERS, BadBatch, FleetStore
from smartmeter_readout.sim.fleet_load import reading_json

VALUES = 12  # numeric values per reading of the load
MOMENT = datetime(2026, 11, 30, 10, tzinfo=UTC)
ENERGY = '"1.0.1.8.0.255": {"name": "active_energy_import", "value": 1000, "unit": "Wh"}'


def _reading(time: str = "2026-11-30T10:00:00+01:00", meter: Any = None,
             values: str = ENERGY, received: str | None = None) -> bytes:
    head = f'{{"time": {json.dumps(time)}'
    if received is not None:
        head += f', "received": {json.dumps(received)}'
    if meter is not None:
        head += f', "meter": {{"name": {json.dumps(meter)}}}'
    return f'{head}, "values": {{{values}}}}}'.encode()


#: what the attacks sent, and their relatives: (payload, why it is no reading)
POISON: dict[str, tuple[bytes, str]] = {
    "lists 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "bytes, more than"),
    "lists 30,000 deep": (b"[" * 30_000 + b"]" * 30_000, "nested deeper"),
    "objects 10,000 deep": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested deeper"),
    "a meter nested 40 deep": (_reading().replace(b'"values"', b'"meter": ' + b"[" * 40
                                                  + b"]" * 40 + b', "values"'),
                               "nested deeper"),
    "year 1, -14:00": (_reading("0001-01-01T00:00:00-14:00"), "not between 1970 and 2199"),
    "year 1, +14:00": (_reading("0001-01-01T00:00:00+14:00"), "not between 1970 and 2199"),
    "year 9999, -14:00": (_reading("9999-12-31T23:59:59-14:00"), "not between 1970 and 2199"),
    "year 1969": (_reading("1969-12-31T23:59:59+00:00"), "not between 1970 and 2199"),
    "a week date": (_reading("2026-W48-1T10:00:00+01:00"), "not of the form"),
    "no offset": (_reading("2026-11-30T10:00:00"), "no UTC offset"),
    "time a number": (b'{"time": 5, "values": {}}', "no time or no values"),
    "values a list": (b'{"time": "2026-11-30T10:00:00Z", "values": [1]}',
                      "no time or no values"),
    "a value a text": (_reading(values='"1.0.1.8.0.255": "5"'), "not an object"),
    "5000 digits": (_reading(values='"1.0.1.8.0.255": {"value": ' + "9" * 5000 + "}"),
                    "not JSON"),
    "a megabyte's meter name": (_reading(meter="x" * 1_000_000), "bytes, more than"),
    "a meter name of 65": (_reading(meter="x" * 65), "is no name"),
    "a meter name with NUL": (_reading(meter="a\x00b"), "is no name"),
    "a lone surrogate": (_reading(meter="\ud800"), "is no name"),
    "a value name of 1000": (_reading(values='"1.0.1.8.0.255": {"value": 1, "name": "'
                                             + "n" * 1000 + '"}'), "is no name"),
    "a unit of 100": (_reading(values='"1.0.1.8.0.255": {"value": 1, "unit": "'
                                      + "W" * 100 + '"}'), "is no unit"),
    "a code no OBIS": (_reading(values='"1.0.1.8.0.255\'; --": {"value": 1}'),
                       "not an OBIS code"),
    "not UTF-8": (b'{"time": "2026-11-30T10:00:00Z", "meter": {"name": "\xff"}}',
                  "not JSON in UTF-8"),
    "not JSON": (b"{", "not JSON"),
    "null": (b"null", "not a JSON object"),
    "Infinity": (b"Infinity", "not a JSON object"),
}


@pytest.mark.parametrize("label", POISON)
def test_each_poison_is_no_reading_with_its_reason(label: str) -> None:
    payload, why = POISON[label]
    with pytest.raises(NotAReading, match=why):
        parse_reading(payload, "topic-meter")


def test_what_is_odd_but_a_reading_is_taken() -> None:
    # a received time without an offset (it crashed the delay figure): the reading stands,
    # its delay is not known
    rows, received = parse_reading(_reading(received="2026-11-30T10:00:00"))
    assert [row.name for row in rows] == ["active_energy_import"] and received is None
    # NaN, Infinity and numbers beyond a double are left out, the rest lands
    rows, _ = parse_reading(_reading(values=f'{ENERGY}, "1.0.2.8.0.255": {{"value": NaN}}, '
                                            '"1.0.3.8.0.255": {"value": -Infinity}, '
                                            '"1.0.4.8.0.255": {"value": 1e999}'))
    assert [row.obis for row in rows] == ["1.0.1.8.0.255"]
    # brackets and escaped quotes inside texts are no nesting; 64 characters are a name
    name = '[{"\\\\' + "[" * 59
    rows, _ = parse_reading(_reading(meter=name, values=",".join(
        f'"1.0.{c}.7.0.255": {{"name": "p{c}", "value": {c}, "unit": "W"}}'
        for c in range(1, 40))))
    assert len(rows) == 39 and rows[0].meter == name and len(name) == MAX_NAME


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


TEXTS = st.text(alphabet=st.sampled_from('[]{}"\\ax\u00e4'), max_size=6)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXTS)


@st.composite
def _nested(draw: st.DrawFn) -> Any:
    """Values nested to a depth around the limit, texts of brackets, quotes and
    backslashes beside them."""
    value = draw(st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(TEXTS, inner, max_size=3), max_leaves=8))
    for _level in range(draw(st.integers(0, MAX_DEPTH + 3))):
        side = draw(LEAVES)
        value = [side, value] if draw(st.booleans()) else {draw(TEXTS): value, "s": side}
    return value


@given(_nested())
@settings(max_examples=600, deadline=None)
def test_the_depth_check_counts_brackets_outside_texts(value: Any) -> None:
    payload = json.dumps(value).encode()
    assert _too_deep(payload) == (_depth(value) > MAX_DEPTH)


# readings made of parts near what the readers send, and far from it
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(
    minutes=minutes)))
TIMES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.one_of(st.none(), OFFSETS, st.timezones())).map(
        lambda moment: moment.isoformat()),
    st.sampled_from(["2026-11-30T10:00:00Z", "2026-11-30 10:00:00.123+01:00", "20261130T10Z",
                     "2026-11-30T10:00:00,5+01:00", "2026-11-30T10+01:00", "2026-02-30T10:00Z",
                     "0000-01-01T00:00:00+00:00", "2026-11-30T24:00:00+01:00", ""]),
    st.text(max_size=30))
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                 st.text(max_size=10)),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
TEXT = st.one_of(st.text(max_size=3), st.text(min_size=60, max_size=70),
                 st.sampled_from(["Top 1", "\ud800", "a\x00", "x\ty\\", "m\u202e"]))
CODES = st.one_of(st.sampled_from(["1.0.1.8.0.255", "1.0.2.8.0.255", "1.1.1.8.0.255",
                                   "1.0.32.7.0.255", "255.255.255.255.255.255",
                                   "999.0.1.8.0.255", "1.0.1.8.0"]), st.text(max_size=14))
NUMBERS = st.one_of(st.integers(), st.integers(min_value=10 ** 300, max_value=10 ** 400),
                    st.floats(), st.sampled_from([True, 1 << 63, -(1 << 63) - 1]))
MEASUREMENTS = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from([*COUNTERS, "power"]), TEXT, JSONISH),
    "value": st.one_of(NUMBERS, JSONISH), "unit": st.one_of(st.sampled_from(["Wh", "W"]),
                                                             TEXT, JSONISH)})
METERS = st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
    key: st.one_of(TEXT, JSONISH) for key in ("name", "id", "system_title")}))
READINGS = st.fixed_dictionaries({}, optional={
    "time": st.one_of(TIMES, JSONISH), "received": st.one_of(TIMES, JSONISH),
    "meter": METERS, "frame_counter": st.one_of(NUMBERS, JSONISH),
    "values": st.one_of(st.dictionaries(CODES, st.one_of(MEASUREMENTS, JSONISH), max_size=5),
                        JSONISH)})


def _dumped(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


PAYLOADS = st.one_of(
    st.builds(_dumped, READINGS, st.booleans()), st.builds(_dumped, JSONISH, st.booleans()),
    st.binary(max_size=64), st.builds(_dumped, _nested(), st.just(True)))


@given(PAYLOADS, st.one_of(st.just(""), TEXT))
@example(POISON["year 9999, -14:00"][0], "")
@example(_reading("9999-12-31T23:59:59-14:00"), "")
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_payload_is_a_reading_or_no_reading(payload: bytes, topic_meter: str) -> None:
    try:
        rows, received = parse_reading(payload, topic_meter)
    except NotAReading:
        return
    for row in rows:
        assert len(row.meter) <= MAX_NAME and len(row.name) <= MAX_NAME
        assert row.unit is None or len(row.unit) <= MAX_UNIT
        assert "\x00" not in row.meter + row.name + (row.unit or "")
    copy_text(rows).decode("utf-8")
    store = FleetStore("postgresql:///nowhere")
    store._changes(rows)  # the quarter hours and newest values the page reads
    if received is not None:
        assert (datetime.now(UTC) - datetime.fromisoformat(received)).days is not None


def test_a_row_postgresql_refuses_is_dropped_and_the_rest_lands() -> None:
    """A name of a megabyte got past no check of ours now, but if PostgreSQL refuses a row
    for good ("index row requires 11488 bytes"), that is a BadBatch: the batch is written
    reading by reading, the refused one dropped and counted, the others land."""
    from smartmeter_readout.fleet.collector import Collector, CollectorSettings

    database = Postgres()
    database.start()

    def good(meter: str, second: int) -> list[Row]:
        return parse_reading(reading_json(meter, MOMENT + timedelta(seconds=second), second,
                                          MOMENT))[0]

    huge = [row._replace(meter="x" * 1_000_000) for row in good("m1", 0)]
    noise = random.Random(27).randbytes(8000).hex()  # no compression makes it fit
    wide = [row._replace(meter=noise) for row in good("m1", 1)]

    async def scenario() -> tuple[list[str], int, int]:
        store = FleetStore(database.dsn)
        refused = []
        for rows in (huge, wide):
            with pytest.raises(BadBatch) as caught:
                await store.write(rows)
            refused.append(str(caught.value))
        assert await store.write(good("m2", 0)) == VALUES  # the connection goes on
        await store.close()
        collector = Collector(CollectorSettings(dsn=database.dsn))
        landed = await collector._one_by_one([good("m3", 0), huge, good("m3", 1), wide])
        await collector.store.close()
        return refused, landed, collector.stats.rejected

    try:
        refused, landed, rejected = asyncio.run(scenario())
        with psycopg.connect(database.dsn) as connection:
            meters = dict(connection.execute(
                "SELECT meter, count(*) FROM readings GROUP BY meter").fetchall())
    finally:
        database.stop()
        database.remove()
    assert all("index row" in reason for reason in refused), refused
    assert "x" * 100 not in "".join(refused)  # the reason, not the row
    assert (landed, rejected) == (2 * VALUES, 2)
    assert meters == {"m2": VALUES, "m3": 2 * VALUES}


def test_the_readers_keep_the_collectors_name_limit(tmp_path: Path) -> None:
    from smartmeter_readout.errors import ConfigError
    from smartmeter_readout.service.config import SCHEMA, load_config

    assert SCHEMA["meter"]["name"].maximum == MAX_NAME
    config = tmp_path / "meter.toml"
    for text in (f'[meter]\nname = "{"n" * 65}"\n[source]\nsimulate = "vkw"\n',
                 f'[[meters]]\nname = "{"n" * 65}"\nsimulate = "vkw"\n'):
        config.write_text(text)
        with pytest.raises(ConfigError, match="name has 65 characters: at most 64"):
            load_config(config, env={})
    config.write_text(f'[meter]\nname = "{"n" * 64}"\n[source]\nsimulate = "vkw"\n')
    assert load_config(config, env={})["meter"]["name"] == "n" * 64


# --- a running collector -------------------------------------------------------------------





def _start(config: Path, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    stats = folder / "stats.json"
    stats.unlink(missing_ok=True)
    with (folder / "collector.log").open("ab") as log:
        process = subprocess.Popen([*CLI, "collect", "--config", str(config), "--client-id",
                                    "c1", "--stats", str(stats), "-q"], env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=log)
    until(stats.exists, "the collector's subscription")
    return process, stats


def _stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _publish(port: int, first: int) -> int:
    """Good readings of meter "good" (ticks from ``first``), each poison after one of them,
    and one with a received time without offset; the rows they make."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"poisoner{first}",
                         protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    good = 0
    try:
        for number, label in enumerate(POISON):
            tick = first + number
            moment = MOMENT + timedelta(seconds=tick)
            client.publish("smartmeter/good/state", reading_json(
                "good", moment, tick, moment), qos=1).wait_for_publish(30)
            client.publish(f"smartmeter/poison-{number}/state", POISON[label][0],
                           qos=1).wait_for_publish(30)
            good += 1
        odd = _reading((MOMENT + timedelta(seconds=first + len(POISON))).isoformat(),
                       meter="good", received="2026-11-30T10:00:00")
        client.publish("smartmeter/good/state", odd, qos=1).wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()
    return good * VALUES + 1


def _rows(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0


def _drops(log: str) -> int:
    return log.count("is no reading")


def test_a_running_collector_drops_each_poison_once_and_keeps_every_reading(
        tmp_path: Path, fleet: tuple[Mosquitto, Postgres, Path]) -> None:
    broker, database, config = fleet
    log = tmp_path / "collector.log"
    process, stats = _start(config, tmp_path)
    try:
        # 1. while it runs
        expected = _publish(broker.port, 0)
        until(lambda: _stats(stats).get("committed", 0) >= 2 * len(POISON) + 1,
              "the collector's commits", timeout=120)
        assert process.poll() is None, log.read_text()
        assert _stats(stats)["rejected"] == len(POISON)
        until(lambda: _rows(database.dsn) == expected, "the good readings", timeout=60)
        assert _drops(log.read_text()) == len(POISON)

        # 2. while it is away (its session keeps them), then started again
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
        expected += _publish(broker.port, 1000)
        process, stats = _start(config, tmp_path)
        until(lambda: _stats(stats).get("committed", 0) >= 2 * len(POISON) + 1,
              "the commits after the restart", timeout=120)
        assert process.poll() is None, log.read_text()
        assert _stats(stats)["rejected"] == len(POISON)
        until(lambda: _rows(database.dsn) == expected, "the readings queued while away",
              timeout=60)

        # 3. away for good: retiring its session takes the same poison
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
        expected += _publish(broker.port, 2000)
        retired = subprocess.run([*CLI, "collect", "--config", str(config), "--client-id",
                                  "c1", "--retire"], env=ENV, capture_output=True, text=True,
                                 timeout=120, check=False)
        assert retired.returncode == 0, retired.stderr
        assert _drops(retired.stderr) == len(POISON)
        assert _rows(database.dsn) == expected
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
    text = log.read_text()
    assert _drops(text) == 2 * len(POISON)
    assert "Traceback" not in text and "internal error" not in text
    assert "x" * 100 not in text + retired.stderr  # a long name is shown cut short
