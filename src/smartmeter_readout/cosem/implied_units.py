"""Units of values that arrive without a scaler: what the maker documents, per list.

Landis+Gyr E450 push object lists, Kamstrup's ``Kamstrup_V0001`` lists, Kaifa's Swedish OBIS
list and the Iskraemeco/L+G lists of the Swiss 2026 push carry an OBIS code and a bare integer
per value: the resolution is fixed by the meter's configuration and written in the maker's or
operator's interface description, not sent. Handing out the raw count gives a household 333 A.

Theory of operation. ``imply_units(body, maker)`` runs once per new body shape (the fast-path
template keeps the result), only for bodies that sent no scaler at all (layouts C and E):

1. The table below is chosen by maker (system-title prefix, or the logical device name's for
   unencrypted pushes) and list id; each value's ``(C, D, E)`` code picks its scaler and unit.
2. Voltages and frequencies are also calibrated by the grid: a mains voltage lies between 80
   and 500 V and a mains frequency between 45 and 65 Hz, ranges narrower than a factor of ten,
   so at most one power of ten puts a non-zero raw value there. Where the table's resolution
   puts the value above its range, the finer resolution that fits is taken. This overrides the table
   (makers change voltage resolution between firmware configurations: the same Swiss 2026
   push sends 236 from an E450 and 2347 from an E360 or AM550) and covers lists nobody
   documented. Currents and energies have no such range; they take the table or stay raw,
   and the plausibility check (``plausibility``) names the factor when they do not fit.

Each table names its sources; where sources disagree the reasoning is written beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..reading import Measurement
from .body import NUMBER, Body, scale
from .obis import parse_obis

__all__ = ["UNIT_TABLES", "UnitTable", "find_table", "imply_units"]

Units = Mapping[tuple[int, int, int], tuple[int, str]]  # (C, D, E) -> (scaler, unit)


@dataclass(frozen=True, slots=True)
class UnitTable:
    name: str
    maker: str | None  # system-title / logical-device-name prefix that must match
    list_id: str | None  # the body's list id that must match
    units: Units
    source: str
    layout: str | None = None  # the body layout that must match (E: push object list)


def _phases(c_offsets: tuple[int, ...], d: int, scaler: int, unit: str
            ) -> dict[tuple[int, int, int], tuple[int, str]]:
    return {(c, d, 0): (scaler, unit) for c in c_offsets}


_POWER = {**_phases((1, 2, 21, 22, 41, 42, 61, 62), 7, 0, "W"),
          **_phases((3, 4, 23, 24, 43, 44, 63, 64), 7, 0, "var"),
          **_phases((9, 10), 7, 0, "VA")}
_CURRENTS = (31, 51, 71, 91)
_VOLTAGES = (32, 52, 72)
_POWER_FACTORS = (13, 33, 53, 73)


def _energy(scaler: int) -> dict[tuple[int, int, int], tuple[int, str]]:
    units: dict[tuple[int, int, int], tuple[int, str]] = {}
    for tariff in range(5):
        units.update(_phases((1, 2, 21, 22, 41, 42, 61, 62, 15, 16), 8, scaler, "Wh"))
        for c in (1, 2, 15, 16):
            units[(c, 8, tariff)] = (scaler, "Wh")
        for c in (3, 4, 5, 6, 7, 8):
            units[(c, 8, tariff)] = (scaler, "varh")
        for c in (9, 10):
            units[(c, 8, tariff)] = (scaler, "VAh")
    return units


UNIT_TABLES: tuple[UnitTable, ...] = (
    # Kamstrup Omnipower, list Kamstrup_V0001 (Norway, Denmark; Sweden see below).
    # Kamstrup "HAN-NVE interface description" rev 3.1, sections 2.7.1/2.8.1, unit/scaler column
    # (https://www.nek.no/wp-content/uploads/2018/10/Kamstrup-HAN-NVE-interface-description_rev_3_1.pdf)
    # and NEK "OBIS List Information" for Kamstrup_V0001 (12.05.2016): P/Q 1 W/var, current
    # 0.01 A, voltage 1 V, energy 10 Wh/varh. Two consecutive hourly Norwegian pushes agree
    # (236 counts in an hour at 1.2-2 kW: 2.36 kWh). Kamstrup's Danish OMNIPOWER HAN spec
    # (5512-2584 GB A2 11-2019) gives units only and says scalers are a meter configuration;
    # Danish decoders (esp8266-kamstrup-mqtt, amsreader) use the same 10 Wh and 0.01 A.
    # Sweden: users of amsreader (issues 239, 874) saw energy 10x too high with 10 Wh, and its
    # maintainer calls the Swedish frame "Wh instead of Wh/10"; Swedish and Norwegian pushes
    # carry the same list id, so the push cannot tell them apart: we keep the documented
    # 10 Wh, and the energy check over time (``energy_scale``) finds a meter counting Wh
    # within two hourly lists and reads it in Wh from then on.
    # Denmark: the encrypted pushes (security 0x30, system title KAM...) carry the same list
    # id and codes; no Danish operator document in reach gives their energy resolution, and
    # what is public counts 10 Wh: a Radius customer's reader (jbonde/electricitymonitor
    # meter.py) multiplies 1.1.1.8.0.255 by 10 to get Wh and logs it beside the integral of
    # its power, amsreader multiplies every Kamstrup counter by 10 for its many Danish users.
    # The resolution is a configuration operators change remotely (a Kamstrup 6841138's
    # counter suddenly read ten times higher in hass-AMS issue 108; a Swedish operator moved
    # its meters to three kWh decimals, amsreader issue 811), so neither encryption nor the
    # system title can decide it: the table keeps 10 Wh and the energy check over time
    # decides per meter.
    # Power factor: no document gives it; 0.01 fits every capture (P/S = 0.94 for raw 94),
    # so it is kept as the percentage it is (unit %, the DLMS unit 56), not rescaled.
    # A Danish CT-connected meter sends mA and a Bornholm meter 0.01 V: voltages are
    # calibrated by the grid (above); the CT meter's currents stay 10x high and are flagged.
    UnitTable("Kamstrup_V0001", None, "Kamstrup_V0001", {
        **_POWER, **_energy(1),
        **_phases(_CURRENTS, 7, -2, "A"), **_phases(_VOLTAGES, 7, 0, "V"),
        **_phases(_POWER_FACTORS, 7, 0, "%"),
    }, "Kamstrup HAN-NVE interface description rev 3.1; NEK OBIS list information"),
    # Kaifa MA304/MA105 Swedish OBIS list (list id 1.0.0.2.129.255 = KFM_001, no scalers).
    # Kaifa's KFM_001 sheet (NEK OBIS list information, 21.03.2017) says voltage "xxx.x V"
    # (0.1 V), power "xxx,xxx kW" (1 W), energy "xxxxxxxx.xxx kWh" (1 Wh) and current
    # "xxx.x A"; every capture sends current in mA (7087 with 2269 W at 236.7 V: 709 A at
    # 0.1 A, 7.1 A at 1 mA) and amshan, hass-AMS and amsreader all divide by 1000: 0.001 A.
    UnitTable("Kaifa KFM_001 (OBIS list)", None, "KFM_001", {
        **_POWER, **_energy(0),
        **_phases(_CURRENTS, 7, -3, "A"), **_phases(_VOLTAGES, 7, -1, "V"),
    }, "Kaifa HAN OBIS codes KFM_001 (NEK list information); captures for the current"),
    # Landis+Gyr E450/E360/E570 push object lists (Energie Klagenfurt, Swiss CII, Wiener
    # Netze). L+G's CII specification is not public in text; two Netz Burgenland decoders
    # (current "in 10mA"; Tasmota script: current /100, voltage, power, energy unscaled),
    # the AEW report in scs/smartmeter-datacollector issue 40 (raw 106 = 1.06 A) and physics
    # on five captures (Klagenfurt: 5 W at 234 V fits 0.04 A, not 4 A; per-phase powers of a
    # Swiss E450 fit U x I only at 0.01 A) give: power 1 W/var, energy 1 Wh/varh (a lab
    # E450's counter rose 165 Wh in 27.1 h at 6 W), current 0.01 A, voltage 1 V (E450) or
    # 0.1 V (E360: calibrated by the grid), power factor 0.001 (EKZ: 941 = 0.941).
    UnitTable("Landis+Gyr push object list", "LGZ", None, {
        **_POWER, **_energy(0),
        **_phases(_CURRENTS, 7, -2, "A"), **_phases(_VOLTAGES, 7, 0, "V"),
        **_phases(_POWER_FACTORS, 7, -3, ""), (14, 7, 0): (-2, "Hz"),
    }, "Netz Burgenland E450 decoders; scs/smartmeter-datacollector issue 40; physics"),
    # Any push object list (layout E) whose maker the push does not name (unencrypted Swiss
    # E450 pushes carry neither a system title nor a logical device name): the E450 and the
    # Iskraemeco AM550 on the same push configuration agree on current 0.01 A, power 1 W,
    # energy 1 Wh (scs/smartmeter-datacollector's AM550 and E450 readers; physics: the
    # per-phase powers of such a push fit U x I at 0.01 A); their voltages differ (1 V, 0.1 V)
    # and are calibrated by the grid.
    UnitTable("push object list", None, None, {
        **_POWER, **_energy(0),
        **_phases(_CURRENTS, 7, -2, "A"), **_phases(_VOLTAGES, 7, 0, "V"),
        **_phases(_POWER_FACTORS, 7, -3, ""),
    }, "scs/smartmeter-datacollector E450/AM550 readers; physics", layout="E"),
)

#: mains ranges narrower than a decade: exactly one power of ten puts a value inside
GRID_RANGES: dict[tuple[int, int], tuple[float, float]] = {
    **{(c, 7): (80.0, 500.0) for c in (12, 32, 52, 72)},
    (14, 7): (45.0, 65.0),
}


def find_table(maker: str | None, list_id: str | None, layout: str) -> UnitTable | None:
    for table in UNIT_TABLES:
        if table.list_id is not None and table.list_id != list_id:
            continue
        if table.layout is not None and table.layout != layout:
            continue
        if table.maker is not None and (maker is None or not maker.startswith(table.maker)):
            continue
        return table
    return None


def grid_scaler(c: int, d: int, raw: object, scaler: int) -> int:
    """``scaler``, or a finer one where only that puts ``raw`` into its mains range.

    Only finer: a meter sends more digits than documented (0.1 V, 0.01 V for 1 V), never
    fewer, and a real voltage below the range (a brown-out, a phase cut off) must stay low.
    """
    span = GRID_RANGES.get((c, d))
    if span is None or type(raw) is not int or raw <= 0:
        return scaler
    low, high = span
    if low <= raw * 10.0**scaler <= high:
        return scaler
    for finer in range(scaler - 1, scaler - 5, -1):
        if low <= raw * 10.0**finer <= high:
            return finer
    return scaler


def _code(key: str) -> bytes | None:
    if ":" in key:  # another attribute than the value (e.g. a push setup's object list)
        return None
    try:
        return parse_obis(key)
    except ValueError:
        return None


def imply_units(body: Body, maker: str | None) -> str | None:
    """Give the unscaled numbers of ``body`` (a ``layouts.Body``) their units, in place.

    Returns the name of the table used, or None when only the grid calibration applied.
    """
    slots = body.slots
    values = body.values
    maker = maker or _prefix(body.device_name)
    table = find_table(maker, body.list_id, body.layout)
    units: Units = table.units if table is not None else {}
    for index, (node, key, name, unit, scaler, kind) in enumerate(slots):
        if kind != NUMBER or scaler:
            continue
        code = _code(key)
        if code is None or code[0] != 1:
            continue
        new_scaler, new_unit = units.get((code[2], code[3], code[4]), (0, unit))
        new_scaler = grid_scaler(code[2], code[3], node[1], new_scaler)
        if (new_scaler, new_unit) == (0, unit):
            continue
        slots[index] = (node, key, name, new_unit, new_scaler, kind)
        values[key] = Measurement(name, scale(node[1], new_scaler), new_unit)
    return table.name if table is not None else None


def _prefix(device_name: str | None) -> str | None:
    """The maker's flag id at the start of a COSEM logical device name (``LGZ1030...``)."""
    if device_name and len(device_name) >= 3 and device_name[:3].isalpha():
        return device_name[:3].upper()
    return None
