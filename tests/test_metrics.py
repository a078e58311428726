"""/metrics of a running service, parsed with prometheus_client's own parser."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from livekit import CLI, ENV, until


@contextmanager
def service(tmp_path: Path, **env: str) -> Iterator[str]:
    """``run --simulate vkw`` with a SQLite history; the page's address, once it listens."""
    process = subprocess.Popen([*CLI, "run", "--simulate", "vkw", "--sqlite",
                                str(tmp_path / "h.sqlite")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**ENV, "SMARTMETER_SOURCE_INTERVAL": "0.2", **env})
    lines: list[str] = []
    try:
        def address() -> str | None:
            line = process.stderr.readline()  # type: ignore[union-attr]
            lines.append(line)
            if not line and process.poll() is not None:
                raise AssertionError("".join(lines))
            found = re.search(r"web: page on (http://127\.0\.0\.1:\d+)/", line)
            return found.group(1) if found else None

        yield until(address, "the page's address", timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = reply.read().decode()
        return json.loads(body) if "json" in reply.headers["Content-Type"] else body


def scrape(url: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(
        get(url + "/metrics"))}


def readings_at_least(url: str, count: int) -> bool:
    return bool(get(url + "/api/v1/status")["readings"] >= count)


def test_metrics_of_a_running_service(tmp_path: Path) -> None:
    # an MQTT output that is down: its backlog grows
    with service(tmp_path, SMARTMETER_MQTT_HOST="127.0.0.1", SMARTMETER_MQTT_PORT="9") as url:
        until(lambda: readings_at_least(url, 5), "five readings")
        families = scrape(url)
        try:
            urllib.request.urlopen(url + "/nothing", timeout=5)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
    values = {s.labels["name"]: s.value for s in families["smartmeter_value"].samples}
    assert 200 < values["voltage_l1"] < 260 and values["active_energy_import"] > 0
    pushes = {s.labels["outcome"]: s.value for s in families["smartmeter_pushes"].samples
              if s.name == "smartmeter_pushes_total"}
    assert pushes["ok"] >= 5 and pushes["decryption_failed"] == 0
    age = families["smartmeter_last_reading_age_seconds"].samples[0].value
    assert 0 <= age < 2
    backlog = {s.labels["output"]: s.value for s in families["smartmeter_output_backlog"].samples}
    up = {s.labels["output"]: s.value for s in families["smartmeter_output_up"].samples}
    assert backlog["mqtt"] >= 5 and up["mqtt"] == 0  # the broker is down
    assert backlog["sqlite"] == 0 and up["sqlite"] == 1
    assert "smartmeter_reconnects" in families
    assert families["smartmeter_web_connections"].samples[0].value >= 1  # this scrape
    implausible = families["smartmeter_implausible_values"].samples
    assert implausible[0].name == "smartmeter_implausible_values_total"
    assert implausible[0].value == 0  # the simulated meter's values fit each other
    assert status == 404
    # one meter without a name: the series as they always were, no meter label
    for name in ("smartmeter_pushes", "smartmeter_energy_today_wh", "smartmeter_reconnects"):
        assert all("meter" not in s.labels for s in families[name].samples), name
    assert {s.labels["direction"] for s in families["smartmeter_energy_today_wh"].samples} \
        >= {"import"}


def test_one_named_meter_labels_its_series(tmp_path: Path) -> None:
    """[meter] name given: every per-meter series says which meter, as with [[meters]]."""
    with service(tmp_path, SMARTMETER_METER_NAME="Haus") as url:
        until(lambda: readings_at_least(url, 3), "three readings")
        families = scrape(url)
        summary = get(url + "/api/v1/summary")
    for name in ("smartmeter_pushes", "smartmeter_frames_bad", "smartmeter_reconnects",
                 "smartmeter_last_reading_age_seconds", "smartmeter_energy_today_wh",
                 "smartmeter_energy_month_wh", "smartmeter_value"):
        assert families[name].samples, name
        assert {s.labels["meter"] for s in families[name].samples} == {"Haus"}, name
    [today] = [s.value for s in families["smartmeter_energy_today_wh"].samples
               if s.labels == {"meter": "Haus", "direction": "import"}]
    assert summary["meter"] == "Haus" and today <= summary["periods"]["today"]["import_wh"]
