"""``simulate`` against ``read`` over pseudo-terminals: every profile, faults, unplugging."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from livekit import (
    AUTH,
    CLI,
    ENV,
    KEY,
    assert_all_sent,
    jsonl,
    run,
    sent_log,
    simulator,
    until,
)
from smartmeter_readout.cli.main import main
from smartmeter_readout.sim.simulator import PROFILES


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_read_decodes_every_profile_from_the_simulator(tmp_path: Path, profile: str) -> None:
    link, log = tmp_path / "ttyMETER", tmp_path / "sent.jsonl"
    with simulator(link, profile, log=log):
        result = run(["read", "--port", link, "--key", KEY, "--auth-key", AUTH,
                      "--count", "3", "--format", "jsonl"])
    assert result.returncode == 0, result.stderr
    readings = jsonl(result.stdout)
    assert len(readings) == 3
    assert_all_sent(readings, sent_log(log))
    assert "frames at" in result.stderr  # auto-detection said what it found
    assert KEY not in result.stderr + result.stdout


@pytest.mark.parametrize("profile", ["vkw", "netznoe", "wienernetze"])
def test_real_line_speed_and_gaps_between_segments(tmp_path: Path, profile: str) -> None:
    """Paced at the meter's baud rate; Netz NÖ's 160 ms pause must not split a push."""
    link, log = tmp_path / "ttyMETER", tmp_path / "sent.jsonl"
    with simulator(link, profile, log=log, pace=True, interval=2.0):
        result = run(["read", "--port", link, "--key", KEY, "--count", "2", "--format",
                      "jsonl"])
    assert result.returncode == 0, result.stderr
    assert_all_sent(jsonl(result.stdout), sent_log(log))
    expected = PROFILES[profile].serial.split()[0]
    assert f"frames at {expected} " in result.stderr


def test_operator_preset_and_explicit_settings_skip_detection(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "kaerntennetz"):
        preset = run(["read", "--port", link, "--key", KEY, "--operator", "kaerntennetz",
                      "--count", "1", "--format", "jsonl"])
        explicit = run(["read", "--port", link, "--key", KEY, "--baud", "115200", "--parity",
                        "N", "--count", "1", "--format", "csv"])
    assert preset.returncode == 0, preset.stderr
    assert "looking for" not in preset.stderr and "115200 8N1" in preset.stderr
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.stdout.startswith("time,meter,frame_counter,")


def test_wrong_baud_rate_is_reported_not_decoded(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "vkw", interval=0.3):
        reader = subprocess.Popen([*CLI, "read", "--port", str(link), "--key", KEY, "--baud",
                                   "9600", "--parity", "N", "--count", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=ENV)
        out, err = _until_said(reader, "wrong baud rate or parity?")
    assert "bytes arrive but no valid push for 4 s: wrong baud rate or parity?" in err
    assert out == ""


def test_fault_injection_intact_pushes_decoded_broken_counted_none_invented(
        tmp_path: Path) -> None:
    for profile in ("vkw", "wienernetze", "klagenfurt", "e-netze", "netznoe-sagemcom"):
        link, log = tmp_path / f"tty-{profile}", tmp_path / f"sent-{profile}.jsonl"
        with simulator(link, profile, "--faults",
                       "garbage=0.15,drop=0.15,checksum=0.15,tag=0.15", "--seed", "3",
                       "--count", "40", log=log, interval=0.15) as sim:
            baud = PROFILES[profile].serial.split()[0]  # pushes come faster than detection
            reader = subprocess.Popen([*CLI, "read", "--port", str(link), "--key", KEY,  # likes
                                       "--auth-key", AUTH, "--format", "jsonl", "--baud", baud,
                                       "--parity", "N"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=ENV)
            # the simulator hangs up once the reader took its last push: the reader says so
            out, err = _until_said(reader, "disconnected", "went away")
            sim.wait(60)
        sent = sent_log(log)
        readings = jsonl(out)
        assert_all_sent(readings, sent)
        got = {r["frame_counter"] for r in readings}
        intact = [p for p in sent if p["fault"] in (None, "garbage")]
        broken = [p for p in sent if p["fault"] not in (None, "garbage")]
        assert broken and intact, profile
        # what the simulator sent before the reader had the port open is lost, as on a real
        # line (a reader starting on a loaded machine may take a second: 6 pushes); from the
        # first push it decoded on, no intact push may go missing
        assert got and len(got) >= len(intact) // 2, (profile, sorted(got), err)
        missed = [p["frame_counter"] for p in intact
                  if min(got) < p["frame_counter"] and p["frame_counter"] not in got]
        assert missed == [], (profile, missed, err)
        assert not got & {p["frame_counter"] for p in broken}, profile


def test_unplugged_and_replugged_adapter_read_still_completes(tmp_path: Path) -> None:
    link, log = tmp_path / "ttyMETER", tmp_path / "sent.jsonl"
    with simulator(link, "wienernetze", "--faults", "unplug=0.15", "--unplug-seconds", "2",
                   "--seed", "5", log=log, interval=0.3):
        result = run(["read", "--port", link, "--key", KEY, "--count", "25", "--format",
                      "jsonl"], timeout=90)
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 25
    assert_all_sent(jsonl(result.stdout), sent_log(log))
    assert "disconnected" in result.stderr or "went away" in result.stderr
    assert "is not there" in result.stderr  # the link vanished while unplugged
    lines = result.stderr.splitlines()  # one line per state change, not one per retry
    assert all(a != b for a, b in pairwise(lines)), result.stderr


def test_device_missing_at_start_then_plugged_in(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    reader = subprocess.Popen([*CLI, "read", "--port", str(link), "--key", KEY, "--count",
                               "2", "--format", "jsonl"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(2.5)
    with simulator(link, "wienernetze", interval=0.3):
        out, err = reader.communicate(timeout=40)
    assert reader.returncode == 0, err
    assert len(jsonl(out)) == 2
    assert err.count(f"{link} is not there") == 1, err


def _main_as_nobody(argv: list[str]) -> tuple[int, str]:
    """Run the command in a forked child that dropped root (no exec: the venv may sit in a
    directory the unprivileged user cannot enter)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            sys.stderr = os.fdopen(write_end, "w")  # pytest has replaced the old one
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = main(argv)
        finally:
            sys.stderr.flush()
            os._exit(locals().get("code", 99))
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        err = pipe.read()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), err


