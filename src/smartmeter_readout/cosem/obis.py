"""The OBIS registry: one stable snake_case name and the base unit per code (IEC 62056-6-1).

Lookups ignore the B field (channel) and F field (billing period, 255 = current), so Kamstrup's
``1.1.32.7.0.255`` is ``voltage_l1`` like everyone else's. Codes not listed get a name built
from their fields, e.g. ``obis_1_0_99_1_0``, which is just as stable.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..message import N_

__all__ = ["OBIS_REGISTRY", "format_obis", "obis_info", "parse_obis"]

# (A, C, D, E) -> (name, unit); unit None: not a number (identifiers, clocks, texts)
OBIS_REGISTRY: dict[tuple[int, int, int, int], tuple[str, str | None]] = {
    (0, 1, 0, 0): ("clock", None),
    (0, 42, 0, 0): ("device_name", None),
    (0, 96, 1, 0): ("meter_id", None),
    (0, 96, 1, 1): ("meter_id_2", None),
    (0, 96, 1, 7): ("meter_type", None),
    (0, 96, 1, 2): ("meter_id_3", None),
    (0, 96, 14, 0): ("tariff", None),
    (0, 96, 13, 0): ("text_message", None),
    (0, 96, 7, 21): ("power_failures", ""),
    (0, 96, 7, 9): ("long_power_failures", ""),
    (0, 96, 3, 10): ("breaker_state", ""),
    (0, 17, 0, 0): ("limiter_threshold", "W"),
    (0, 25, 9, 0): ("push_setup", None),
    (1, 0, 0, 1): ("meter_serial", None),
    (1, 0, 0, 5): ("meter_serial", None),
    (1, 0, 2, 0): ("firmware_version", None),
    (1, 0, 2, 8): ("dsmr_version", None),
    (1, 1, 7, 0): ("active_power_import", "W"),
    (1, 2, 7, 0): ("active_power_export", "W"),
    (1, 3, 7, 0): ("reactive_power_import", "var"),
    (1, 4, 7, 0): ("reactive_power_export", "var"),
    (1, 9, 7, 0): ("apparent_power_import", "VA"),
    (1, 10, 7, 0): ("apparent_power_export", "VA"),
    (1, 16, 7, 0): ("active_power_net", "W"),
    (1, 13, 7, 0): ("power_factor", ""),
    (1, 14, 7, 0): ("frequency", "Hz"),
    (1, 1, 8, 0): ("active_energy_import", "Wh"),
    (1, 2, 8, 0): ("active_energy_export", "Wh"),
    (1, 3, 8, 0): ("reactive_energy_import", "varh"),
    (1, 4, 8, 0): ("reactive_energy_export", "varh"),
    (1, 5, 8, 0): ("reactive_energy_q1", "varh"),
    (1, 6, 8, 0): ("reactive_energy_q2", "varh"),
    (1, 7, 8, 0): ("reactive_energy_q3", "varh"),
    (1, 8, 8, 0): ("reactive_energy_q4", "varh"),
    (1, 9, 8, 0): ("apparent_energy_import", "VAh"),
    (1, 10, 8, 0): ("apparent_energy_export", "VAh"),
    (1, 15, 8, 0): ("active_energy_absolute", "Wh"),
    (1, 16, 8, 0): ("active_energy_net", "Wh"),
    (1, 1, 128, 0): ("collection_register", "Wh"),  # Netz OÖ AMIS: the Inkassozählwerk
}
for _tariff in (1, 2, 3, 4):
    for _c, _base, _unit in ((1, "active_energy_import", "Wh"), (2, "active_energy_export", "Wh"),
                             (3, "reactive_energy_import", "varh"),
                             (4, "reactive_energy_export", "varh")):
        OBIS_REGISTRY[(1, _c, 8, _tariff)] = (f"{_base}_t{_tariff}", _unit)
for _phase, _offset in ((1, 20), (2, 40), (3, 60)):
    for _c, _base, _unit in (
        (1, "active_power_import", "W"), (2, "active_power_export", "W"),
        (3, "reactive_power_import", "var"), (4, "reactive_power_export", "var"),
        (9, "apparent_power_import", "VA"), (10, "apparent_power_export", "VA"),
        (11, "current", "A"), (12, "voltage", "V"), (13, "power_factor", ""),
    ):
        OBIS_REGISTRY[(1, _offset + _c, 7, 0)] = (f"{_base}_l{_phase}", _unit)
    for _c, _base, _unit in ((1, "active_energy_import", "Wh"), (2, "active_energy_export", "Wh"),
                             (3, "reactive_energy_import", "varh"),
                             (4, "reactive_energy_export", "varh")):
        OBIS_REGISTRY[(1, _offset + _c, 8, 0)] = (f"{_base}_l{_phase}", _unit)
OBIS_REGISTRY[(1, 91, 7, 0)] = ("current_neutral", "A")
# phase angles (C=81, D=7): E=40/51/62 current L1/L2/L3 against voltage of the same phase
for _e, _name in ((10, "angle_u2_u1"), (20, "angle_u3_u1"), (40, "angle_i1_u1"),
                  (51, "angle_i2_u2"), (62, "angle_i3_u3")):
    OBIS_REGISTRY[(1, 81, 7, _e)] = (_name, "deg")
del _tariff, _c, _base, _unit, _phase, _offset, _e, _name


def format_obis(code: bytes | bytearray) -> str:
    """Six OBIS bytes as ``A.B.C.D.E.F``."""
    return "{}.{}.{}.{}.{}.{}".format(*code)


def parse_obis(text: str) -> bytes:
    """``1.0.32.7.0.255`` (or ``1-0:32.7.0.255``, ``1-0:32.7.0``) -> six bytes."""
    parts = text.replace("-", ".").replace(":", ".").replace("*", ".").split(".")
    if len(parts) == 5:
        parts.append("255")
    if len(parts) != 6 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ConfigError(N_("{text!r} is no OBIS code like 1.0.32.7.0.255"), text=text)
    return bytes(int(p) for p in parts)


def obis_info(code: bytes | bytearray) -> tuple[str, str | None]:
    """Name and base unit of a code (ignoring channel and billing period)."""
    info = OBIS_REGISTRY.get((code[0], code[2], code[3], code[4]))
    if info is not None:
        return info
    return "obis_{}_{}_{}_{}_{}".format(*code[:5]), None
