"""/metrics of a running service, parsed with prometheus_client's own parser."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from livekit import CLI, ENV


def test_metrics_of_a_running_service(tmp_path: Path) -> None:
    env = {**ENV, "SMARTMETER_SOURCE_INTERVAL": "0.2", "SMARTMETER_MQTT_HOST": "127.0.0.1",
           "SMARTMETER_MQTT_PORT": "9"}  # an MQTT output that is down: backlog grows
    process = subprocess.Popen([*CLI, "run", "--simulate", "vkw", "--sqlite",
                                str(tmp_path / "h.sqlite")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        deadline = time.monotonic() + 20
        lines: list[str] = []
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()  # type: ignore[union-attr]
            lines.append(line)
            found = re.search(r"web: page on http://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port, "".join(lines)
        time.sleep(2.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        missing = urllib.request.Request(f"http://127.0.0.1:{port}/nothing")
        try:
            urllib.request.urlopen(missing, timeout=5)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    families = {family.name: family for family in text_string_to_metric_families(text)}
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