def test_permission_denied_names_the_dialout_fix(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:  # an ordinary user meets the real thing on a root-owned tty
        pytest.fail("run the test suite as root (as CI does): it drops to user nobody")
    link = tmp_path / "ttyMETER"
    with simulator(link, "wienernetze"):
        # first as root, in this process: it works, and every module the child needs is
        # loaded (the unprivileged child may not be allowed to read the interpreter's files)
        assert main(["read", "--port", str(link), "--key", KEY, "--count", "1", "-q"]) == 0
        assert "Power import" in capsys.readouterr().out
        os.chmod(os.path.realpath(link), 0o600)
        code, err = _main_as_nobody(["read", "--port", str(link), "--key", KEY, "--count",
                                     "1"])
    assert code == 1, err
    assert "permission denied" in err and "dialout" in err
    assert "Traceback" not in err


def test_key_errors_end_read_with_exit_code_3(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "wienernetze", interval=0.2):
        wrong = run(["read", "--port", link, "--key", "FF" * 16, "--count", "1"])
        missing = run(["read", "--port", link, "--count", "1"])
    assert wrong.returncode == 3, wrong.stderr
    assert wrong.stderr.count("key is wrong") == 1  # said once, not by reader and command
    assert missing.returncode == 3 and "no key was given" in missing.stderr
    assert not link.exists()  # the simulator stopped by SIGTERM took its symlink away


# ------------------------------------------------------------------ frames cut short (issue 21)

CUT_EN = "frames arrive cut short, bytes are lost between meter and reader"
CUT_DE = "Rahmen kommen abgeschnitten an, zwischen Zähler und Leser gehen Bytes verloren"


def _language(lang: str) -> dict[str, str]:
    return {**ENV, "LANGUAGE": lang, "LC_ALL": "", "LC_MESSAGES": "",
            "LANG": "de_AT.UTF-8" if lang == "de" else "C.UTF-8"}


def _until_said(process: subprocess.Popen[str], *texts: str) -> tuple[str, str]:
    """The process's stdout and stderr up to the first stderr line holding one of ``texts``
    (waits for that line; a safety net ends the wait if it never comes), then it is stopped.
    Both streams are read all along: a full pipe would hold the process up."""
    lines: list[str] = []
    out: list[str] = []
    watchers = [threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")),
                                 daemon=True),  # type: ignore[union-attr]
                threading.Thread(target=lambda: out.extend(iter(process.stdout.readline, "")),
                                 daemon=True)]  # type: ignore[union-attr]
    for watcher in watchers:
        watcher.start()
    with contextlib.suppress(AssertionError):
        until(lambda: any(text in line for line in list(lines) for text in texts),
              " or ".join(texts), timeout=120)
    process.terminate()
    process.wait(10)
    for watcher in watchers:
        watcher.join(10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return "".join(out), "".join(lines)


@pytest.mark.parametrize(("lang", "cut"), [("en", CUT_EN), ("de", CUT_DE)])
def test_frames_cut_short_are_named_not_taken_for_a_wrong_setting(tmp_path: Path, lang: str,
                                                                  cut: str) -> None:
    """Every push loses a frame's tail: the reader (auto-detecting) names lost bytes, not the
    baud rate, and does not search the settings again."""
    link = tmp_path / "ttyMETER"
    with simulator(link, "vkw", "--faults", "cut=1", interval=0.3):
        reader = subprocess.Popen([*CLI, "read", "--port", str(link), "--key", KEY],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=_language(lang))
        _out, err = _until_said(reader, cut)
    assert cut in err, err
    assert "loose contact" in err if lang == "en" else "Wackelkontakt" in err
    assert "frames at 2400 8N1" in err or "Rahmen bei 2400 8N1" in err, err
    for wrong in ("wrong baud rate", "Baudrate", "searches the serial settings again",
                  "neu gesucht"):
        assert wrong not in err, err


def test_frames_cut_short_over_tcp_with_pushes_between(tmp_path: Path) -> None:
    """Through ``simulate --tcp``: some pushes cut short, the rest decoded; the reader says
    once what the cut ones mean."""
    log = tmp_path / "sent.jsonl"
    meter = subprocess.Popen([*CLI, "simulate", "--profile", "wienernetze", "--tcp",
                              "127.0.0.1:0", "--key", KEY, "--interval", "0.2", "--faults",
                              "cut=0.4", "--seed", "4", "--log", str(log), "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        where = meter.stdout.readline().strip()  # type: ignore[union-attr]
        result = run(["read", "--tcp", where, "--key", KEY, "--count", "20", "--format",
                      "jsonl"])
    finally:
        meter.terminate()
        meter.communicate(10)
    assert result.returncode == 0, result.stderr
    readings = jsonl(result.stdout)
    sent = sent_log(log)
    assert_all_sent(readings, sent)
    cut = {push["frame_counter"] for push in sent if push["fault"] == "cut"}
    assert cut and not cut & {reading["frame_counter"] for reading in readings}
    assert result.stderr.count(CUT_EN) == 1, result.stderr


@pytest.mark.parametrize(("lang", "verdict", "cause"), [
    ("en", "Verdict: Frames arrive cut short", "a loose contact"),
    ("de", "Befund: Rahmen kommen abgeschnitten an", "ein Wackelkontakt vorliegt")])
def test_doctor_gives_the_same_verdict_on_frames_cut_short(tmp_path: Path, lang: str,
                                                          verdict: str, cause: str) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "vkw", "--faults", "cut=1", interval=0.3):
        result = subprocess.run([*CLI, "doctor", "--port", str(link), "--key", KEY,
                                 "--timeout", "4"], capture_output=True, text=True,
                                env=_language(lang), timeout=60, check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    assert verdict in result.stdout and cause in result.stdout, result.stdout
    assert "ModemManager" in result.stdout
    assert "Baudrate" not in result.stdout and "baud rate" not in result.stdout
