"""Our own corpus of real pushes (tests/corpus/): every frame decodes to its checked values.

Each entry was published by another project, an issue thread or an operator document (its
``source`` and ``source_date`` say where and when); its ``expected`` values were checked
against the physics of the frame (``judgement``), not copied on trust. A frame whose link
checksum is broken must give no reading. No real frame may raise ``implausible_values``
except where the list itself cannot say its units (``KNOWN_GAPS``, with the reason).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import BY_ID as SHARED
from conftest import VECTORS, feed_all, feed_ways, same_moment
from smartmeter_readout import Decoder, Reading, layout_from_config
from smartmeter_readout.events import EventKind

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CORPUS: list[dict[str, Any]] = [entry for path in sorted(CORPUS_DIR.glob("*.json"))
                                for entry in json.loads(path.read_text(encoding="utf-8"))]
BY_ID = {entry["id"]: entry for entry in CORPUS}
OBIS_KEY = re.compile(r"^\d+\.\d+\.\d+\.\d+\.\d+\.\d+$")

# What a push cannot tell us, so the reader cannot either: (entry, OBIS) -> the reason. The
# test asserts what the reader does instead, so a change shows.
KNOWN_GAPS: dict[tuple[str, str], tuple[int, str]] = {  # -> (factor the reader gives, why)
    **{("se_kamstrup_omnipower_list2_3p_gh239", code): (10, (
        "Swedish Kamstrup meters count energy in Wh, Norwegian ones in 10 Wh, with the same "
        "list id and body shape: the reader applies the documented (Norwegian) 10 Wh"))
       for code in ("1.1.1.8.0.255", "1.1.2.8.0.255", "1.1.3.8.0.255", "1.1.4.8.0.255")},
    **{("dk_kamstrup_omnipower_ct_dlmspush1", code): (10, (
        "a current-transformer meter sends mA where the list documents 0.01 A: the reader "
        "keeps the documented unit and reports implausible_values (currents 10x too large)"))
       for code in ("1.1.31.7.0.255", "1.1.51.7.0.255", "1.1.71.7.0.255")},
}
IMPLAUSIBLE_EXPECTED = {"dk_kamstrup_omnipower_ct_dlmspush1"}


def _key(code: str, want: dict[str, Any]) -> str:
    attribute = want.get("attribute")
    return f"{code}:attr{attribute}" if attribute not in (None, 2) else code


def _decoder(entry: dict[str, Any]) -> Decoder:
    """An entry's ``layout`` is the [layouts.<name>] table a user would write for a list
    without OBIS codes; ``timezone`` the meter's, where its clock gives no deviation."""
    layouts = [layout_from_config(entry["id"], entry["layout"])] if "layout" in entry else []
    return Decoder(entry.get("key"), entry.get("auth_key"),
                   timezone=entry.get("timezone", "Europe/Vienna"), layouts=layouts)


def check(reading: Reading, entry: dict[str, Any]) -> None:
    for code, want in entry["expected"].items():
        if code == "timestamp":  # sources print the clock to the second
            moment = reading.time.replace(microsecond=0) if reading.time else None
            assert same_moment(moment, want), (reading.time, want)
            continue
        if not isinstance(want, dict) or not OBIS_KEY.match(code):
            continue  # meter_number and unnamed positions are checked elsewhere or not at all
        value = want.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        got = reading.values.get(_key(code, want))
        assert got is not None, (code, sorted(reading.values))
        factor, _why = KNOWN_GAPS.get((entry["id"], code), (1, ""))
        assert got.value == pytest.approx(value * factor, rel=1e-12), (code, got, want)
        if want.get("unit") not in (None, ""):
            assert got.unit == want["unit"], (code, got, want)


@pytest.mark.parametrize("entry_id", sorted(BY_ID))
def test_corpus_frame_decodes_to_its_checked_values_every_way(entry_id: str) -> None:
    entry = BY_ID[entry_id]
    for way, chunks in feed_ways(bytes.fromhex(entry["hex"])).items():
        decoder = _decoder(entry)
        readings = feed_all(decoder, chunks)
        events = decoder.take_events()
        if entry.get("checksum_ok") is False:
            assert readings == [], way
            broken = decoder.stats[EventKind.BAD_FRAME] + decoder.stats[EventKind.MALFORMED]
            assert broken >= 1, (way, decoder.stats)  # the link's or the telegram's CRC
            continue
        more = entry.get("more_readings", [])  # several notifications in one frame
        assert len(readings) == 1 + len(more), (way, decoder.stats, events[-3:])
        check(readings[0], entry)
        for reading, expected in zip(readings[1:], more, strict=True):
            check(reading, {**entry, "expected": expected})
        implausible = [event for event in events if event.kind is EventKind.IMPLAUSIBLE]
        if entry_id in IMPLAUSIBLE_EXPECTED:
            assert implausible, way
        else:
            assert not implausible, (way, implausible)


