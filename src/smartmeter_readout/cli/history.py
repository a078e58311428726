"""The ``history`` command: stored readings and aggregates back, for people and programs.

The table shows a few chosen columns (``--columns``; energy in kWh, one row per interval or
reading) so it fits a terminal. CSV is for programs: every value, its columns ordered by OBIS
code so a script reading them by position keeps working; values in base units (Wh, W, V, A).
JSON is the API's form. A range that holds nothing says so, and what the database holds.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from ..i18n import N_, _
from ..sinks.formats import decimal, label
from .common import EXIT_FAILURE, EXIT_OK, UsageError, load

__all__ = ["COMMANDS", "add_history_command"]

_COUNTER_UNITS = {"Wh", "varh", "VAh"}
_STATS = ("delta", "mean", "min", "max", "last")
_DEFAULT = ("active_energy_import", "active_energy_export", "active_power_import",
            "active_power_import:max", "active_power_export")
_DECIMALS = {"W": 0, "var": 0, "VA": 0, "V": 1, "A": 2, "Hz": 2}  # what a meter resolves
_STEP_ENERGY = {"active_energy_import": N_("Import"), "active_energy_export": N_("Export"),
                "reactive_energy_import": N_("Reactive import"),
                "reactive_energy_export": N_("Reactive export")}  # the energy of the step
_SHORT = {"mean": N_("avg"), "delta": "", "max": N_("max"), "min": N_("min"),
          "last": N_("last")}


class Column(NamedTuple):
    obis: str
    name: str
    unit: str | None
    stat: str  # one of _STATS; "value" for raw readings

    @property
    def csv_name(self) -> str:
        parts = [self.name] + ([self.stat] if self.stat != "value" else [])
        return "_".join(parts + ([self.unit] if self.unit else []))

    @property
    def label(self) -> str:
        unit = f"k{self.unit}" if self.unit in _COUNTER_UNITS else (self.unit or "")
        if self.stat == "delta" and self.name in _STEP_ENERGY:  # not the counter: its rise
            return f"{_(_STEP_ENERGY[self.name])} {unit}"
        stat = _SHORT.get(self.stat, "")
        parts = (label(self.name), unit,
                 _(stat) if stat else "")
        return " ".join(part for part in parts if part)


def add_history_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = sub.add_parser(
        "history", help=_("read the stored readings and aggregates back"),
        description=_("Readings (--step raw) or 1-minute, 15-minute, hourly, daily or monthly "
                    "aggregates from the SQLite history. The table shows energy in kWh per "
                    "interval and power in W; CSV has every value in base units, columns in "
                    "OBIS order."))
    history.add_argument("--config", type=Path, help=_("TOML configuration file"))
    history.add_argument("--sqlite", type=Path, help=_("database file (default: [sqlite] path)"))
    history.add_argument("--since", help=_("start: ISO date/time, or -15m, -2h, -7d, today, "
                                         "yesterday (default -1d)"))
    history.add_argument("--until", help=_("end, same forms (default now)"))
    history.add_argument("--step", choices=("raw", "1m", "15m", "1h", "1d", "1mo"),
                         help=_("default 15m (--peaks: 1d)"))
    history.add_argument("--format", choices=("table", "csv", "json"), default="table",
                         help=_("table for people (default), csv or json for programs"))
    what = history.add_mutually_exclusive_group()
    what.add_argument("--summary", action="store_true",
                      help=_("energy today, yesterday, this month, last month and this year: "
                           "import, export, net, self-supplied share and the peak quarter hour"))
    what.add_argument("--peaks", action="store_true",
                      help=_("the highest quarter hour of import per day (--step 1d, the "
                           "default here) or month (--step 1mo)"))
    what.add_argument("--costs", action="store_true",
                      help=_("what electricity cost per quarter hour, day (--step 1d, the "
                           "default here) or month ([tariff] in the config)"))
    what.add_argument("--recompute-cost", action="store_true",
                      help=_("settle the costs again with the [tariff] as it is now (from "
                           "--since on; default: all); otherwise the past keeps its prices"))
    history.add_argument("--meter", help=_("one meter of several (its name in [[meters]], else "
                                         "its number; default: the one read last)"))
    history.add_argument(
        "--columns", help=_("comma-separated values to show: a name (voltage_l1) or OBIS code, "
                          "with :mean, :min, :max, :last or :delta for intervals; 'all' for "
                          "every one (default for the table: energy in and out, power in "
                          "(avg, max) and out; for CSV: all)"))


def cmd_history(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from ..history.query import HistoryError, HistoryQuery
    from ..service.config import default_data_dir

    config = load(args, {})
    path = args.sqlite or Path(config["sqlite"]["path"] or
                               default_data_dir() / "smartmeter.sqlite")
    if not Path(path).is_file():
        raise UsageError(_("no history at {file}: the service has not stored anything there "
                           "yet (give --sqlite or --config)").format(file=path))
    tz = ZoneInfo(config["meter"]["timezone"])
    if args.recompute_cost:
        return _recompute(args, config, path, tz)
    if args.summary or args.peaks or args.costs:
        return _household(args, path, tz)
    args.step = args.step or "15m"
    since = _when(args.since or "-1d", tz, "--since")
    until = _when(args.until, tz, "--until") if args.until else None
    try:
        store = HistoryQuery(path)
        try:
            if args.step == "raw":
                rows = store.readings(since, until)
            else:
                rows = store.intervals(args.step, since, until, tz)
            extent = store.extent() if not rows else None
        finally:
            store.close()
    except HistoryError as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    raw = args.step == "raw"
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    if not rows:
        print(f"smartmeter-readout: {_nothing(path, since, until, extent, tz)}",
              file=sys.stderr)
        if args.format == "csv":
            sys.stdout.write(csv_text([], [], raw))
    if args.format == "json" or not rows:
        return EXIT_OK
    available = _available(rows, raw)
    spec = args.columns or ("all" if args.format == "csv" else None)
    columns = _chosen(spec, available, raw)
    if args.format == "csv":
        sys.stdout.write(csv_text(rows, columns, raw))
    elif rows:
        sys.stdout.write(table_text(rows, columns, raw, tz))
    return EXIT_OK


def _household(args: argparse.Namespace, path: Path, tz: Any) -> int:
    """``--summary`` and ``--peaks``: what a household asks of its history."""
    from ..history.costs import cost_intervals
    from ..history.query import HistoryError, HistoryQuery
    from ..history.summary import peaks, summary

    now = datetime.now(tz)
    since = until = now
    step = args.step or "1d"
    if args.peaks and step not in ("1d", "1mo"):
        raise UsageError(f"--peaks --step {step}: peaks are per day (1d) or month (1mo)")
    if args.costs and step not in ("15m", "1d", "1mo"):
        raise UsageError(f"--costs --step {step}: costs are per quarter hour (15m), day (1d) "
                         "or month (1mo)")
    try:
        store = HistoryQuery(path)
        try:
            if args.summary:
                data: Any = summary(store, now, tz, args.meter)
            else:
                since = _when(args.since or {"15m": "-1d", "1d": "-31d"}.get(step, "-366d"),
                              tz, "--since")
                until = _when(args.until, tz, "--until") if args.until else now
                find = cost_intervals if args.costs else peaks
                data = find(store, step, since, until, tz, args.meter)
            extent = store.extent()
        finally:
            store.close()
    except HistoryError as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if extent is None:
        print(f"smartmeter-readout: {_nothing(path, now, None, None, tz)}", file=sys.stderr)
    elif not data and args.costs:
        print("smartmeter-readout: " + _(
            "no quarter hour from {since} to {until} is settled yet: a quarter hour's cost is "
            "settled once it has ended, by the service with a [tariff] in its config").format(
                since=_minute(since, tz), until=_minute(until, tz)), file=sys.stderr)
    elif not data and args.peaks:
        print(f"smartmeter-readout: {_nothing(path, since, until, extent, tz)}",
              file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif args.summary:
        sys.stdout.write(_summary_text(data, args.format))
    elif args.costs:
        sys.stdout.write(_costs_text(data, args.format, step))
    else:
        sys.stdout.write(_peaks_text(data, args.format, monthly=step == "1mo"))
    return EXIT_OK


_PERIOD_NAMES = {"today": N_("Today"), "yesterday": N_("Yesterday"),
                 "this_month": N_("This month"), "last_month": N_("Last month"),
                 "this_year": N_("This year")}


def _kwh(wh: float | None) -> str:
    return "-" if wh is None else f"{wh / 1000:.3f}"


def _summary_text(data: dict[str, Any], fmt: str) -> str:
    costs = [p["cost"] for p in data["periods"].values() if p["cost"]]
    currency = costs[0]["currency"] if costs else None
    heads = [_("Period"), _("Import kWh"), _("Export kWh"), _("Net kWh"), _("Self-supplied"),
             _("Peak kW"), _("Peak at"),
             *([_("Cost {currency}").format(currency=currency)] if currency else [])]
    rows = []
    for name, period in data["periods"].items():
        peak = period["peak"]
        share = period["self_supplied_share"]
        cost = period["cost"]
        rows.append([_(_PERIOD_NAMES[name]), _kwh(period["import_wh"]),
                     _kwh(period["export_wh"]),
                     _kwh(period["net_wh"]), "-" if share is None else f"{share:.0%}",
                     "-" if peak is None else f"{peak['w'] / 1000:.2f}",
                     "-" if peak is None else peak["at"][:16].replace("T", " "),
                     *([f"{cost['total']:.2f}" if cost else "-"] if currency else [])])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period", "start", "end", "import_wh", "export_wh", "net_wh",
                         "self_supplied_share", "peak_w", "peak_at", "currency",
                         "energy_cost", "feed_in", "fees", "total_cost"])
        for name, period in data["periods"].items():
            peak = period["peak"] or {}
            cost = period["cost"] or {}
            writer.writerow([name, period["start"], period["end"],
                             *("" if period[k] is None else period[k]
                               for k in ("import_wh", "export_wh", "net_wh",
                                         "self_supplied_share")),
                             peak.get("w", ""), peak.get("at", ""),
                             *(cost.get(k, "") for k in ("currency", "energy", "feed_in",
                                                         "fees", "total"))])
        return out.getvalue()
    meter = _("Meter {meter}").format(meter=data["meter"]) + "\n" if data["meter"] else ""
    return _aligned([heads, *rows], left={0, 6}) + meter


def _peaks_text(rows: list[dict[str, Any]], fmt: str, monthly: bool) -> str:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["start", "peak_w", "peak_at"])
        for row in rows:
            writer.writerow([row["start"], row["w"], row["at"]])
        return out.getvalue()
    if not rows:
        return ""
    body = [[row["start"][:7 if monthly else 10], f"{row['w'] / 1000:.2f}",
             row["at"][:16].replace("T", " ")] for row in rows]
    heads = [_("Month") if monthly else _("Day"), _("Peak kW"), _("Quarter hour from")]
    return _aligned([heads, *body], left={0, 2})


def _costs_text(rows: list[dict[str, Any]], fmt: str, step: str) -> str:
    money = ("cost", "feed_in") if step == "15m" else ("energy", "feed_in", "fees", "total")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        keys = list(rows[0]) if rows else ["start", *money]
        writer.writerow(keys)
        for row in rows:
            writer.writerow([row[key] for key in keys])
        return out.getvalue()
    if not rows:
        return ""
    currency = "" if step == "15m" else f" {rows[0]['currency']}"
    width = {"15m": 16, "1d": 10, "1mo": 7}[step]
    names = {"cost": _("Cost"), "feed_in": _("Feed-in"), "energy": _("Energy"),
             "fees": _("Fees"), "total": _("Total")}
    heads = [{"15m": _("Quarter hour"), "1d": _("Day"), "1mo": _("Month")}[step],
             *(f"{names[name]}{currency}" for name in money)]
    body = [[row["start"][:width].replace("T", " "), *(f"{row[name]:.2f}" for name in money)]
            for row in rows]
    return _aligned([heads, *body], left={0})


def _recompute(args: argparse.Namespace, config: Any, path: Path, tz: Any) -> int:
    from ..history.query import HistoryError
    from ..history.store import HistoryStore
    from ..service.build import build_ledger

    ledger = build_ledger(config)
    if ledger is None:
        raise UsageError(_("--recompute-cost needs a [tariff] in the config (--config FILE)"))
    since = _when(args.since, tz, "--since") if args.since else None
    try:
        store = HistoryStore(path)
        try:
            dropped = store.forget_costs(since.timestamp() if since else 0.0)
            settled = ledger.settle(store, datetime.now(tz))
        finally:
            store.close()
    except HistoryError as exc:
        print(f"smartmeter-readout: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print("smartmeter-readout: " + _("{dropped} quarter hours dropped, {settled} settled with "
                                     "the tariff as it is now").format(
        dropped=dropped, settled=settled), file=sys.stderr)
    return EXIT_OK


_NUMBER = re.compile(r"-?\d+\.\d+%?")


def _aligned(lines: list[list[str]], left: set[int]) -> str:
    """Columns padded to their widest cell: text to the left, numbers to the right, with the
    decimal mark of the user's language (the table is for people; CSV and JSON keep 2.935)."""
    lines = [[decimal(cell) if _NUMBER.fullmatch(cell) else cell for cell in line]
             for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "".join("  ".join(cell.ljust(width) if i in left else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(line, widths, strict=True))
                             ).rstrip() + "\n" for line in lines)


