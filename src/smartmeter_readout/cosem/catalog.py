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


_PHASE_POWERS_IMPORT = ("1.0.21.7.0.255", "1.0.41.7.0.255", "1.0.61.7.0.255")
_PHASE_POWERS_EXPORT = ("1.0.22.7.0.255", "1.0.42.7.0.255", "1.0.62.7.0.255")
_NAME: Spec = ("string", "0.0.42.0.0.255", 0, None)  # Iskraemeco logical device name (os16)
_POWERS4: list[Spec] = [  # +P, -P (W), +Q, -Q (var)
    ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
    ("number", "1.0.3.7.0.255", 0, "var"), ("number", "1.0.4.7.0.255", 0, "var"),
]
_VOLTAGES_DV: list[Spec] = [("number", code, -1, "V") for code in _PHASES3]  # 0.1 V
_CURRENTS_CA: list[Spec] = [("number", code, -2, "A") for code in _CURRENTS3]  # 0.01 A
_TARIFF_ENERGIES: list[Spec] = [
    ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.1.8.1.255", 0, "Wh"),
    ("number", "1.0.1.8.2.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
    ("number", "1.0.2.8.1.255", 0, "Wh"), ("number", "1.0.2.8.2.255", 0, "Wh"),
]


# the L+G E450 lists of Netz Burgenland begin alike: U1-3 (V), I1-3 (0.01 A), +P -P, +A -A
_E450_AT: list[Spec] = [
    *(("number", code, 0, "V") for code in _PHASES3),
    *(("number", code, -2, "A") for code in _CURRENTS3),
    ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
    ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
]


def _ljubljana_energy(state: Spec) -> list[Spec]:
    """Elektro Ljubljana's 15-minute energy list; ``state`` reads position 3."""
    return [_NAME, ("string", "0.0.96.1.3.255", 0, None), state,
            ("octet_number", "0.0.96.14.0.255", 0, ""), *_TARIFF_ENERGIES,
            ("number", "1.0.3.8.0.255", 0, "varh"), ("number", "1.0.4.8.0.255", 0, "varh")]


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
    # Kärnten Netz (KELAG) Iskraemeco AM550, 12 elements: the D2 list plus two empty octet
    # strings. Table: Oesterreichs Energie "Konzept Kundenschnittstelle", data model variant 1
    # (push setup, meter number, time, date, 1.8.0, 2.8.0, 3.8.0, 4.8.0, 1.7.0, 2.7.0,
    # 96.13.0, 96.13.1; copy in UtilitechAS/amsreader-firmware@a88a0beb doc/Austria/
    # Smart.meter.customer.interfaces.Austria.pdf), the same order as athombv/node-dsmr-parser
    # @997a0f57 IskraList.ts. Resolution: no scaler on the wire, integer counts are Wh, varh
    # and W (both decoders; +A grew 28.8 kWh and -A 47.7 kWh in 17 May days of a PV house).
    # The 1.7.0/2.7.0 order is not confirmed by a KELAG document (not public). The meter
    # number is keyed 0-0:96.1.0 as in D2 (the concept writes 0-0:96.1.1).
    ("D2 Kaernten Netz AM550", [
        ("push_setup", None, 0, None), ("string", "0.0.96.1.0.255", 0, None),
        ("time", None, 0, None), ("date", None, 0, None), *_energy_and_power(False),
        ("string", "0.0.96.13.0.255", 0, None), ("string", "0.0.96.13.1.255", 0, None),
    ], None, None),
    # Wiener Netze Siemens IM350, IR interface, 10 elements: meter id (os16), date-time, then
    # D1's +A -A +R -R +P -P +Q -Q. Table: Wiener Netze customer interface
    # (https://www.wienernetze.at/smart-meter-kundenschnittstelle; Oesterreichs Energie
    # concept, variant 3), read the same way by rddl-network/EnergyAgent
    # smart_meter_tests/legacy.py. Resolution Wh/varh/W/var, scaler 0 as for D1. Must come
    # before the Slovenian 10-element list, whose second string would accept the date-time.
    ("D1 Wiener Netze IM350", [
        ("string", "0.0.96.1.0.255", 0, None), ("datetime", None, 0, None),
        *_energy_and_power(True),
    ], None, None),
    # Netz Burgenland L+G E450: U1-3, I1-3 (0.01 A), +P, -P, +A, -A, three angles, meter id
    ("netzburgenland", [
        *_E450_AT, ("number", "1.0.81.7.40.255", 0, "deg"),
        ("number", "1.0.81.7.51.255", 0, "deg"), ("number", "1.0.81.7.62.255", 0, "deg"),
        ("string", "0.0.96.1.0.255", 0, None),
    ], "LGZ", None),
    # The same E450 list without the three angles, 11 elements: U1-3 (long-unsigned, whole
    # volts), I1-3 (0.01 A), +P, -P (W), +A, -A (Wh), meter number. Table: amsreader-firmware
    # "LNG2 with 11 data points" (UtilitechAS/amsreader-firmware@a88a0beb src/LNG2.h
    # Lng2Data_3p_0b, PR #1049 "L&G in Austria", 2025-10-23), the 14-element list's order
    # and resolutions less positions 11-13. Capture: the decrypted body in
    # https://github.com/arendst/Tasmota/issues/23027 (2025-02-18): 228/226/230 V, 7.81/
    # 14.82/6.43 A, 5432 W: sum U*I 6609 VA, power factor 0.82 (0.1 A would make it 0.08,
    # whole amperes 0.008). No maker required: that capture comes without its system title
    # (Netz Burgenland's frames of this length carry LGZ, tasmota issue 8790, 2023-05-02);
    # no other list here has its shape (six numbers, four numbers, a string).
    ("netzburgenland 11", [*_E450_AT, ("string", "0.0.96.1.0.255", 0, None)], None, None),
    _norway_kaifa(3, False), _norway_kaifa(1, False),
    _norway_kaifa(3, True), _norway_kaifa(1, True),
    # Norwegian Kaifa KFM_001 list 1 (every 2 s): a structure of ONE element, active power
    # import. Table and resolution: Kaifa "HAN OBIS codes KFM_001" (NEK, 21.03.2017; copy in
    # UtilitechAS/amsreader-firmware@a88a0beb doc/Norway/): power "xxx,xxx kW" = 1 W. Only a
    # bare number matches: Aidon's list 1 is an array of one {OBIS, value, scaler-unit}
    # structure and stays with the OBIS walker.
    ("D3 Kaifa KFM_001 list 1", [("number", "1.0.1.7.0.255", 0, "W")], None, None),
    # --- Iskraemeco lists of Slovenia and Croatia: no OBIS codes, no scalers, no list id the
    # layout could require (the Slovenian list-id strings vary between meters and are kept as
    # values), and unciphered, so no maker from a system title either. They are told apart by
    # element count and kinds. Where no operator document is public the table is the one two
    # independent decoders agree on: UtilitechAS/amsreader-firmware@a88a0beb9c57b33bf9417522a
    # 894958f300e45e3 src/decoder/src/IEC6205675.cpp (Iskra branches) and athombv/node-dsmr-
    # parser@997a0f57d4b32008e5df90f1f1fb888a61e4814b src/protocols/dlms-payload/ECEList*.ts.
    #
    # Elektro Ljubljana AM550 (3-phase), 1 s / 5 s instantaneous list, 18 elements: device
    # name, list id "16820005" (or "ISK8..." on other meters) as 0-0:96.1.2, P+ P- Q+ Q-,
    # U1-3, I1-3, P+L1-3, P-L1-3. Table: the operator's (sent to customers as images, amsreader
    # issue 956) as coded by both decoders. Resolution U 0.1 V, I 0.01 A, P W, Q var: both
    # decoders, and physics (P+L1+L2+L3 = P+ within 2 W, sqrt(P^2+Q^2) <= sum U*I).
    ("SI Elektro Ljubljana AM550 list 18", [
        _NAME, ("string", "0.0.96.1.2.255", 0, None), *_POWERS4, *_VOLTAGES_DV, *_CURRENTS_CA,
        *(("number", code, 0, "W") for code in _PHASE_POWERS_IMPORT),
        *(("number", code, 0, "W") for code in _PHASE_POWERS_EXPORT),
    ], None, None),
    # Elektro Ljubljana AM550, 15-minute energy list, 12 elements: device name, list id
    # "16820006" as 0-0:96.1.3 (empty on newer meters), disconnect control state 96.3.10,
    # current tariff 96.14.0 (os2, 0001 = T1: read as the number 1), 1.8.0-1.8.2 and
    # 2.8.0-2.8.2 Wh, 3.8.0 4.8.0 varh. Table: both decoders (amsreader branch "length
    # 0x0C", athombv ECEList2.ts). Resolution Wh: 1.8.1 + 1.8.2 = 1.8.0 and 2.8.1 + 2.8.2 =
    # 2.8.0 exactly; 10 Wh would make 620 kWh/day of PV export.
    # Position 3 is an enum in the 2023 captures and a boolean in the 2025 one: a number
    # position takes both (a boolean as 0/1).
    ("SI Elektro Ljubljana AM550 list 12",
     _ljubljana_energy(("number", "0.0.96.3.10.255", 0, None)), None, None),
    # Elektro Celje AM550 (3-phase) "UP_3f", 12 elements: device name, list id "UP_3f" (as
    # amsreader, 0-0:96.1.2), U1-3, I1-3, P+ P- Q+ Q-. Told from the Ljubljana energy list by
    # position 4 (number here, tariff string there). Table: amsreader branch "length 0x0C,
    # element 3 long-unsigned" only (no operator text). Resolution U 0.1 V, I 0.01 A, W, var:
    # amsreader, and physics (2399 W with sum U*I 2459 VA, PF 0.97).
    ("SI Elektro Celje AM550 UP_3f", [
        _NAME, ("string", "0.0.96.1.2.255", 0, None), *_VOLTAGES_DV, *_CURRENTS_CA, *_POWERS4,
    ], None, None),
    # Elektro Ljubljana single-phase AM550-ED1.21, 1 s list, 9 elements: device name, 96.1.2,
    # P+ P- Q+ Q-, U1, then two counters amsreader alone names 2.8.1 / 2.8.2 (always 0 in the
    # captures: unverified). Resolution U 0.1 V (0x0909 = 231.3 V), W, var, Wh: amsreader.
    # Must come after D1 (9 elements), whose date-time a string position would accept.
    ("SI Elektro Ljubljana AM550 list 9", [
        _NAME, ("string", "0.0.96.1.2.255", 0, None), *_POWERS4, _VOLTAGES_DV[0],
        ("number", "1.0.2.8.1.255", 0, "Wh"), ("number", "1.0.2.8.2.255", 0, "Wh"),
    ], None, None),
    # Elektro Ljubljana AM550 (3-phase, supplier GEN-I), 9-element energy list: device name,
    # P+ P- W, 1.8.0-1.8.2, 2.8.0-2.8.2 Wh. Table: amsreader branch "length 0x09, element 7
    # double-long-unsigned" (written with question marks there), confirmed by arithmetic:
    # 1.8.1 + 1.8.2 = 1.8.0 and 2.8.1 + 2.8.2 = 2.8.0 exactly; Wh also matches the 4-element
    # list of the same meter one second earlier. After D1 for the same reason as list 9.
    ("SI Elektro Ljubljana AM550 list 9 energy", [
        _NAME, ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
        *_TARIFF_ENERGIES,
    ], None, None),
    # Elektro Ljubljana single-phase AM550-ED1.21, 10 elements: device name, 96.1.2,
    # P+ P- Q+ Q-, U1 (0.1 V), I1 (0.01 A), P+L1, P-L1 (W). Table: amsreader branch "length
    # 0x0A, element 7 long-unsigned"; physics: 540 W at 233.6 V x 2.78 A = 649 VA, P+L1 = P+.
    # amsreader's other 10-element list (element 7 a u32: 96.1.3 and eight tariff energies,
    # no capture known) has the same kinds and would be read as this one. After the Wiener
    # Netze IM350 list, whose date-time string this list's second position would accept.
    ("SI Elektro Ljubljana AM550 list 10", [
        _NAME, ("string", "0.0.96.1.2.255", 0, None), *_POWERS4, _VOLTAGES_DV[0],
        _CURRENTS_CA[0], ("number", "1.0.21.7.0.255", 0, "W"),
        ("number", "1.0.22.7.0.255", 0, "W"),
    ], None, None),
    # Elektro Ljubljana AM550, 15-minute list of the 9-element meters, 4 elements: meter
    # serial (os8, 0-0:96.1.0), an unknown u8 (always 0: skipped), 1.8.0 and 2.8.0 Wh.
    # Table: amsreader branch "length 0x04" ("1.8.0?", "2.8.0?"); confirmed by the same
    # meter's 9-element lists: +151 Wh per 15 min at about 600 W, and 1.8.0/2.8.0 equal to
    # the energy list one second later.
    ("SI Elektro Ljubljana AM550 list 4", [
        ("string", "0.0.96.1.0.255", 0, None), ("ignore", None, 0, None),
        ("number", "1.0.1.8.0.255", 0, "Wh"), ("number", "1.0.2.8.0.255", 0, "Wh"),
    ], None, None),
    # HEP ODS (Elektra Zabok, Croatia) Iskraemeco IE.5, 33 elements: serial (os8, 96.1.0),
    # time (os4), date (os5), 1.8.0-1.8.2 2.8.0-2.8.2 Wh, 5.8.0-8.8.0 varh, P+ P- W, power
    # factor 13.7.0 (0.001), P+L1-3, P-L1-3 W, U1-3 (0.1 V), I1-3 (0.01 A); positions 29
    # (u32), 30-32 (array of one u16) and 33 (boolean) are mapped nowhere and skipped. Table:
    # "IE.5_P1_port_readout.xlsx" attached to amsreader issue 1072 (https://github.com/user-
    # attachments/files/23891555/IE.5_P1_port_readout.xlsx), coded in amsreader PR 1107
    # (branch "length 0x21", positions 4-28); resolutions from the comment and
    # confirmed by tariff sums (exact) and P+L1+L2+L3 = P+ within 1 W.
    ("HR HEP IE.5 list 33", [
        ("string", "0.0.96.1.0.255", 0, None), ("time", None, 0, None), ("date", None, 0, None),
        *_TARIFF_ENERGIES,
        *(("number", f"1.0.{c}.8.0.255", 0, "varh") for c in (5, 6, 7, 8)),
        ("number", "1.0.1.7.0.255", 0, "W"), ("number", "1.0.2.7.0.255", 0, "W"),
        ("number", "1.0.13.7.0.255", -3, None),
        *(("number", code, 0, "W") for code in _PHASE_POWERS_IMPORT),
        *(("number", code, 0, "W") for code in _PHASE_POWERS_EXPORT),
        *_VOLTAGES_DV, *_CURRENTS_CA,
        *(("ignore", None, 0, None) for _ in range(5)),
    ], None, None),
]
