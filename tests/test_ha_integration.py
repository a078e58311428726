"""The Home Assistant integration's unit tests (tests/ha/component), run by
pytest-homeassistant-custom-component in the Home Assistant venv with this package installed
as a wheel: every step and error of the config flow, options, entities, unavailability,
repairs, diagnostics without the key, unload, the event loop's lag. None may skip."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

COMPONENT_TESTS = Path(__file__).parent / "ha" / "component"


def test_the_integrations_own_tests_pass_in_home_assistant(ha_with_package: Path,
                                                           tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    env = {**os.environ, "LANGUAGE": "en", "PYTHONDONTWRITEBYTECODE": "1"}
    ran = subprocess.run([str(ha_with_package), "-m", "pytest", "-q", "-rA", "--timeout=300",
                          f"--junitxml={report}"], cwd=COMPONENT_TESTS, env=env,
                         capture_output=True, text=True, timeout=1500, check=False)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-8000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {name: int(suite.get(name, "0")) for name in ("tests", "failures", "errors",
                                                           "skipped")}
    assert counts["tests"] >= 20 and counts["failures"] == counts["errors"] == 0, counts
    assert counts["skipped"] == 0, counts  # none may skip
    lag = [line for line in output.splitlines() if line.startswith("event loop lag")]
    assert lag, "the lag test ran and measured"
    print(f"{counts['tests']} integration tests passed; {lag[0]}")