def _when(text: str, tz: Any, option: str) -> Any:
    from ..history.timespec import parse_when

    try:
        return parse_when(text, tz)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None


def _nothing(path: Path, since: datetime, until: datetime | None,
             extent: tuple[datetime, datetime] | None, tz: Any) -> str:
    if extent is None:
        return _("{file} holds no readings yet: the service stores them as it reads the "
                 "meter (smartmeter-readout run)").format(file=path)
    first, last = (moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") for moment in extent)
    asked = since.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    to = until.astimezone(tz).strftime("%Y-%m-%d %H:%M") if until else _("now")
    return _("nothing stored from {since} to {until}; {file} holds {first} to {last} "
             "(choose --since and --until inside it)").format(
                 since=asked, until=to, file=path, first=first, last=last)


def _minute(moment: datetime, tz: Any) -> str:
    return str(moment.astimezone(tz).strftime("%Y-%m-%d %H:%M"))


def _obis_order(obis: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in obis.split("."))
    except ValueError:
        return (999,)


def _available(rows: Sequence[dict[str, Any]], raw: bool) -> list[Column]:
    """Every value the rows carry (not the clock or the meter's identity), in OBIS order;
    counters first with their delta, everything else with its mean."""
    found: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        for obis, value in row["values"].items():
            if value["name"] in ("clock", "meter_id", "device_name"):
                continue
            if raw and not _numeric(value.get("value")):
                continue
            found.setdefault(obis, (value["name"], value["unit"]))
    columns = []
    for obis in sorted(found, key=_obis_order):
        name, unit = found[obis]
        if raw:
            columns.append(Column(obis, name, unit, "value"))
        elif unit in _COUNTER_UNITS:
            columns += [Column(obis, name, unit, "delta"), Column(obis, name, unit, "last")]
        else:
            columns += [Column(obis, name, unit, stat) for stat in ("mean", "min", "max")]
    return columns


def _chosen(spec: str | None, available: list[Column], raw: bool) -> list[Column]:
    if spec is not None and spec.strip() == "all":
        return available
    by_key: dict[tuple[str, str], Column] = {}
    for column in available:
        for word in (column.name, column.obis):
            by_key.setdefault((word, column.stat), column)
            by_key.setdefault((word, ""), column)  # the first: delta or mean, or the value
    if spec is None:
        picked = [by_key[key] for key in map(_parse, _DEFAULT) if key in by_key]
        return picked or available[:6]
    chosen = []
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        key = _parse(part)
        if raw and key[1]:
            raise UsageError(f"--columns {part}: raw readings have one value each; drop "
                             f":{key[1]} (or use --step 1m and the like for {', '.join(_STATS)})")
        if key[1] and key[1] not in _STATS:
            raise UsageError(f"--columns {part}: {key[1]!r} is none of {', '.join(_STATS)}")
        if key not in by_key:
            names = sorted({c.name for c in available})
            raise UsageError(f"--columns {part}: no such value in this range; there are: "
                             f"{', '.join(names) or 'none'}")
        chosen.append(by_key[key])
    return chosen


def _parse(part: str) -> tuple[str, str]:
    name, _, stat = part.partition(":")
    return name.strip(), stat.strip()


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(row: dict[str, Any], column: Column) -> Any:
    value = row["values"].get(column.obis)
    if value is None:
        return None
    return value.get("value" if column.stat == "value" else column.stat)


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[Column], raw: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    first = ["time", "meter", "frame_counter"] if raw else ["start", "end", "meter"]
    writer.writerow([*first, *(column.csv_name for column in columns)])
    for row in rows:
        meter = row["meter"]
        if raw:
            meter = meter.get("id") or meter.get("system_title") or ""
            lead = [row["time"], meter, "" if row["frame_counter"] is None
                    else row["frame_counter"]]
        else:
            lead = [row["start"], row["end"], meter]
        cells = (_cell(row, column) for column in columns)
        writer.writerow([*lead, *("" if cell is None else cell for cell in cells)])
    return out.getvalue()


def table_text(rows: Sequence[dict[str, Any]], columns: Sequence[Column], raw: bool,
               tz: Any) -> str:
    meters = {_meter(row, raw) for row in rows}
    heads = [_("Time") if raw else _("Start"), *([_("Meter")] if len(meters) > 1 else []),
             *(column.label for column in columns)]
    body = []
    for row in rows:
        moment = datetime.fromisoformat(row["time"] if raw else row["start"]).astimezone(tz)
        stamp = moment.strftime("%Y-%m-%d %H:%M:%S" if raw else "%Y-%m-%d %H:%M")
        cells = [_shown(_cell(row, column), column) for column in columns]
        body.append([stamp, *([_meter(row, raw)] if len(meters) > 1 else []), *cells])
    return _aligned([heads, *body], left={0, 1} if len(meters) > 1 else {0})


def _meter(row: dict[str, Any], raw: bool) -> str:
    meter = row["meter"]
    if raw:
        return str(meter.get("id") or meter.get("system_title") or "-")
    return str(meter)


def _shown(value: Any, column: Column) -> str:
    if value is None:
        return "-"
    if not _numeric(value):
        return str(value)
    if column.unit in _COUNTER_UNITS:
        return f"{value / 1000:.3f}"
    decimals = _DECIMALS.get(column.unit or "")
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


COMMANDS = {"history": cmd_history}
