"""Wireless M-Bus receivers end to end (issue 24): each stick's simulator on a pseudo-terminal,
driven through ``read``, ``doctor`` and ``run`` as a user would, with lost telegrams and
other meters' traffic around. Real processes, real ptys; waits are for events."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from livekit import CLI, ENV, jsonl, run, until, wait_for

KEY = "F1046961A0FC34C200906266C1409E11"  # LN-666's example key
RECEIVERS = ("im871a", "amb8465", "cul", "rtl_wmbus")


@contextmanager
def stick(link: Path, receiver: str, *, count: int = 400, interval: float = 0.1,
          loss: float = 0.0, log: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    args = ["simulate", "--profile", "linznetz", "--receiver", receiver, "--link", str(link),
            "--interval", str(interval), "--count", str(count), "--loss", str(loss),
            "--key", KEY, "-q"]
    if log is not None:
        args += ["--log", str(log)]
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    try:
        wait_for(link, timeout=30)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _sent(log: Path) -> dict[int, int]:
    """Frame counter -> energy import of what the simulated meter sent."""
    lines = log.read_text().splitlines() if log.exists() else []
    return {entry["access"]: entry["import_wh"] for entry in map(json.loads, lines)}


@pytest.mark.parametrize("receiver", RECEIVERS)
def test_read_through_each_receiver(tmp_path: Path, receiver: str) -> None:
    link, log = tmp_path / "ttyRADIO", tmp_path / "sent.jsonl"
    with stick(link, receiver, log=log):
        done = run(["read", "--port", link, "--operator", "linznetz", "--key", KEY,
                    "--count", "4", "--format", "jsonl"], timeout=120)
    assert done.returncode == 0, done.stderr
    readings = jsonl(done.stdout)
    assert len(readings) == 4
    sent = _sent(log)
    for reading in readings:
        assert reading["meter"]["id"] == "00328769"
        energy = reading["values"]["1.0.1.8.0.255"]
        assert energy["unit"] == "Wh" and energy["value"] == sent[reading["frame_counter"]]
    assert re.search(r"also heard (1 other meter|[2-9] other meters) \(not read\)",
                     done.stderr)  # the neighbours, counted (in the singular for one)
    assert KEY not in done.stdout + done.stderr


def test_doctor_verdicts_for_the_radio(tmp_path: Path) -> None:
    link = tmp_path / "ttyRADIO"
    with stick(link, "cul", interval=0.2):
        good = run(["doctor", "--port", link, "--operator", "linznetz", "--key", KEY,
                    "--timeout", "20"], timeout=120)
        wrong = run(["doctor", "--port", link, "--operator", "linznetz", "--key", "11" * 16,
                     "--radio-id", "00328769", "--timeout", "20"], timeout=120)
        absent = run(["doctor", "--port", link, "--operator", "linznetz", "--key", KEY,
                      "--radio-id", "99999999", "--timeout", "3"], timeout=120)
        unnamed = run(["doctor", "--port", link, "--baud", "38400", "--parity", "N",
                       "--timeout", "3"], timeout=120)
    assert "wireless M-Bus receiver (cul)" in unnamed.stdout and "linznetz" in unnamed.stdout
    assert good.returncode == 0, good.stdout + good.stderr
    assert 'radio_id = "00328769"' in good.stdout and 'receiver = "cul"' in good.stdout
    assert wrong.returncode == 3 and "access code" in wrong.stdout, wrong.stdout
    assert absent.returncode == 4, absent.stdout
    assert "switched on" in absent.stdout and "closer" in absent.stdout
    assert KEY not in good.stdout + wrong.stdout + absent.stdout


def test_only_a_neighbour_heard_names_it_as_no_key_verdict(tmp_path: Path) -> None:
    """Our meter not heard, no radio id, the right key: the neighbour's electricity meter,
    which the key does not open, is no "wrong key" for ours. After a few of its telegrams
    doctor and read say that the key opens none of the meters heard and ask for the radio
    id (read's exit 3 comes only then)."""
    link, log = tmp_path / "ttyRADIO", tmp_path / "sent.jsonl"
    with stick(link, "cul", interval=0.1, loss=0.999, log=log):
        doctor = run(["doctor", "--port", link, "--operator", "linznetz", "--key", KEY,
                      "--timeout", "60"], timeout=120)
        read = run(["read", "--port", link, "--operator", "linznetz", "--key", KEY,
                    "--count", "1"], timeout=120)
    assert not _sent(log)  # ours never heard (the simulator's seed fixes its losses)
    for done in (doctor, read):
        said = done.stdout + done.stderr
        assert done.returncode == 3, said
        assert "does not open meter" not in said
        assert "00328770" in said and "--radio-id" in said, said
        assert KEY not in said


def test_doctor_finds_each_sticks_rate_and_writes_it(tmp_path: Path) -> None:
    """The simulated sticks talk at their own rates (a reader at another one gets noise):
    doctor finds the AMB8465 at 9600 without a name, the CUL at 38400 by its name, and the
    config lines it writes carry the rate."""
    link = tmp_path / "ttyRADIO"
    with stick(link, "amb8465", interval=0.1):
        amber = run(["doctor", "--port", link, "--operator", "linznetz", "--key", KEY,
                     "--timeout", "60"], timeout=180)
    with stick(link, "cul", interval=0.1):
        cul = run(["doctor", "--port", link, "--operator", "linznetz", "--key", KEY,
                   "--receiver", "cul", "--timeout", "60"], timeout=120)
    assert amber.returncode == 0, amber.stdout + amber.stderr
    assert 'receiver = "amb8465"' in amber.stdout and "baud = 9600" in amber.stdout
    assert cul.returncode == 0, cul.stdout + cul.stderr
    assert 'receiver = "cul"' in cul.stdout and "baud = 38400" in cul.stdout


@pytest.mark.parametrize("receiver", RECEIVERS)
def test_run_keeps_every_telegram_for_ten_minutes(tmp_path: Path, receiver: str) -> None:
    """Ten minutes of a LINZ NETZ meter (120 telegrams, 5 s apart on the air, faster here),
    a tenth of them lost on the air: ``run`` stores every telegram that arrived."""
    link, log, database = tmp_path / "ttyRADIO", tmp_path / "sent.jsonl", tmp_path / "h.db"
    config = tmp_path / "smartmeter.toml"
    config.write_text(f'[meter]\noperator = "linznetz"\nkey = "{KEY}"\n\n[source]\n'
                      f'port = "{link}"\nreceiver = "{receiver}"\n\n'
                      f'[sqlite]\npath = "{database}"\n')
    config.chmod(0o600)
    service = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        with stick(link, receiver, count=120, interval=0.1, loss=0.1, log=log) as sim:
            until(lambda: sim.poll() is not None, "the simulated stick to finish", 300)

        def stored() -> dict[int, int]:
            if not database.exists():
                return {}
            with sqlite3.connect(database) as db:
                rows = db.execute("SELECT frame_counter, data FROM readings").fetchall()
            return {counter: json.loads(data)["values"]["1.0.1.8.0.255"]["value"]
                    for counter, data in rows}

        sent = _sent(log)
        last = max(sent)
        until(lambda: last in stored(), "the last telegram in the history", 120)
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=60)
    kept = stored()
    # some lost on the air; an Amber hears nothing until the service has set its mode
    assert len(sent) < 120 and (receiver == "amb8465" or len(sent) >= 100)
    assert all(sent[counter] == value for counter, value in kept.items())
    first = min(kept)  # what came before the service opened the port was never received
    assert set(kept) == {counter for counter in sent if counter >= first}, err
    assert len(kept) >= 20
    assert KEY not in out + err


