"""The Czech untagged push body (EG.D / ČEZ Sagemcom XT211): parsing, recognition, robustness."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from fuzzkit import captured_plaintexts, simulated_plaintexts
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import parse_notification
from smartmeter_readout.dlms.untagged import looks_untagged, parse_untagged
from smartmeter_readout.errors import DecodeError, TruncatedError

CORPUS = Path(__file__).resolve().parent / "corpus"
BODY = 6  # 0F, invoke-id (4), date-time 00: every Czech push carries no date-time


def _corpus() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.json")):
        entries.extend(json.loads(path.read_text()))
    return entries


CZECH = [e for e in _corpus() if e["id"].startswith("cz_")]
CZECH_IDS = [e["id"] for e in CZECH]


def _obis_text(obis: bytes) -> str:
    return ".".join(str(b) for b in obis)


def _value_text(value: bytes) -> str:
    """How the corpus writes octet-strings: text when printable, else hex."""
    if all(0x20 <= b < 0x7F for b in value):
        return value.decode("ascii")
    return value.hex()


def _body_offset(apdu: bytes) -> int:
    """Where a data-notification body starts (bare 0C, tagged 09 0C, or absent 00)."""
    marker = apdu[5]
    if marker == 0x0C:
        return 18
    if marker == 0x09:
        return 19 if apdu[6] == 0x0C else 7
    return 6


def test_corpus_has_the_czech_entries() -> None:
    assert len(CZECH) >= 3


@pytest.mark.parametrize("entry", CZECH, ids=CZECH_IDS)
def test_strict_axdr_rejects_the_czech_body(entry: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        parse_notification(bytes.fromhex(entry["hex"]))


@pytest.mark.parametrize("entry", CZECH, ids=CZECH_IDS)
def test_parse_matches_expected(entry: dict[str, Any]) -> None:
    apdu = bytes.fromhex(entry["hex"])
    assert apdu[5] == 0x00  # no date-time
    assert looks_untagged(apdu, BODY)
    entries, end = parse_untagged(apdu, BODY)
    assert end == len(apdu)
    expected = entry["expected"]
    assert len(entries) == len(expected) == apdu[BODY + 5]
    assert [_obis_text(obis) for _, obis, _, _ in entries] == list(expected)
    for class_id, obis, attribute, (tag, value) in entries:
        want = expected[_obis_text(obis)]
        assert class_id == want["class_id"]
        assert attribute == want["attribute"]
        if "raw" in want:
            assert tag in (axdr.UINT32, axdr.ENUM)
            assert value == want["raw"]
        else:
            assert tag == axdr.OCTET_STRING
            assert _value_text(value) == want["value"]


@pytest.mark.parametrize("entry", CZECH, ids=CZECH_IDS)
def test_registers_are_watts_and_watt_hours(entry: dict[str, Any]) -> None:
    """Scaler 0: the phase powers add up to the total, the tariff registers to the energy."""
    entries, _ = parse_untagged(bytes.fromhex(entry["hex"]), BODY)
    raw = {_obis_text(obis): value[1] for class_id, obis, _, value in entries if class_id == 3}
    phases = raw["1.0.21.7.0.255"] + raw["1.0.41.7.0.255"] + raw["1.0.61.7.0.255"]
    assert abs(phases - raw["1.0.1.7.0.255"]) <= 2
    tariffs = sum(raw[f"1.0.1.8.{t}.255"] for t in (1, 2, 3, 4))
    assert abs(tariffs - raw["1.0.1.8.0.255"]) <= 1


@pytest.mark.parametrize("entry", CZECH, ids=CZECH_IDS)
def test_every_truncation_raises_only_decode_errors(entry: dict[str, Any]) -> None:
    apdu = bytes.fromhex(entry["hex"])
    for cut in range(len(apdu)):
        short = apdu[:cut]
        looks_untagged(short, BODY)  # must not raise
        with pytest.raises(TruncatedError):
            parse_untagged(short, BODY)


def _mutate(rng: random.Random, apdu: bytes) -> bytes:
    data = bytearray(apdu)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1) if data else 0
        if kind == 0 and data:  # overwrite a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert bytes
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif kind == 2 and data:  # delete a run
            del data[at : at + rng.randint(1, 12)]
        elif kind == 3:  # an A-XDR tag or a BER length where anything was
            snippet = rng.choice((b"\x00", b"\x01", b"\x02", b"\x09", b"\x16", b"\x13",
                                  b"\x7f", b"\x81\xff", b"\x82\xff\xff", b"\x84\xff\xff\xff\xff",
                                  b"\x85\x01\x01\x01\x01\x01", b"\x01\x01" * 20))
            data[at : at + len(snippet)] = snippet
        elif kind == 4:  # the entry count
            data[BODY + 5 : BODY + 6] = bytes((rng.randrange(256),))
        else:  # truncate
            del data[at:]
    return bytes(data)


@pytest.mark.slow
def test_random_mutations_raise_only_decode_errors() -> None:
    rng = random.Random(20250617)
    seeds = [bytes.fromhex(e["hex"]) for e in CZECH]
    outcomes = {"parsed": 0, "rejected": 0}
    for _ in range(20_000):
        apdu = _mutate(rng, rng.choice(seeds))
        offset = rng.choice((BODY, BODY, BODY, rng.randrange(len(apdu) + 2)))
        assert isinstance(looks_untagged(apdu, offset), bool)
        try:
            entries, end = parse_untagged(apdu, offset)
        except DecodeError:  # TruncatedError included; any other exception fails the test
            outcomes["rejected"] += 1
            continue
        assert offset < end <= len(apdu)
        assert len(entries) * 12 <= end - offset
        outcomes["parsed"] += 1
    assert outcomes["parsed"] > 100 and outcomes["rejected"] > 100


def test_impossible_counts_are_refused_before_looping() -> None:
    head = bytes.fromhex("0F0000000100") + bytes.fromhex("02021601")
    with pytest.raises(TruncatedError):
        parse_untagged(head + b"\x01\x82\xff\xff" + b"\x02\x02" + bytes(10), BODY)
    with pytest.raises(DecodeError):
        parse_untagged(head + b"\x01\x84\xff\xff\xff\xff", BODY)
    with pytest.raises(DecodeError):
        parse_untagged(head + b"\x01\x80", BODY)  # BER 0x80: indefinite, impossible here
    assert parse_untagged(head + b"\x01\x00", BODY) == ([], len(head) + 2)


def test_wrong_heads_are_decode_errors() -> None:
    apdu = bytes.fromhex(CZECH[0]["hex"])
    for at, byte in ((BODY, 0x01), (BODY + 1, 0x03), (BODY + 2, 0x11), (BODY + 4, 0x02),
                     (BODY + 6, 0x01), (BODY + 7, 0x03)):
        broken = apdu[:at] + bytes((byte,)) + apdu[at + 1 :]
        with pytest.raises(DecodeError):
            parse_untagged(broken, BODY)
        assert not looks_untagged(broken, BODY)


def test_simulator_bodies_are_not_untagged() -> None:
    plaintexts = simulated_plaintexts()
    assert plaintexts
    for apdu in plaintexts:
        notification, _ = parse_notification(apdu)
        assert not looks_untagged(apdu, notification.body_offset)
        for offset in range(len(apdu)):  # nor anywhere inside them
            assert not looks_untagged(apdu, offset)


def test_other_bare_apdus_in_the_corpus_are_not_untagged() -> None:
    others = [bytes.fromhex(e["hex"]) for e in _corpus()
              if not e["id"].startswith("cz_") and e["hex"][:2].upper() == "0F"]
    assert others
    for apdu in others:
        assert not looks_untagged(apdu, _body_offset(apdu))


def test_captured_plaintexts_are_not_untagged() -> None:
    """Every decodable capture (shared vectors and corpus) except the Czech ones."""
    czech = {bytes.fromhex(e["hex"]) for e in CZECH}
    plaintexts = [p for p in captured_plaintexts() if p not in czech]
    assert plaintexts
    for apdu in plaintexts:
        if len(apdu) > 6:
            assert not looks_untagged(apdu, _body_offset(apdu))


def test_a_synthetic_single_entry_body() -> None:
    descriptor = b"\x00\x03" + bytes((1, 0, 1, 8, 0, 255)) + b"\x02"  # class 3, 1.8.0, attr 2
    entry = b"\x02\x02" + descriptor + b"\x06\x00\x00\x01\x00"
    apdu = bytes.fromhex("0F0000000100") + b"\x02\x02\x16\x01\x01\x01" + entry
    assert looks_untagged(apdu, BODY)
    assert parse_untagged(apdu, BODY) == ([(3, bytes((1, 0, 1, 8, 0, 255)), 2,
                                            (axdr.UINT32, 256))], len(apdu))
    assert not looks_untagged(apdu + b"\x00", BODY)  # one entry, then a stray byte
