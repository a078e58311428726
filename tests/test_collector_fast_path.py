"""Issue 25: the collector's fast path gives what the slow one gave.

- msgspec parses a payload into the fields a row needs; whatever it will not take is parsed
  by the standard library's ``json`` again. Both ways give the same rows, or the same reason
  why a payload is no reading, for any payload of the poison tests; the COPY data made in
  the same pass is what ``copy_binary`` makes of the rows.
- A PUBLISH of QoS 0/1 is decoded by the collector instead of paho: the same topic, packet
  id and payload as paho's own decoding, for any topic, properties and payload; a packet
  that ends too soon is an error.
- COPY in binary puts the same rows into PostgreSQL as COPY in text.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from servers import Postgres
from smartmeter_readout.fleet import rows as rows_module
from smartmeter_readout.fleet.collector import _publish
from smartmeter_readout.fleet.rows import (
    NotAReading,
    copy_binary,
    copy_binary_of,
    copy_text,
    parse_reading,
    read_reading,
)
from smartmeter_readout.fleet.store import ensure_schema
from smartmeter_readout.sim.fleet_load import reading_json
from test_collector_poison import PAYLOADS, POISON, TEXT


def _outcome(payload: bytes, topic_meter: str) -> Any:
    try:
        return parse_reading(payload, topic_meter)
    except NotAReading as exc:
        return str(exc)


def _refuse(data: Any) -> Any:
    raise msgspec.DecodeError("the slow way")


def _by_json(payload: bytes, topic_meter: str) -> Any:
    """What the standard library's parser alone makes of it."""
    fast = rows_module._decode
    rows_module._decode = _refuse
    try:
        return _outcome(payload, topic_meter)
    finally:
        rows_module._decode = fast


@given(PAYLOADS, st.one_of(st.just(""), TEXT))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_msgspec_and_json_give_the_same_rows_or_the_same_reason(payload: bytes,
                                                                topic_meter: str) -> None:
    outcome = _outcome(payload, topic_meter)
    assert outcome == _by_json(payload, topic_meter)
    if not isinstance(outcome, str):  # the COPY data made in the same pass, as from the rows
        rows, _received, copied = read_reading(payload, topic_meter)
        assert copy_binary_of([copied, copied]) == copy_binary(rows + rows)


@pytest.mark.parametrize("label", POISON)
def test_each_poison_has_the_same_reason_either_way(label: str) -> None:
    payload = POISON[label][0]
    assert _outcome(payload, "m") == _by_json(payload, "m")


#: MQTT's UTF-8 strings hold no NUL, surrogate or U+FEFF (MQTT-1.5.4-1 to -3: paho refuses
#: them, a CI run drew a U+FEFF once; the collector skips the properties)
_TEXTS = st.text(st.characters(blacklist_characters="\x00\ufeff",
                               blacklist_categories=("Cs",)), max_size=20)


def _properties(draw: st.DrawFn) -> bytes:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if draw(st.booleans()):
        properties.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        properties.ContentType = draw(_TEXTS)
    for _pair in range(draw(st.integers(0, 40))):  # long enough for a 2-byte length
        properties.UserProperty = (draw(_TEXTS), draw(_TEXTS))
    return bytes(properties.pack())  # type: ignore[no-untyped-call]


@st.composite
def _packets(draw: st.DrawFn) -> tuple[int, bytes]:
    qos = draw(st.integers(0, 1))
    topic = draw(st.text(min_size=1, max_size=300)).encode()
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += draw(st.integers(1, 65535)).to_bytes(2, "big")
    body += _properties(draw) + draw(st.binary(max_size=3000))
    return 0x30 | qos << 1, body


@given(_packets(), st.data())
@settings(max_examples=400, deadline=None)
def test_a_publish_decodes_as_paho_decodes_it(packet: tuple[int, bytes], data: st.DataObject
                                              ) -> None:
    header, body = packet
    qos = (header & 0x06) >> 1
    pahos = _packet.decode_publish(header, bytearray(body), MQTTProtocolVersion.MQTTv5)
    assert _publish(bytearray(body), qos) == (pahos.topic, pahos.mid, pahos.payload)
    # cut short inside the topic, packet id or properties: an error (paho lets a packet
    # whose properties run past its end through)
    cut = data.draw(st.integers(0, len(body) - len(pahos.payload) - 1))
    with pytest.raises(IndexError):
        _publish(bytearray(body[:cut]), qos)


def test_binary_copy_puts_the_same_rows_as_text() -> None:
    moment = datetime(2026, 11, 30, 10, tzinfo=UTC)
    rows = [row for second in range(50) for meter in ("m1", "Zähler 2")
            for row in parse_reading(reading_json(meter, moment + timedelta(
                seconds=second, microseconds=second * 7919), second, moment))[0]]
    rows += [row._replace(meter="m\t\\3\n", name="ä\r") for row in rows[:12]]
    odd = parse_reading(b'{"time": "2026-11-30 10:00:00.5-03:30", "values": {"1.0.1.7.0.255": '
                        b'{"value": 1e308}, "1.0.2.7.0.255": {"value": -5e-324, "unit": ""}}}')
    rows += odd[0]
    database = Postgres()
    database.start()

    async def copy() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(database.dsn) as connection:
            columns = "(time, meter, obis, name, value, unit, frame_counter)"
            for table, data, form in (("text", copy_text(rows), ""),
                                      ("bin", copy_binary(rows), " (FORMAT BINARY)")):
                await ensure_schema(connection, table)
                async with connection.cursor() as cursor, cursor.copy(
                        f"COPY {table} {columns} FROM STDIN{form}") as writer:
                    await writer.write(data)
            await connection.commit()
            found = await (await connection.execute(
                "SELECT (SELECT count(*) FROM (SELECT * FROM text EXCEPT SELECT * FROM bin)"
                " a), (SELECT count(*) FROM (SELECT * FROM bin EXCEPT SELECT * FROM text) b),"
                " (SELECT count(*) FROM bin)")).fetchone()
            return list(found or ())

    try:
        assert asyncio.run(copy()) == [0, 0, len(rows)]
    finally:
        database.stop()
        database.remove()
