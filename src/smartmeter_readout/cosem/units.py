"""Units: the DLMS unit enumeration, and the one spelling every reading carries.

Readings carry the base units of the JSON contract (``Wh``, ``varh``, ``VAh``, ``W``, ``var``,
``VA``, ``V``, ``A``, ``Hz``, ``J``, ``m³``), one spelling per unit, whatever the meter wrote:
DSMR text says ``kWh``, ``kvarh``, ``kVArh``, ``VAr`` or ``KWH``, M-Bus records may give
their unit as text, and users describe layouts in their own spelling. ``base_unit`` is the
one place where such text becomes a base unit and a power of ten.
"""

from __future__ import annotations

__all__ = ["UNIT_SYMBOLS", "base_unit", "unit_symbol"]

UNIT_SYMBOLS: dict[int, str] = {
    1: "a", 2: "mo", 3: "wk", 4: "d", 5: "h", 6: "min", 7: "s", 8: "deg", 9: "°C",
    10: "currency", 11: "m", 12: "m/s", 13: "m³", 14: "m³", 15: "m³/h", 16: "m³/h",
    17: "m³/d", 18: "m³/d", 19: "l", 20: "kg", 21: "N", 22: "Nm", 23: "Pa", 24: "bar",
    25: "J", 26: "J/h", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh", 32: "varh",
    33: "A", 34: "C", 35: "V", 36: "V/m", 37: "F", 38: "Ω", 39: "Ωm²/m", 40: "Wb", 41: "T",
    42: "A/m", 43: "H", 44: "Hz", 45: "1/(Wh)", 46: "1/(varh)", 47: "1/(VAh)", 48: "V²h",
    49: "A²h", 50: "kg/s", 51: "S", 52: "K", 53: "1/(V²h)", 54: "1/(A²h)", 55: "1/m³",
    56: "%", 57: "Ah", 60: "Wh/m³", 61: "J/m³", 62: "mol%", 63: "g/m³", 64: "Pa s",
    65: "J/kg", 66: "g/cm²", 67: "atm", 70: "dBm", 71: "dBµV", 72: "dB", 254: "", 255: "",
}

# the base units a prefix may stand before, by their lower-case spelling (meters write VArh,
# Varh, varh and VARH alike); "a" is not here: as text it is the ampere, never the year
_BASES = {"wh": "Wh", "varh": "varh", "vah": "VAh", "w": "W", "var": "var", "va": "VA",
          "v": "V", "a": "A", "hz": "Hz", "j": "J"}
# prefixes as written (case matters: M is mega; a lower-case m before a unit is not read)
_PREFIXES = {"k": 3, "K": 3, "M": 6, "G": 9}
_VOLUMES = {"m3": "m³", "m³": "m³", "m^3": "m³", "m3/h": "m³/h", "m³/h": "m³/h"}


def unit_symbol(code: int) -> str:
    return UNIT_SYMBOLS.get(code, f"unit{code}")


def base_unit(text: str) -> tuple[str, int]:
    """A unit as a meter or a user writes it -> (base unit, power of ten to apply to the
    value): ``kVArh`` -> (``varh``, 3), ``KWH`` -> (``Wh``, 3), ``VAr`` -> (``var``, 0),
    ``m3`` -> (``m³``, 0). Text that names no known unit comes back as it is, with 0."""
    spelled = text.strip()
    lower = spelled.lower()
    base = _BASES.get(lower) or _VOLUMES.get(lower)
    if base is not None:
        return base, 0
    if len(spelled) > 1 and spelled[0] in _PREFIXES:
        base = _BASES.get(lower[1:])
        if base is not None:
            return base, _PREFIXES[spelled[0]]
    return spelled, 0
