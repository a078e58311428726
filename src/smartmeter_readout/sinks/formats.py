"""Render readings for people and programs: table, JSON, JSON lines, CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import TextIO

from ..i18n import N_, _, decimal_mark
from ..reading import Reading

__all__ = ["FORMATS", "LABELS", "decimal", "human", "label", "render"]

FORMATS = ("table", "json", "jsonl", "csv")
LABELS = {
    "voltage_l1": N_("Voltage L1"), "voltage_l2": N_("Voltage L2"), "voltage_l3": N_("Voltage L3"),
    "current_l1": N_("Current L1"), "current_l2": N_("Current L2"), "current_l3": N_("Current L3"),
    "active_power_import": N_("Power import"), "active_power_export": N_("Power export"),
    "reactive_power_import": N_("Reactive power import"),
    "reactive_power_export": N_("Reactive power export"),
    "active_energy_import": N_("Energy import"), "active_energy_export": N_("Energy export"),
    "reactive_energy_import": N_("Reactive energy import"),
    "reactive_energy_export": N_("Reactive energy export"), "power_factor": N_("Power factor"),
}

# the rest of the OBIS registry's names, for tables people read (Home Assistant keeps LABELS)
_MORE_LABELS = {
    "device_name": N_("Device name"), "meter_id": N_("Meter number"),
    "meter_id_2": N_("Meter number 2"), "meter_id_3": N_("Meter number 3"),
    "meter_type": N_("Meter type"), "meter_serial": N_("Serial number"),
    "firmware_version": N_("Firmware version"), "dsmr_version": N_("DSMR version"),
    "tariff": N_("Tariff"), "text_message": N_("Text message"),
    "power_failures": N_("Power failures"), "long_power_failures": N_("Long power failures"),
    "breaker_state": N_("Breaker state"), "limiter_threshold": N_("Limiter threshold"),
    "push_setup": N_("Push setup"), "frequency": N_("Frequency"),
    "apparent_power_import": N_("Apparent power import"),
    "apparent_power_export": N_("Apparent power export"),
    "active_power_net": N_("Net power"), "active_energy_net": N_("Net energy"),
    "active_energy_absolute": N_("Energy import + export"),
    "apparent_energy_import": N_("Apparent energy import"),
    "apparent_energy_export": N_("Apparent energy export"),
    "reactive_energy_q1": N_("Reactive energy Q1"), "reactive_energy_q2": N_("Reactive energy Q2"),
    "reactive_energy_q3": N_("Reactive energy Q3"), "reactive_energy_q4": N_("Reactive energy Q4"),
    "collection_register": N_("Collection register"), "current_neutral": N_("Current N"),
    "angle_u2_u1": N_("Phase angle U2-U1"), "angle_u3_u1": N_("Phase angle U3-U1"),
    "angle_i1_u1": N_("Phase angle I1-U1"), "angle_i2_u2": N_("Phase angle I2-U2"),
    "angle_i3_u3": N_("Phase angle I3-U3"),
}
_SUFFIX = re.compile(r"(.+)_([lt][1-4])")


def label(name: str) -> str:
    """A value's name for people, in their language: ``Energy import T1``, ``Power factor L2``;
    a name nobody labelled (``obis_1_0_99_1_0``) as it is."""
    known = LABELS.get(name) or _MORE_LABELS.get(name)
    if known:
        return _(known)
    split = _SUFFIX.fullmatch(name)
    if split and (split[1] in LABELS or split[1] in _MORE_LABELS):
        return f"{label(split[1])} {split[2].upper()}"
    return name


def decimal(text: str) -> str:
    """A number's text with the decimal mark of the user's language (tables only; JSON and
    CSV keep the point)."""
    mark = decimal_mark()
    return text if mark == "." else text.replace(".", mark)


def human(value: object, unit: str | None) -> tuple[str, str]:
    """Energy in kWh (kvarh) as the original script printed it; everything else in its base
    unit."""
    if unit in ("Wh", "varh") and isinstance(value, int | float):
        return f"{value / 1000:.3f}", "k" + unit
    if isinstance(value, float):
        return f"{value:g}", unit or ""
    return str(value), unit or ""


def table(reading: Reading) -> str:
    meter = reading.meter
    who = " ".join(part for part in (meter.name and f"{meter.name}:", meter.manufacturer,
                                     meter.id or meter.system_title) if part)
    stamp = reading.time.isoformat(sep=" ") if reading.time else "-"
    lines = [_("Timestamp: {time}").format(time=stamp) + (
                 "" if reading.meter_time else " " + _("(received)")),
             _("Meter: {meter}").format(meter=who or "-") + (
                 "  " + _("frame counter {number}").format(number=reading.frame_counter)
                 if reading.frame_counter is not None else "")]
    rows = []
    for key, measurement in reading.values.items():
        if measurement.name == "clock":
            continue
        value, unit = human(measurement.value, measurement.unit)
        if isinstance(measurement.value, int | float):
            value = decimal(value)
        rows.append((label(measurement.name), value, unit, key))
    width = max((len(row[0]) for row in rows), default=0)
    vwidth = max((len(row[1]) for row in rows), default=0)
    lines += [f"  {name:<{width}}  {value:>{vwidth}} {unit:<5} {key}"
              for name, value, unit, key in rows]
    return "\n".join(lines) + "\n"


def csv_text(readings: Sequence[Reading], header: bool = True,
             columns: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """Wide CSV: one row per reading, one column per value name (units in the header)."""
    if columns is None:
        seen: dict[str, None] = {}
        for reading in readings:
            for measurement in reading.values.values():
                if measurement.name != "clock":
                    seen.setdefault(_column(measurement.name, measurement.unit))
        columns = list(seen)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(["time", "meter", "frame_counter", *columns])
    for reading in readings:
        by_column = {_column(m.name, m.unit): m.value for m in reading.values.values()}
        writer.writerow([reading.time.isoformat() if reading.time else "",
                         reading.meter.name or reading.meter.id or reading.meter.system_title
                         or "",
                         "" if reading.frame_counter is None else reading.frame_counter,
                         *(by_column.get(column, "") for column in columns)])
    return out.getvalue(), list(columns)


def _column(name: str, unit: str | None) -> str:
    return f"{name}_{unit}" if unit else name


def render(readings: Iterable[Reading], fmt: str) -> str:
    readings = list(readings)
    if fmt == "json":
        return json.dumps([r.to_dict() for r in readings], indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in readings)
    if fmt == "csv":
        return csv_text(readings)[0]
    return "\n".join(table(r) for r in readings)


class Printer:
    """Readings printed one by one as they come, in one format: what ``decode`` and the
    console output share. ``json_array`` makes the JSON of all readings one array, written
    as it grows (``close`` ends it); without it each reading is an array of one."""

    def __init__(self, fmt: str, stream: TextIO, *, json_array: bool = False) -> None:
        self.format, self.stream, self.json_array = fmt, stream, json_array
        self.count = 0
        self._columns: list[str] | None = None

    def print(self, reading: Reading) -> None:
        if self.format == "jsonl":
            text = json.dumps(reading.to_dict(), ensure_ascii=False) + "\n"
        elif self.format == "csv":
            text, self._columns = csv_text([reading], header=self._columns is None,
                                           columns=self._columns)
        elif self.format == "json" and self.json_array:
            text = textwrap.indent(json.dumps(reading.to_dict(), indent=2, ensure_ascii=False),
                                   "  ")
            text = ("[\n" if not self.count else ",\n") + text
        else:
            text = render([reading], self.format)
            if self.format == "table" and self.count:
                text = "\n" + text
        self.count += 1
        self.stream.write(text)

    def close(self) -> None:
        if self.format == "json" and self.json_array and self.count:
            self.stream.write("\n]\n")
