"""Render readings for people and programs: table, JSON, JSON lines, CSV."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Iterable, Sequence
from typing import TextIO

from ..i18n import N_, _
from ..reading import Reading

__all__ = ["FORMATS", "LABELS", "render"]

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


def _human(value: object, unit: str | None) -> tuple[str, str]:
    """Energy in kWh as the original script printed it; everything else in its base unit."""
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
        label = _(LABELS[measurement.name]) if measurement.name in LABELS \
            else measurement.name
        value, unit = _human(measurement.value, measurement.unit)
        rows.append((label, value, unit, key))
    width = max((len(row[0]) for row in rows), default=0)
    vwidth = max((len(row[1]) for row in rows), default=0)
    lines += [f"  {label:<{width}}  {value:>{vwidth}} {unit:<5} {key}"
              for label, value, unit, key in rows]
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
