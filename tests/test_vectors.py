"""Every real capture decodes to the values its source published (../shared/vectors)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import BY_ID, feed_all, feed_ways, same_moment, vector_ids, wire
from smartmeter_readout import Decoder, Reading, decode
from smartmeter_readout.cosem.obis import format_obis
from smartmeter_readout.events import EventKind

# the source's own tag does not verify with its published authentication key: decrypt only
TAG_UNVERIFIABLE = {v["id"] for v in BY_ID.values() if v.get("gcm_tag_verifies") is False}


def decoder_for(vector: dict[str, Any]) -> Decoder:
    auth = None if vector["id"] in TAG_UNVERIFIABLE else vector["auth_key"]
    return Decoder(vector["key"], auth)


def check_expected(reading: Reading, vector: dict[str, Any]) -> None:
    for key, want in vector["expected"].items():
        if key == "timestamp":
            assert same_moment(reading.time, want), (reading.time, want)
        elif key == "meter_number":
            assert reading.meter.id == want["value"]
        elif key == "list_version":
            assert reading.meter.list_id == want["value"]
        elif key == "push_setup_logical_name":
            assert reading.meter.list_id == format_obis(bytes.fromhex(want["value"]))
        elif key.endswith(":date"):
            assert reading.time is not None
            assert reading.time.date().isoformat() == want["value"]
        elif key.endswith(":time"):
            assert reading.time is not None
            assert reading.time.time().isoformat() == want["value"]
        else:
            got = reading.values[key]
            if isinstance(want["value"], str) and got.name == "clock":
                assert same_moment(str(got.value), want["value"]), (key, got, want)
            else:
                assert got.value == want["value"], (key, got, want)
                assert type(got.value) is type(want["value"]), (key, got, want)
            if "unit" in want:
                assert got.unit == want["unit"], (key, got, want)


def test_verified_vector_decodes_every_way(verified_vector: dict[str, Any]) -> None:
    for way, chunks in feed_ways(wire(verified_vector["id"])).items():
        decoder = decoder_for(verified_vector)
        readings = feed_all(decoder, chunks)
        assert len(readings) == 1, (way, decoder.stats, decoder.take_events())
        check_expected(readings[0], verified_vector)
        stats = decoder.stats
        assert not (stats[EventKind.BAD_FRAME] or stats[EventKind.WRONG_KEY]
                    or stats[EventKind.TAG_MISMATCH])


def test_verified_vector_decodes_as_a_whole_input(verified_vector: dict[str, Any]) -> None:
    """Fed as a capture that ends (``final``): the same reading, every byte judged, and
    nothing said about a cut-off frame where none was cut off."""
    decoder = decoder_for(verified_vector)
    [reading] = decoder.feed(wire(verified_vector["id"]), final=True)
    check_expected(reading, verified_vector)
    assert decoder._splitter.pending == 0
    assert not decoder.stats[EventKind.CUT_SHORT]


def test_verified_vector_meter_identity(verified_vector: dict[str, Any]) -> None:
    reading = decode(wire(verified_vector["id"]), verified_vector["key"])[0]
    title = (verified_vector.get("wire") or {}).get("system_title")
    if title:
        assert reading.meter.system_title == title
        assert reading.frame_counter == verified_vector["wire"]["frame_counter"]
    data = reading.to_dict()
    assert set(data) == {"time", "received", "meter", "frame_counter", "values"}
    for entry in data["values"].values():
        assert set(entry) == {"name", "value", "unit"}
        assert entry["name"].replace("_", "").isalnum() and entry["name"].islower()


@pytest.mark.parametrize("vector_id", vector_ids(lambda v: not v["verified"]))
def test_unpublished_key_captures_pass_framing_and_ask_for_the_key(vector_id: str) -> None:
    decoder = Decoder()
    assert decoder.feed(wire(vector_id)) == []
    assert decoder.stats[EventKind.KEY_MISSING] == 1
    assert decoder.stats[EventKind.BAD_FRAME] == decoder.stats[EventKind.GARBAGE] == 0
    assert decoder.seen["system_title"] == BY_ID[vector_id]["wire"]["system_title"]
    # and a made-up key is recognised as wrong at the first push
    wrong = Decoder(key="00" * 16)
    assert wrong.feed(wire(vector_id)) == []
    assert wrong.stats[EventKind.WRONG_KEY] == 1


@pytest.mark.parametrize("vector_id", vector_ids(lambda v: v["key"]))
def test_wrong_key_is_told_apart_from_bad_frames(vector_id: str) -> None:
    vector = BY_ID[vector_id]
    wrong_key = bytes(b ^ 0x5A for b in bytes.fromhex(vector["key"]))
    decoder = Decoder(wrong_key, vector["auth_key"])
    assert decoder.feed(wire(vector_id)) == []
    assert decoder.stats[EventKind.WRONG_KEY] == 1
    assert decoder.stats[EventKind.BAD_FRAME] == 0
    [event] = decoder.take_events()[-1:]
    assert "key is wrong" in event.message
    assert vector["key"].lower() not in event.message.lower()


@pytest.mark.parametrize("vector_id", vector_ids(lambda v: v["auth_key"]
                                                 and v.get("gcm_tag_verifies") is not False))
def test_tag_verified_and_wrong_auth_key_rejected(vector_id: str) -> None:
    vector = BY_ID[vector_id]
    good = Decoder(vector["key"], vector["auth_key"])
    [reading] = good.feed(wire(vector_id))
    assert reading.security == "authenticated"
    bad = Decoder(vector["key"], "11" * 16)
    assert bad.feed(wire(vector_id)) == []
    assert bad.stats[EventKind.TAG_MISMATCH] == 1 and bad.stats[EventKind.WRONG_KEY] == 0


def test_steiermark_tag_refused_when_checked_and_decrypted_when_not() -> None:
    vector = BY_ID["at_steiermark_sagemcom_t210d_p1"]
    checked = Decoder(vector["key"], vector["auth_key"])
    assert checked.feed(wire(vector["id"])) == []
    assert checked.stats[EventKind.TAG_MISMATCH] == 1
    unchecked = Decoder(vector["key"])
    [reading] = unchecked.feed(wire(vector["id"]))
    assert reading.security == "encrypted"
    assert unchecked.stats[EventKind.TAG_UNCHECKED] == 1
    kinds = [event.kind.value for event in unchecked.take_events()]
    assert kinds == ["tag_unchecked"]


@pytest.mark.parametrize("vector_id", vector_ids(lambda v: v["verified"]))
def test_truncated_capture_gives_nothing_or_an_error_never_wrong_values(vector_id: str) -> None:
    vector = BY_ID[vector_id]
    data = wire(vector_id)
    for cut in sorted({1, 5, len(data) // 3, len(data) // 2, len(data) - 3, len(data) - 1}):
        decoder = decoder_for(vector)
        readings = decoder.feed(data[:cut])
        assert readings == [], cut


@pytest.mark.parametrize("vector_id", vector_ids(lambda v: v["framing"] in ("mbus", "hdlc")))
def test_corrupted_checksum_is_reported(vector_id: str) -> None:
    vector = BY_ID[vector_id]
    data = bytearray(wire(vector_id))
    data[len(data) // 2] ^= 0x01
    decoder = decoder_for(vector)
    assert decoder.feed(bytes(data)) == []
    assert decoder.stats[EventKind.BAD_FRAME] >= 1


def test_all_captures_back_to_back_with_noise_decode_in_one_stream() -> None:
    # resynchronisation across framings: every unencrypted capture, noise before each one
    # (unframed APDUs first: once checksummed frames were seen they are no longer looked for)
    plain = sorted(vector_ids(lambda v: v["verified"] and v["key"] is None),
                   key=lambda vector_id: BY_ID[vector_id]["framing"] != "apdu")
    stream = b"".join(b"\x68\x00\x7e\xa0\xdb\x0f garbage " + wire(v) for v in plain)
    decoder = Decoder()
    readings = decoder.feed(stream)
    assert len(readings) == len(plain)
    assert decoder.stats[EventKind.GARBAGE] == 14 * len(plain)


def test_unframed_apdu_inside_a_frame_with_damaged_header_is_not_decoded() -> None:
    vector = BY_ID["at_eww_wels_siemens_im350"]
    data = bytearray(wire(vector["id"]))
    data[2] ^= 0x01  # the HDLC length: the frame is no longer recognised as one
    decoder = Decoder(vector["key"])
    decoder.feed(wire(vector["id"]))  # the stream has shown HDLC frames before
    assert decoder.feed(bytes(data)) == []