def test_every_entry_says_where_it_comes_from_and_how_it_was_judged() -> None:
    shared = {vector["hex"].upper() for vector in VECTORS}
    seen: set[str] = set()
    for entry in CORPUS:
        for field in ("id", "source", "source_date", "maker", "country", "framing", "hex",
                      "expected", "judgement"):
            assert entry.get(field) not in (None, ""), (entry["id"], field)
        assert entry["hex"].upper() not in shared, entry["id"]  # beyond ../shared/vectors
        assert entry["hex"].upper() not in seen, entry["id"]
        seen.add(entry["hex"].upper())


def test_corpus_spans_makers_and_countries() -> None:
    makers = {entry["maker"].split()[0].lower() for entry in CORPUS}
    countries = {entry["country"].upper() for entry in CORPUS}
    assert len(CORPUS) >= 60, len(CORPUS)
    assert len(makers) >= 10, sorted(makers)
    assert len(countries) >= 10, sorted(countries)


def test_a_list_scaled_wrong_on_purpose_is_reported() -> None:
    """The shared Klagenfurt E450 push (5 W, 0.04 A at 234 V) read as if the list's
    currents were in A instead of 0.01 A: 4 A at 234 V cannot carry 5 W and no var."""
    vector = SHARED["at_klagenfurt_lg_e450_gbt"]
    decoder = Decoder(vector["key"])
    reading = decoder.feed(bytes.fromhex(vector["hex"]))[0]
    assert not [e for e in decoder.take_events() if e.kind is EventKind.IMPLAUSIBLE]
    from smartmeter_readout.cosem.plausibility import PlausibilityCheck
    wrong = dict(reading.values)
    for code in ("1.0.31.7.0.255", "1.0.51.7.0.255", "1.0.71.7.0.255"):
        name, value, unit = wrong[code]
        wrong[code] = type(wrong[code])(name, value * 100, unit)
    findings = PlausibilityCheck().check(wrong)
    assert findings and findings[0].factor == pytest.approx(0.01)
    assert "100x too large" in findings[0].message


E450_11 = "at_lg_e450_list11_tasmota_23027"
_E450_11_FIELDS = [("1.0.32.7.0.255", 0, "V"), ("1.0.52.7.0.255", 0, "V"),
                   ("1.0.72.7.0.255", 0, "V"), ("1.0.31.7.0.255", -2, "A"),
                   ("1.0.51.7.0.255", -2, "A"), ("1.0.71.7.0.255", -2, "A"),
                   ("1.0.1.7.0.255", 0, "W"), ("1.0.2.7.0.255", 0, "W"),
                   ("1.0.1.8.0.255", 0, "Wh"), ("1.0.2.8.0.255", 0, "Wh")]


@pytest.mark.parametrize("wrong", ["voltages_and_currents_swapped", "currents_in_amperes",
                                   "powers_swapped_with_energies"])
def test_a_wrong_mapping_of_the_e450_list_of_11_is_reported(wrong: str) -> None:
    """The catalogue's reading of the 11-element list passes the physics; the same push read
    through a wrong table (described as a user would, so it is tried first) does not. (Currents
    in 0.1 A would pass: power factor 0.08 is within what the check allows a single push.)"""
    fields = [dict(zip(("obis", "scaler", "unit"), field, strict=True))
              for field in _E450_11_FIELDS]
    if wrong == "voltages_and_currents_swapped":
        fields[0:3], fields[3:6] = fields[3:6], fields[0:3]
    elif wrong == "currents_in_amperes":
        for field in fields[3:6]:
            field["scaler"] = 0
    else:
        fields[6:8], fields[8:10] = fields[8:10], fields[6:8]
    layout = layout_from_config("wrong", {"fields": [*fields, {"kind": "meter_id"}]})
    frame = bytes.fromhex(BY_ID[E450_11]["hex"])
    right = Decoder()
    [reading] = right.feed(frame)
    assert reading.layout == "netzburgenland 11"
    assert not [e for e in right.take_events() if e.kind is EventKind.IMPLAUSIBLE]
    decoder = Decoder(layouts=[layout])
    [reading] = decoder.feed(frame)
    assert reading.layout == "wrong"
    assert [e for e in decoder.take_events() if e.kind is EventKind.IMPLAUSIBLE], wrong
