"""The positional layouts this reader knows: bodies without OBIS codes, as data.

Each entry names a body shape by its element count and types (``PositionalField`` kinds, see
``layouts``), optionally the maker (system-title prefix) and a list id that must match, and
gives every position its OBIS code, scaler and unit as the operator or maker documents it.
A comment above each entry says where the table comes from. ``layouts`` turns the entries
into ``PositionalLayout`` objects and tries them in this order.
"""

from __future__ import annotations

__all__ = ["CATALOG", "Entry", "Spec"]

Spec = tuple[str, str | None, int, str | None]  # kind, OBIS code, scaler, unit
Entry = tuple[str, list[Spec], str | None, str | None]  # name, fields, maker, list id


def _energy_and_power(reactive_power: bool) -> list[Spec]:
    spec: list[Spec] = [
        ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
        ("number", "1.0.3.8.0.255", 0, "varh"), ("number", "1.0.4.8.0.255", 0, "varh"),
        ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
    ]
    if reactive_power:
        spec += [("number", "1.0.3.7.0.255", 0, "var"), ("number", "1.0.4.7.0.255", 0, "var")]
    return spec


_PHASES3 = ("1.0.32.7.0.255", "1.0.52.7.0.255", "1.0.72.7.0.255")
_CURRENTS3 = ("1.0.31.7.0.255", "1.0.51.7.0.255", "1.0.71.7.0.255")


def _norway_kaifa(phases: int, with_energy: bool) -> Entry:
    spec: list[Spec] = [
        ("list_id", None, 0, None), ("string", "0.0.96.1.0.255", 0, None),
        ("string", "0.0.96.1.7.255", 0, None),
        ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
        ("number", "1.0.3.7.0.255", 0, "var"), ("number", "1.0.4.7.0.255", 0, "var"),
    ]
    spec += [("number", code, -3, "A") for code in _CURRENTS3[:phases]]
    spec += [("number", code, -1, "V") for code in _PHASES3[:phases]]
    if with_energy:
        spec += [("datetime", None, 0, None),
                 ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
                 ("number", "1.0.3.8.0.255", 0, "varh"), ("number", "1.0.4.8.0.255", 0, "varh")]
    name = f"D3 Kaifa KFM_001 list {3 if with_energy else 2} ({phases}-phase)"
    return (name, spec, None, "KFM_001")


CATALOG: list[Entry] = [
    # D1 Wiener Netze: date-time, +A, -A, +R, -R, +P, -P, +Q, -Q
    ("D1", [("datetime", None, 0, None), *_energy_and_power(True)], None, None),
    # D2 Kärnten Netz / eww Wels: push setup name, meter id, time, date, +A -A +R -R +P -P
    ("D2", [("push_setup", None, 0, None), ("string", "0.0.96.1.0.255", 0, None),
            ("time", None, 0, None), ("date", None, 0, None),
            *_energy_and_power(False)], None, None),
    ("D2", [("string", "0.0.96.1.0.255", 0, None), ("push_setup", None, 0, None),
            ("time", None, 0, None), ("date", None, 0, None),
            *_energy_and_power(False)], None, None),
    # Netz Burgenland L+G E450: U1-3, I1-3 (0.01 A), +P, -P, +A, -A, three angles, meter id
    ("netzburgenland", [
        *(("number", code, 0, "V") for code in _PHASES3),
        *(("number", code, -2, "A") for code in _CURRENTS3),
        ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
        ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
        ("number", "1.0.81.7.40.255", 0, "deg"), ("number", "1.0.81.7.51.255", 0, "deg"),
        ("number", "1.0.81.7.62.255", 0, "deg"), ("string", "0.0.96.1.0.255", 0, None),
    ], "LGZ", None),
    _norway_kaifa(3, False), _norway_kaifa(1, False),
    _norway_kaifa(3, True), _norway_kaifa(1, True),
]
