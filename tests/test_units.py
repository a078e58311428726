"""Small pieces: keys, checksums, A-XDR, COSEM time, OBIS names, user layouts."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_readout import Decoder, KeyFormatError, layout_from_config
from smartmeter_readout.cosem.body import scale
from smartmeter_readout.cosem.catalog import CATALOG
from smartmeter_readout.cosem.implied_units import UNIT_TABLES
from smartmeter_readout.cosem.obis import OBIS_REGISTRY, format_obis, obis_info, parse_obis
from smartmeter_readout.cosem.units import UNIT_SYMBOLS, base_unit
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.cosem_time import decode_datetime, encode_datetime
from smartmeter_readout.errors import DecodeError, TruncatedError
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.keys import parse_key
from smartmeter_readout.link.checksums import crc16_arc, crc16_x25, crc16_x25_reference
from smartmeter_readout.oms.records import encode_record, parse_records
from smartmeter_readout.sinks.formats import render
from smartmeter_readout.sinks.mqtt import discovery_configs

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.mark.parametrize("spelling", [
    "36C66639E48A8CA4D6BC8B282A793BBB", "36c66639e48a8ca4d6bc8b282a793bbb",
    "36 C6 66 39 E4 8A 8C A4 D6 BC 8B 28 2A 79 3B BB",
    "36:C6:66:39:E4:8A:8C:A4:D6:BC:8B:28:2A:79:3B:BB",
    "36C66639-E48A-8CA4-D6BC-8B282A793BBB", "0x36C66639E48A8CA4D6BC8B282A793BBB",
])
def test_keys_in_any_common_spelling(spelling: str) -> None:
    assert parse_key(spelling) == bytes.fromhex("36C66639E48A8CA4D6BC8B282A793BBB")


@pytest.mark.parametrize("bad", ["36C66639E48A8CA4D6BC8B282A793B",
                                 "36C66639E48A8CA4D6BC8B282A793BBZ",
                                 "36C66639E48A8CA4D6BC8B282A793BBB00"])
def test_malformed_key_message_never_contains_the_key(bad: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        Decoder(bad)
    assert bad[:8].lower() not in str(info.value).lower()


def test_checksums_against_their_check_values() -> None:
    assert crc16_x25(b"123456789") == 0x906E  # CRC-16/X-25 check value
    assert crc16_arc(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    data = os.urandom(1000)
    assert all(crc16_x25(data[:n]) == crc16_x25_reference(data[:n]) for n in range(0, 1000, 37))


scalars = st.one_of(
    st.integers(-128, 127).map(lambda v: (axdr.INT8, v)),
    st.integers(0, 0xFFFF).map(lambda v: (axdr.UINT16, v)),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (axdr.INT32, v)),
    st.integers(0, 2**64 - 1).map(lambda v: (axdr.UINT64, v)),
    st.integers(0, 255).map(lambda v: (axdr.ENUM, v)),
    st.booleans().map(lambda v: (axdr.BOOLEAN, v)),
    st.binary(max_size=300).map(lambda v: (axdr.OCTET_STRING, v)),
    st.text(alphabet=st.characters(max_codepoint=255), max_size=40).map(
        lambda v: (axdr.VISIBLE_STRING, v)),
    st.binary(min_size=12, max_size=12).map(lambda v: (axdr.DATE_TIME, v)),
    st.floats(allow_nan=False, width=64).map(lambda v: (axdr.FLOAT64, v)),
    st.text(alphabet="01", max_size=20).map(lambda v: (axdr.BIT_STRING, v)),
    st.just((axdr.NULL, None)),
)
trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=8).map(lambda v: (axdr.STRUCTURE, v)),
    st.lists(children, max_size=8).map(lambda v: (axdr.ARRAY, v))), max_leaves=40)


@given(trees)
def test_axdr_round_trip(tree: axdr.Node) -> None:
    encoded = axdr.encode(tree)
    assert axdr.decode(encoded) == (tree, len(encoded))
    for cut in range(len(encoded)):
        with pytest.raises(TruncatedError):
            axdr.decode(encoded[:cut])


def test_axdr_rejects_what_no_meter_sends() -> None:
    with pytest.raises(DecodeError):
        axdr.decode(b"\x42")
    with pytest.raises(DecodeError):
        axdr.decode(b"\x01\x01" * 40 + b"\x00")  # nested deeper than any push


def test_compact_array() -> None:
    # compact-array of structure{uint16, int8}: 2 elements
    data = bytes.fromhex("13 02 02 12 0F 06 0001 FF 0002 02".replace(" ", ""))
    node, end = axdr.decode(data)
    assert end == len(data)
    assert node == (axdr.COMPACT_ARRAY, [(2, [(18, 1), (15, -1)]), (2, [(18, 2), (15, 2)])])


def test_scaled_values_carry_no_float_noise() -> None:
    assert scale(2337, -1) == 233.7 and repr(scale(2337, -1)) == "233.7"
    assert repr(scale(1241, -2)) == "12.41" and repr(scale(7087, -3)) == "7.087"
    assert scale(12, 3) == 12000 and type(scale(12, 0)) is int
    assert all(repr(scale(n, -2)) == f"{n / 100}" for n in range(0, 100000, 7))


def test_cosem_time_deviation_dst_and_unspecified() -> None:
    summer = bytes.fromhex("07E708150117170000FF8880")  # deviation unspecified, DST bit
    assert decode_datetime(summer, VIENNA) == datetime(2023, 8, 21, 23, 23, tzinfo=VIENNA)
    assert decode_datetime(summer, VIENNA).utcoffset() == timedelta(hours=2)
    winter = bytes.fromhex("07E60B0C0610360000FFC400")  # deviation -60: UTC+1
    assert decode_datetime(winter, VIENNA).utcoffset() == timedelta(hours=1)
    # the repeated hour when summer time ends: the DST bit picks the first one
    first = bytes.fromhex("07E70A1D07021E00FF800080")
    second = bytes.fromhex("07E70A1D07021E00FF800000")
    assert decode_datetime(first, VIENNA).utcoffset() == timedelta(hours=2)
    assert decode_datetime(second, VIENNA).utcoffset() == timedelta(hours=1)
    assert decode_datetime(bytes.fromhex("FFFF0101FF000000FF800000"), VIENNA) is None
    moment = datetime(2024, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert decode_datetime(encode_datetime(moment), VIENNA) == moment


def test_obis_registry_names_and_channels() -> None:
    assert obis_info(parse_obis("1.0.32.7.0.255")) == ("voltage_l1", "V")
    assert obis_info(parse_obis("1.1.32.7.0.255")) == ("voltage_l1", "V")  # Kamstrup channel
    assert obis_info(parse_obis("1.0.1.8.0.255")) == ("active_energy_import", "Wh")
    assert obis_info(parse_obis("1.0.2.8.1.255"))[0] == "active_energy_export_t1"
    assert obis_info(parse_obis("1.0.99.1.0.255"))[0] == "obis_1_0_99_1_0"
    assert format_obis(parse_obis("1-0:31.7.0")) == "1.0.31.7.0.255"


def test_user_described_positional_layout() -> None:
    layout = layout_from_config("mymeter", {"fields": [
        {"obis": "1.0.1.8.0.255", "unit": "Wh"},
        {"obis": "1.0.32.7.0.255", "scaler": -1, "unit": "V"},
        {"kind": "meter_id"},
    ]})
    body = (axdr.STRUCTURE, [(axdr.UINT32, 123456), (axdr.UINT16, 2301),
                             (axdr.OCTET_STRING, b"12345678")])
    plain = build_notification(body)
    assert Decoder().feed(plain) == []  # unknown without the description
    [reading] = Decoder(layouts=[layout]).feed(plain)
    assert reading.values["1.0.32.7.0.255"].value == 230.1
    assert reading.values["1.0.1.8.0.255"].value == 123456
    assert reading.meter.id == "12345678" and reading.layout == "mymeter"


@pytest.mark.parametrize(("spec", "message"), [
    ({"fields": []}, "fields must be a non-empty list"),
    ({"fields": [{"obis": "1.0.1.8.0"}], "colour": 1}, "unknown key 'colour'"),
    ({"fields": [{"obis": "1.0.1.8"}]}, "is no OBIS code"),
    ({"fields": [{"obis": "1.0.1.8.0.255", "scaler": "x"}]}, "scaler = 'x' is not valid"),
    ({"fields": [{"obis": "1.0.1.8.0.255", "kind": "numbr"}]}, "kind = 'numbr' is not valid"),
])
def test_bad_layout_description_names_key_value_and_fix(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layout_from_config("mine", spec)


def test_unknown_layout_is_reported_with_its_shape() -> None:
    body = (axdr.STRUCTURE, [(axdr.UINT32, 1), (axdr.UINT32, 2)])
    decoder = Decoder()
    assert decoder.feed(build_notification(body)) == []
    [event] = decoder.take_events()
    assert event.kind.value == "unknown_layout" and "uint32, uint32" in event.message


def test_wiener_netze_published_capture_decodes_with_layout_d1() -> None:
    # an AM550 frame published with its key for testing a Wiener Netze reader
    frame = bytes.fromhex(
        "7ea067cf022313fbf1e6e700db0849534b6974a8d8994f2000909dd750e337f09d460befa73f43e61e"
        "5cbdd88f7f1e4a91ff2fc936b8fd423c930d431f6f4288104a9c5b49389a5b4a3e976c924ae466d4e"
        "25abfd26a1573b95c0a4a4bce9a273f1233765c38c9367e")
    [reading] = Decoder("62DC84B413AF3E16AA271CE9ED04AC74").feed(frame)
    assert reading.layout == "D1" and reading.meter.manufacturer == "ISK"
    assert reading.values["1.0.1.8.0.255"].value == 20870819
    assert reading.time == datetime(2021, 10, 13, 7, 30, 57, tzinfo=VIENNA)


# ---------------------------------------------------------------- one spelling per unit

# (the line as a meter writes it, OBIS key, value and unit the reading must carry). The
# lines follow DSMR 5.0.2 P1 (value*unit in brackets, energy to three decimals); the
# spellings are those of real telegrams: kWh (NL), KWH, kVArh and kVAr (L+G E360, Kamstrup,
# NES in Sweden and Denmark), kvarh and kvar (Sagemcom at E.ON Hungary), VArh and VAr (no
# kilo), kVAh and kVA, m3 (every gas meter).
SPELLINGS = [
    ("1-0:1.8.1(001234.567*kWh)", "1.0.1.8.1.255", 1234567, "Wh"),
    ("1-0:1.8.2(000765.432*KWH)", "1.0.1.8.2.255", 765432, "Wh"),
    ("1-0:2.8.1(000001.5*kwh)", "1.0.2.8.1.255", 1500, "Wh"),
    ("1-0:3.8.0(000012.345*kVArh)", "1.0.3.8.0.255", 12345, "varh"),
    ("1-0:4.8.0(000001.234*kvarh)", "1.0.4.8.0.255", 1234, "varh"),
    ("1-0:3.8.1(000420*VArh)", "1.0.3.8.1.255", 420, "varh"),
    ("1-0:4.8.1(000042*Varh)", "1.0.4.8.1.255", 42, "varh"),
    ("1-0:9.8.0(000002.000*kVAh)", "1.0.9.8.0.255", 2000, "VAh"),
    ("1-0:1.7.0(01.193*kW)", "1.0.1.7.0.255", 1193, "W"),
    ("1-0:3.7.0(00.250*kvar)", "1.0.3.7.0.255", 250, "var"),
    ("1-0:4.7.0(00.125*kVAr)", "1.0.4.7.0.255", 125, "var"),
    ("1-0:23.7.0(00125*VAr)", "1.0.23.7.0.255", 125, "var"),
    ("1-0:9.7.0(01.500*kVA)", "1.0.9.7.0.255", 1500, "VA"),
    ("1-0:32.7.0(230.1*V)", "1.0.32.7.0.255", 230.1, "V"),
    ("1-0:31.7.0(005*A)", "1.0.31.7.0.255", 5, "A"),
    ("1-0:14.7.0(50.01*Hz)", "1.0.14.7.0.255", 50.01, "Hz"),
    ("0-1:24.2.1(101209112500W)(12785.123*m3)", "0.1.24.2.1.255", 12785.123, "m³"),
]
BASE_UNITS = {"Wh", "varh", "VAh", "W", "var", "VA", "V", "A", "Hz", "m³", "s", ""}


def dsmr_telegram(lines: list[str]) -> bytes:
    """A DSMR 5 telegram around ``lines``, with its CRC-16/ARC."""
    text = "\r\n".join(["/ISK5\\2M550T-1012", "", "1-3:0.2.8(50)", "0-0:1.0.0(101209113020W)",
                        "0-0:96.1.1(4B384547303034303436333935353037)", *lines, "!"])
    return f"{text}{crc16_arc(text.encode()):04X}\r\n".encode()


@pytest.mark.parametrize(("text", "base", "power"), [
    ("kWh", "Wh", 3), ("KWH", "Wh", 3), ("kvarh", "varh", 3), ("kVArh", "varh", 3),
    ("VArh", "varh", 0), ("varh", "varh", 0), ("VAr", "var", 0), ("kvar", "var", 3),
    ("kVAr", "var", 3), ("kVA", "VA", 3), ("kVAh", "VAh", 3), ("MWh", "Wh", 6),
    ("W", "W", 0), ("v", "V", 0), ("HZ", "Hz", 0), ("GJ", "J", 9), ("m3", "m³", 0),
    ("s", "s", 0), ("°C", "°C", 0), ("mA", "mA", 0), ("", "", 0),
])
def test_base_unit_of_every_spelling(text: str, base: str, power: int) -> None:
    assert base_unit(text) == (base, power)


def test_every_table_of_the_core_spells_units_one_way() -> None:
    """The registry, the positional catalogue, the implied-unit tables and the DLMS unit
    enumeration already give base units: nothing of theirs is respelled or rescaled."""
    units = {unit for _name, unit in OBIS_REGISTRY.values() if unit}
    units |= {unit for _n, fields, _m, _l in CATALOG for *_s, unit in fields if unit}
    units |= {unit for table in UNIT_TABLES for _scaler, unit in table.units.values() if unit}
    units |= {UNIT_SYMBOLS[code] for code in (27, 28, 29, 30, 31, 32, 33, 35, 44)}
    assert units >= {"Wh", "varh", "W", "var", "V", "A", "Hz"}
    for unit in units:
        assert base_unit(unit) == (unit, 0), unit


def test_dsmr_units_in_every_spelling_reach_every_output_as_base_units(tmp_path: Path) -> None:
    [reading] = Decoder().feed(dsmr_telegram([line for line, *_ in SPELLINGS]))
    for line, key, value, unit in SPELLINGS:
        got = reading.values[key]
        assert (got.value, got.unit) == (pytest.approx(value, rel=1e-12), unit), line
    assert {m.unit for m in reading.values.values()} - {None} <= BASE_UNITS
    # JSON and the MQTT state (the same dict), CSV header, table, SQLite series
    state = json.loads(render([reading], "json"))[0]["values"]
    assert {key: state[key]["unit"] for _l, key, _v, _u in SPELLINGS} == {
        key: unit for _l, key, _v, unit in SPELLINGS}
    header = render([reading], "csv").splitlines()[0].split(",")
    assert "reactive_energy_import_varh" in header and "reactive_power_import_l1_var" in header
    assert not [column for column in header if "VAr" in column or "kW" in column]
    table = render([reading], "table")
    assert "kvarh" in table and "VAr" not in table and "KWH" not in table
    store = HistoryStore(tmp_path / "history.sqlite")
    try:
        store.write([reading])
        assert {row["unit"] for row in store.series()} <= BASE_UNITS
    finally:
        store.close()
    # Home Assistant: base units, so the sensor classes of sinks/mqtt.py apply
    configs = {json.loads(p)["value_template"].split("'")[3]: json.loads(p)
               for p in discovery_configs(reading, topic="sm", prefix="homeassistant").values()}
    assert configs["1.0.23.7.0.255"]["unit_of_measurement"] == "var"
    assert configs["1.0.23.7.0.255"]["device_class"] == "reactive_power"
    assert configs["1.0.3.8.1.255"]["unit_of_measurement"] == "varh"
    assert configs["1.0.3.8.1.255"]["state_class"] == "total_increasing"
    assert configs["1.0.1.8.2.255"]["device_class"] == "energy"
    assert configs["1.0.9.7.0.255"]["device_class"] == "apparent_power"
    assert {c.get("unit_of_measurement") for c in configs.values()} - {None} <= BASE_UNITS


def test_a_configured_layout_in_kvarh_gives_varh() -> None:
    layout = layout_from_config("mine", {"fields": [
        {"obis": "1.0.3.8.0.255", "unit": "kVArh"},
        {"obis": "1.0.4.8.0.255", "scaler": -3, "unit": "kvarh"},
        {"obis": "1.0.3.7.0.255", "unit": "VAr"},
        {"obis": "1.0.1.7.0.255", "scaler": -1, "unit": "kW"},
    ]})
    body = (axdr.STRUCTURE, [(axdr.UINT32, 1234), (axdr.UINT32, 56789), (axdr.INT16, -250),
                             (axdr.UINT16, 15)])
    [reading] = Decoder(layouts=[layout]).feed(build_notification(body))
    got = {key: (m.value, m.unit) for key, m in reading.values.items()}
    assert got == {"1.0.3.8.0.255": (1234000, "varh"), "1.0.4.8.0.255": (56789, "varh"),
                   "1.0.3.7.0.255": (-250, "var"), "1.0.1.7.0.255": (1500, "W")}
    [config] = [json.loads(payload) for topic, payload in
                discovery_configs(reading, topic="sm", prefix="homeassistant").items()
                if "1_0_3_8_0_255" in topic]
    assert config["unit_of_measurement"] == "varh"
    assert config["state_class"] == "total_increasing"


def test_an_m_bus_unit_given_as_text_is_a_base_unit() -> None:
    """VIF 7C: the unit as text after the VIF chain, last character first."""
    text = b"kVArh"
    record = encode_record(1234, vif=[0x7C])
    record = record[:2] + bytes([len(text)]) + text[::-1] + record[2:]
    [parsed] = parse_records(record)
    assert (parsed.unit, parsed.value) == ("varh", 1234000)