def test_rtl_wmbus_from_a_command(tmp_path: Path) -> None:
    """An RTL-SDR's rtl_wmbus writes text lines: the config names the command (here a
    recording of its output, garbled lines and neighbours included)."""
    from datetime import datetime

    from smartmeter_readout.sim.wmbus import WirelessMeter, frame_for, neighbour_telegram

    meter = WirelessMeter(bytes.fromhex(KEY))
    moment = datetime(2026, 12, 7, 12, 0)
    lines = [b"T1;0;0;2026-12-07 12:00:00.000;20;20;12345678;0x2e44\n"]  # garbled
    for number in range(4):
        lines.append(frame_for("rtl_wmbus", neighbour_telegram(number, moment, number)))
        lines.append(frame_for("rtl_wmbus", meter.next(moment)))
    recording = tmp_path / "rtl_wmbus.txt"
    recording.write_bytes(b"".join(lines))
    done = run(["read", "--command", f"cat {recording}", "--operator", "linznetz", "--key", KEY,
                "--count", "4", "--format", "jsonl"], timeout=120)
    assert done.returncode == 0, done.stderr
    readings = jsonl(done.stdout)
    assert [r["frame_counter"] for r in readings] == [0x5A, 0x5B, 0x5C, 0x5D]
    assert {r["meter"]["id"] for r in readings} == {"00328769"}
