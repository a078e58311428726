"""The positional layouts of ``cosem/catalog.py`` read the real captures of tests/corpus/.

Each capture's ``expected`` comes from its source (the decoders and documents named in the
entry's ``units_source``); every numeric value keyed by an OBIS code must come out exactly
(floats too: 2314 with scaler -1 is the float nearest 231.4) with the same unit.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from smartmeter_readout import Reading, decode

CORPUS = Path(__file__).resolve().parent / "corpus"
ENTRIES: dict[str, dict[str, Any]] = {
    entry["id"]: entry
    for name in ("east.json", "austria.json", "nordic.json")
    for entry in json.loads((CORPUS / name).read_text(encoding="utf-8"))
}
OBIS_KEY = re.compile(r"^\d+\.\d+\.\d+\.\d+\.\d+\.\d+$")

# capture id -> the layout that must read it
LAYOUT_OF: dict[str, str] = {
    **{f"si_elektroljubljana_iskra_am550_list18_{n}": "SI Elektro Ljubljana AM550 list 18"
       for n in ("615_1", "615_3", "615_5", "615_6", "956_1", "osvariant")},
    **{i: "SI Elektro Ljubljana AM550 list 12"
       for i in ("si_elektroljubljana_iskra_am550_list12_615_2",
                 "si_elektroljubljana_iskra_am550_list12_615_4",
                 "si_elektroljubljana_iskra_am550_list12_956_2",
                 "si_iskra_am550_list12_boolvariant")},
    "si_elektrocelje_iskra_am550_up3f_615_8": "SI Elektro Celje AM550 UP_3f",
    "si_elektrocelje_iskra_am550_up3f_615_9": "SI Elektro Celje AM550 UP_3f",
    **{f"si_elektroljubljana_iskra_am550_list9_869_{n}": "SI Elektro Ljubljana AM550 list 9"
       for n in (1, 2, 5)},
    "si_elektroljubljana_iskra_am550_list9e_869_6": "SI Elektro Ljubljana AM550 list 9 energy",
    **{f"si_elektroljubljana_iskra_am550_list4_869_{n}": "SI Elektro Ljubljana AM550 list 4"
       for n in (3, 4, 7)},
    "si_elektroljubljana_iskra_am550_list10_869_8": "SI Elektro Ljubljana AM550 list 10",
    "hr_elektrazabok_iskra_ie5_list33_1072_3": "HR HEP IE.5 list 33",
    "hr_elektrazabok_iskra_ie5_list33_1072_4": "HR HEP IE.5 list 33",
    "at_kelag_iskra_am550_iskralist12_787_1": "D2 Kaernten Netz AM550",
    "at_kelag_iskra_am550_iskralist12_787_8": "D2 Kaernten Netz AM550",
    **{f"at_kaerntennetz_iskraemeco_am550_{n}": "D2 Kaernten Netz AM550" for n in (1, 2, 5, 8, 9)},
    "at_wienernetze_siemens_im350_ir": "D1 Wiener Netze IM350",
    "no_kaifa_ma304h3e_list1_gh180": "D3 Kaifa KFM_001 list 1",
}

# (capture id, OBIS) the positional kinds cannot produce as the source's number:
# the current tariff 0-0:96.14.0 is an os2 (0001 = T1), which the catalog keeps as hex
TARIFF_AS_HEX = {
    (i, "0.0.96.14.0.255"): ENTRIES[i]["expected"]["0.0.96.14.0.255"]["raw_hex"].upper()
    for i in LAYOUT_OF if "0.0.96.14.0.255" in ENTRIES[i]["expected"]
}
# the 2025 variant sends the disconnect control state as a boolean, which no number kind
# accepts: that layout skips the position
SKIPPED = {("si_iskra_am550_list12_boolvariant", "0.0.96.3.10.255")}


def read(capture_id: str) -> Reading:
    entry = ENTRIES[capture_id]
    readings = decode(bytes.fromhex(entry["hex"]), key=entry["key"])
    assert len(readings) == 1, capture_id
    return readings[0]


def numeric_expectations(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (key, want) for key, want in entry["expected"].items()
        if OBIS_KEY.match(key) and isinstance(want, dict)
        and isinstance(want.get("value"), (int, float)) and not isinstance(want["value"], bool)
    ]


@pytest.mark.parametrize("capture_id", sorted(LAYOUT_OF))
def test_capture_reads_its_numbers_exactly(capture_id: str) -> None:
    entry = ENTRIES[capture_id]
    reading = read(capture_id)
    assert reading.layout == LAYOUT_OF[capture_id]
    checked = 0
    for key, want in numeric_expectations(entry):
        if (capture_id, key) in TARIFF_AS_HEX:
            assert reading.values[key].value == TARIFF_AS_HEX[capture_id, key]
            continue
        if (capture_id, key) in SKIPPED:
            assert key not in reading.values
            continue
        got = reading.values[key]
        assert got.value == want["value"], (key, got, want)
        assert type(got.value) is type(want["value"]), (key, got, want)
        # the corpus writes null for some dimensionless numbers (power factor, control
        # state) where the registry and the other captures say "" (a number without unit)
        unit = want.get("unit")
        assert got.unit == ("" if unit is None else unit), (key, got, want)
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("capture_id", sorted(LAYOUT_OF))
def test_capture_identity_and_clock(capture_id: str) -> None:
    entry = ENTRIES[capture_id]
    reading = read(capture_id)
    expected = entry["expected"]
    if "timestamp" in expected:
        wanted = datetime.fromisoformat(expected["timestamp"])
        assert reading.time is not None
        if wanted.tzinfo is None:  # a clock without deviation: the meter's wall clock
            assert reading.time.replace(tzinfo=None) == wanted
        else:
            assert reading.time == wanted and reading.time.utcoffset() == wanted.utcoffset()
    if "meter_number" in expected:
        want = expected["meter_number"]
        assert reading.meter.id == (want["value"] if isinstance(want, dict) else want)
    elif "0.0.96.1.0.255" in expected:
        assert reading.meter.id == expected["0.0.96.1.0.255"]["value"]
    if "push_setup_logical_name" in expected:
        assert reading.meter.list_id == expected["push_setup_logical_name"]["value"]
    for key in ("0.0.42.0.0.255", "0.0.96.1.2.255", "0.0.96.1.3.255"):
        if key in expected:
            assert reading.values[key].value == expected[key]["value"]


def test_aidon_list1_stays_with_the_obis_walker() -> None:
    # one element too, but a structure {OBIS, value, scaler-unit}, not a bare number
    reading = read("no_aidon_6534_list1_hassams")
    assert reading.layout == "A"
    assert reading.values["1.0.1.7.0.255"].value == 733
    assert reading.values["1.0.1.7.0.255"].unit == "W"


def test_no_other_capture_is_taken_by_a_new_layout() -> None:
    new_layouts = set(LAYOUT_OF.values())
    for capture_id, entry in ENTRIES.items():
        if capture_id in LAYOUT_OF:
            continue
        for reading in decode(bytes.fromhex(entry["hex"]), key=entry["key"]):
            assert reading.layout not in new_layouts, (capture_id, reading.layout)
