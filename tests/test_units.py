"""Small pieces: keys, checksums, A-XDR, COSEM time, OBIS names, user layouts."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_readout import Decoder, KeyFormatError, layout_from_config
from smartmeter_readout.cosem.body import scale
from smartmeter_readout.cosem.obis import format_obis, obis_info, parse_obis
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification
from smartmeter_readout.dlms.cosem_time import decode_datetime, encode_datetime
from smartmeter_readout.errors import DecodeError, TruncatedError
from smartmeter_readout.keys import parse_key
from smartmeter_readout.link.checksums import crc16_arc, crc16_x25, crc16_x25_reference

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
