"""`history` for people and programs: a table that fits a terminal, CSV in a stable order,
chosen columns, and a clear word when there is nothing to show."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartmeter_readout import Decoder
from smartmeter_readout.cli.main import main
from smartmeter_readout.history.store import HistoryStore
from smartmeter_readout.sim.simulator import Simulator

KEY = bytes(range(16))
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of the simulated Kaifa meter, one reading each 10 s."""
    path = tmp_path_factory.mktemp("history") / "h.sqlite"
    sim, decoder = Simulator("vkw", key=KEY, seed=3), Decoder(KEY)
    readings = []
    for i in range(720):
        readings += decoder.feed(sim.push(T0 + timedelta(seconds=10 * i)).wire)
    store = HistoryStore(path)
    store.write(readings)
    store.close()
    return path


def history(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", "--since", "2026-03-01T00:00Z", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_fits_a_terminal_and_shows_energy_in_kwh(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = history(capsys, "--sqlite", str(db), "--step", "1h")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3  # a header and two hours
    assert all(len(line) <= 120 and "=" not in line for line in lines)
    # the energy of each hour, not the counter reading: headed as such
    assert lines[0].split()[:5] == ["Start", "Import", "kWh", "Export", "kWh"]
    assert "Power import W max" in lines[0]
    _, csv_out, _ = history(capsys, "--sqlite", str(db), "--step", "1h", "--format", "csv",
                            "--columns", "active_energy_export")
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    exported = float(rows[0]["active_energy_export_delta_Wh"]) / 1000
    assert f"{exported:.3f}" in lines[1].split()


def test_csv_has_every_value_in_obis_order(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = history(capsys, "--sqlite", str(db), "--format", "csv")
    _, later, _ = history(capsys, "--sqlite", str(db), "--format", "csv", "--since",
                          "2026-03-01T11:00Z")
    header = first.splitlines()[0].split(",")
    assert header == later.splitlines()[0].split(",")  # the same, whatever the range
    assert header[:3] == ["start", "end", "meter"]
    assert len(set(header)) == len(header)
    assert header.index("active_power_import_mean_W") < header.index(
        "active_energy_import_delta_Wh") < header.index("current_l1_mean_A") < header.index(
        "voltage_l3_max_V")  # 1.0.1.7 < 1.0.1.8 < 1.0.31.7 < 1.0.72.7
    assert len(first.splitlines()) == 1 + 8  # two hours of quarter hours
    _, raw, _ = history(capsys, "--sqlite", str(db), "--step", "raw", "--format", "csv")
    raw_header = raw.splitlines()[0].split(",")
    assert raw_header[:3] == ["time", "meter", "frame_counter"]
    assert raw_header[3] == "active_power_import_W" and "meter_id" not in raw_header
    assert len(raw.splitlines()) == 1 + 720


def test_chosen_columns_in_the_order_given(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = history(capsys, "--sqlite", str(db), "--step", "1h", "--columns",
                           "voltage_l1:min,voltage_l1:max,1.0.31.7.0.255")
    assert code == 0
    heads = [cell.strip() for cell in out.splitlines()[0].split("  ") if cell.strip()]
    assert heads == ["Start", "Voltage L1 V min", "Voltage L1 V max", "Current L1 A avg"]
    code, _, err = history(capsys, "--sqlite", str(db), "--columns", "volts")
    assert code == 2 and "--columns volts: no such value" in err and "voltage_l1" in err
    code, _, err = history(capsys, "--sqlite", str(db), "--step", "raw", "--columns",
                           "voltage_l1:max")
    assert code == 2 and "raw readings have one value each" in err


def test_nothing_to_show_says_so(db: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = history(capsys, "--sqlite", str(db), "--since", "2026-05-01T00:00Z")
    assert code == 0 and out == ""
    assert "nothing stored from 2026-05-01" in err and "holds 2026-03-01 11:00" in err
    empty = tmp_path / "empty.sqlite"
    HistoryStore(empty).close()
    code, out, err = history(capsys, "--sqlite", str(empty), "--format", "csv")
    assert code == 0 and out == "start,end,meter\n"
    assert "holds no readings yet" in err and "smartmeter-readout run" in err


def test_summary_and_peaks_on_the_command_line(db: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = history(capsys, "--sqlite", str(db), "--summary", "--format", "json")
    assert code == 0
    year = json.loads(out)["periods"]["this_year"]  # the two hours of 1 March
    _, hours, _ = history(capsys, "--sqlite", str(db), "--step", "1h", "--format", "json")
    delta = sum(h["values"]["1.0.1.8.0.255"]["delta"] for h in json.loads(hours))
    assert year["import_wh"] == pytest.approx(delta, abs=0.01)
    code, out, _ = history(capsys, "--sqlite", str(db), "--summary")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Period", "Import", "kWh"]
    assert lines[5].startswith("This year") and f"{year['import_wh'] / 1000:.3f}" in lines[5]
    code, out, _ = history(capsys, "--sqlite", str(db), "--peaks")
    assert code == 0 and out.splitlines()[1].startswith("2026-03-01")
    code, _, err = history(capsys, "--sqlite", str(db), "--peaks", "--step", "1h")
    assert code == 2 and "peaks are per day (1d) or month (1mo)" in err


def test_costs_are_settled_again_only_when_asked(db: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, _, err = history(capsys, "--sqlite", str(db), "--recompute-cost")
    assert code == 2 and "needs a [tariff]" in err
    config = tmp_path / "c.toml"
    config.write_text("[tariff]\nenergy_price = 0.25\n")
    code, _, err = history(capsys, "--sqlite", str(db), "--config", str(config),
                           "--recompute-cost")
    assert code == 0 and "0 quarter hours dropped, 8 settled" in err
    _, out, _ = history(capsys, "--sqlite", str(db), "--costs", "--format", "json")
    [day] = json.loads(out)
    _, out, _ = history(capsys, "--sqlite", str(db), "--summary", "--format", "json")
    year = json.loads(out)["periods"]["this_year"]
    assert day["energy"] == pytest.approx(year["import_wh"] / 1000 * 0.25, abs=0.006)
    config.write_text("[tariff]\nenergy_price = 0.50\n")
    code, _, err = history(capsys, "--sqlite", str(db), "--config", str(config),
                           "--recompute-cost")
    assert "8 quarter hours dropped, 8 settled" in err
    _, out, _ = history(capsys, "--sqlite", str(db), "--costs", "--format", "json")
    assert json.loads(out)[0]["energy"] == pytest.approx(2 * day["energy"], abs=0.011)
    code, out, _ = history(capsys, "--sqlite", str(db), "--costs")
    assert out.splitlines()[0].split() == ["Day", "Energy", "EUR", "Feed-in", "EUR", "Fees",
                                           "EUR", "Total", "EUR"]
