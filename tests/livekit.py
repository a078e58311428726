"""Helpers for the live tests: the real command in subprocesses, on pseudo-terminals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEY = "000102030405060708090A0B0C0D0E0F"
AUTH = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
WRONG_KEY = "FFEEDDCCBBAA99887766554433221100"
CLI = [sys.executable, "-m", "smartmeter_readout"]
#: shorter waits than a real installation needs, so the tests run in seconds
ENV = {**os.environ, "SMARTMETER_LIVE_SILENCE": "4", "SMARTMETER_LIVE_BACKOFF_MAX": "1",
       "SMARTMETER_LIVE_RECONNECT_AFTER": "10", "PYTHONUNBUFFERED": "1",
       "SMARTMETER_WEB_PORT": "0"}  # services in the tests listen on a free port


def run(args: Sequence[str | Path], timeout: float = 60, **kwargs: Any,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, check=False, **kwargs)


def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Wait for an event (``check`` gives something true), not for a time; its value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


@contextmanager
def simulator(link: Path, profile: str, *extra: str | Path, interval: float = 0.4,
              pace: bool = False, key: str = KEY, log: Path | None = None,
              ) -> Iterator[subprocess.Popen[str]]:
    args = ["simulate", "--profile", profile, "--link", link, "--interval", str(interval),
            "--key", key, "--auth-key", AUTH, "--pace" if pace else "--no-pace", "-q", *extra]
    if log is not None:
        args += ["--log", log]
    process = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for(link)
        yield process
    finally:
        stop_process(process, 10)


def stop_process(process: subprocess.Popen[str], within: float) -> None:
    """SIGTERM, and SIGKILL if it has not ended ``within`` seconds; its pipes closed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sent_log(path: Path) -> list[dict[str, Any]]:
    return jsonl(path.read_text())


def matches(reading: dict[str, Any], push: dict[str, Any]) -> bool:
    values = reading["values"]
    return all(key in values and values[key]["value"] == value
               for key, value in push["expected"].items())


def assert_all_sent(readings: list[dict[str, Any]], sent: list[dict[str, Any]]) -> None:
    """Every reading is one the simulator sent, value for value (none invented)."""
    for reading in readings:
        assert any(matches(reading, push) for push in sent), reading
