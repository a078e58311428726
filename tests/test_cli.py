"""The decode command: formats, inputs, exit codes, messages without keys or tracebacks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BY_ID, wire

VKW = BY_ID["at_vkw_kaifa_ma309_seed_synthetic"]
KEY = VKW["key"]
CLI = [sys.executable, "-m", "smartmeter_readout"]


def run(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "smartmeter_readout", *args], check=False,
                            input=stdin.decode("latin-1"), capture_output=True, text=True,
                            encoding="latin-1", env=env, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def test_decode_hex_argument_json() -> None:
    result = run("decode", VKW["hex"], "--key", KEY, "--format", "json")
    assert result.returncode == 0, result.stderr
    [reading] = json.loads(result.stdout)
    assert reading["time"] == "2023-08-21T23:23:00+02:00"
    assert reading["meter"]["id"] == "1KFM0200014196"
    assert reading["frame_counter"] == 7014
    assert reading["values"]["1.0.32.7.0.255"] == {"name": "voltage_l1", "value": 232.9,
                                                    "unit": "V"}
    assert KEY.lower() not in (result.stdout + result.stderr).lower()


def test_decode_table_like_the_original_script() -> None:
    result = run("decode", VKW["hex"], "--key", KEY)
    assert result.returncode == 0
    assert "Timestamp: 2023-08-21 23:23:00+02:00" in result.stdout
    assert "Voltage L1" in result.stdout and "232.9 V" in result.stdout
    assert "77.130 kWh" in result.stdout


def test_decode_files_raw_and_hex_text_stdin_jsonl_csv(tmp_path: Path) -> None:
    raw = tmp_path / "capture.bin"
    raw.write_bytes(wire(VKW["id"]) * 2)
    text = tmp_path / "capture.hex"
    spaced = " ".join(VKW["hex"][i : i + 2] for i in range(0, len(VKW["hex"]), 2))
    text.write_text(spaced + "\n")
    result = run("decode", str(raw), str(text), "--key", KEY, "--format", "jsonl")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 3
    assert all(json.loads(line)["frame_counter"] == 7014 for line in lines)
    result = run("decode", "-", "--format", "csv", stdin=wire(VKW["id"]),
                 env={"SMARTMETER_KEY": KEY, "PATH": ""})
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.returncode == 0 and rows[0]["voltage_l1_V"] == "232.9"


@pytest.mark.parametrize(("args", "code", "says"), [
    (("decode", VKW["hex"]), 3, "no key was given"),
    (("decode", VKW["hex"], "--key", "00" * 16), 3, "the key is wrong"),
    (("decode", VKW["hex"], "--key", "0011"), 2, "must be 32 hex digits"),
    (("decode", "00112233445566778899"), 4, "no valid push"),
    (("decode", "no-such-file.bin"), 2, "neither an existing file nor hex"),
    (("decode", VKW["hex"], "--key", KEY, "--format", "xml"), 2, "invalid choice"),
])
def test_exit_codes_and_one_clear_sentence(args: tuple[str, ...], code: int, says: str) -> None:
    result = run(*args)
    assert result.returncode == code
    assert says in result.stderr
    assert KEY.lower() not in result.stderr.lower()


def test_tag_mismatch_exits_3() -> None:
    vector = BY_ID["at_steiermark_sagemcom_t210d_p1"]
    result = run("decode", vector["hex"], "--key", vector["key"], "--auth-key",
                 vector["auth_key"])
    assert result.returncode == 3 and "authentication tag does not verify" in result.stderr
    assert vector["auth_key"].lower() not in result.stderr.lower()
    result = run("decode", vector["hex"], "--key", vector["key"], "--format", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["values"]["1.0.1.8.0.255"]["value"] == 7112944
    assert "unchecked authentication tag" in result.stderr


def test_demo_runs_the_service_on_the_simulator() -> None:
    result = run("demo", "--count", "2", "--console", "jsonl", "--interval", "0.1")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "outputs: sqlite, console" in result.stderr


def test_decode_imports_only_what_it_needs() -> None:
    code = ("import sys; from smartmeter_readout.cli.main import main; "
            f"main(['decode', '{VKW['hex']}', '--key', '{KEY}', '--format', 'json']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('asyncio', 'serial', 'sqlite3', 'gurux_dlms', 'bs4', 'hypothesis')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_decode_with_a_layout_described_in_the_config(tmp_path: Path) -> None:
    from smartmeter_readout.dlms import axdr
    from smartmeter_readout.dlms.apdu import build_notification

    body = (axdr.STRUCTURE, [(axdr.UINT32, 4321), (axdr.UINT16, 2299)])
    push = build_notification(body).hex()
    assert run("decode", push).returncode == 4
    config = tmp_path / "smartmeter.toml"
    config.write_text('''
[layouts.mine]
fields = [
  {obis = "1.0.1.8.0.255", unit = "Wh"},
  {obis = "1.0.32.7.0.255", scaler = -1, unit = "V"},
]
''')
    result = run("decode", push, "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)[0]["values"]
    assert values["1.0.32.7.0.255"]["value"] == 229.9
    config.write_text('[layouts.mine]\nfields = [{obis = "1.0.1.8"}]\n')
    result = run("decode", push, "--config", str(config))
    assert result.returncode == 2 and "layouts.mine.fields[0].obis" in result.stderr


def test_a_pace_that_is_not_a_finite_number_is_a_usage_error() -> None:
    for args in (("demo", "--interval", "nan"), ("simulate", "--interval", "inf"),
                 ("replay", "x.txt", "--speed", "-1")):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "finite number" in result.stderr


def test_decode_streams_stdin_with_bounded_memory() -> None:
    """200 MB through a pipe: read in pieces, never held whole (it once grew to 2 GB)."""
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run('head -c 200000000 /dev/zero | ' + sys.argv[1] + "
            "' -m smartmeter_readout decode -q -', shell=True, capture_output=True, text=True); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code, sys.executable], capture_output=True,
                            text=True, timeout=600, check=False)
    returncode, peak_kb = map(int, result.stdout.split())
    assert returncode == 4
    assert peak_kb < 120 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"


def test_random_bytes_with_a_valid_key_are_no_valid_push_not_a_wrong_key() -> None:
    import random

    noise = random.Random(7).randbytes(10 * 1024 * 1024)
    result = subprocess.run([*CLI, "decode", "-", "--key", KEY], input=noise,
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 4, result.stderr[-500:]
    assert b"key is wrong" not in result.stderr and b"no valid push" in result.stderr


def test_decode_prints_each_push_as_it_arrives_on_a_pipe() -> None:
    with subprocess.Popen([*CLI, "decode", "-", "--key", KEY, "--format", "jsonl"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as reader:
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write(bytes.fromhex(VKW["hex"]))
        reader.stdin.flush()
        line = reader.stdout.readline()  # before the end of the input: it streams
        reader.stdin.close()
        reader.wait(timeout=60)
    assert json.loads(line)["values"]["1.0.32.7.0.255"]["unit"] == "V"


def test_history_takes_a_relative_time_that_starts_with_a_dash(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    assert run("demo", "--interval", "0.1", "--count", "2", "--sqlite", str(db),
               "--history-days", "0").returncode == 0
    result = run("history", "--sqlite", str(db), "--since", "-7d", "--step", "raw",
                 "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2
    one = run("demo", "--interval", "0.1", "--count", "1", "--sqlite", str(db),
              "--history-days", "0")
    assert "stopped after 1 reading\n" in one.stderr  # not "1 readings"


def test_demo_takes_a_web_port_and_run_finds_its_config(tmp_path: Path) -> None:
    import os

    result = run("demo", "--count", "1", "--interval", "0.1", "--web-port", "0",
                 "--history-days", "0")
    assert result.returncode == 0 and "web: page on http://127.0.0.1:" in result.stderr
    assert "INFO smartmeter-readout:" in result.stderr  # a long run logs time and level
    folder = tmp_path / "smartmeter-readout"
    folder.mkdir()
    (folder / "smartmeter.toml").write_text(
        f"[source]\nsimulate = 'netznoe'\ninterval = 0.1\n[sqlite]\npath = '{tmp_path}/h.db'\n"
        "[web]\nenabled = false\n")
    found = run("run", "--count", "1", env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert found.returncode == 0, found.stderr
    assert f"config: {folder / 'smartmeter.toml'}" in found.stderr
    assert "simulated meter netznoe" in found.stderr
