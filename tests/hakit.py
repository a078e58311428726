"""The Home Assistant venv the Home Assistant tests share: built once per machine (minutes)
and again when the pins change, with this package installed into it from the working tree
once per test session (as a wheel, the way Home Assistant would find it installed).

2024.3 is the newest release that installs on Python 3.11;
pytest-homeassistant-custom-component 0.13.109 is the release that pins it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HA_VERSION = "2024.3.3"
PINS = [f"homeassistant=={HA_VERSION}",
        "paho-mqtt==1.6.1", "janus==1.0.0",  # its MQTT integration and file_upload
        "SQLAlchemy==2.0.27", "fnv-hash-fast==0.5.0", "psutil-home-assistant==0.0.1",  # recorder
        "pytest-homeassistant-custom-component==0.13.109",  # the integration's unit tests
        "pyserial==3.5", "prometheus-client==0.26.0",  # this package's own requirements
        "home-assistant-frontend==20240307.0", "Pillow==10.2.0",  # the end-to-end test: frontend
        "securetar==2024.2.1",  # backup, which onboarding sets up
        "josepy==1.14.0"]  # hass-nabucasa, which every HTTP request imports, fails on 2.x
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ha_python() -> Path:
    """The venv's python."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "smartmeter-readout" / f"homeassistant-{HA_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / "complete"
    wanted = "\n".join(PINS)
    if not marker.exists() or marker.read_text() != wanted:
        if not python.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS],
                                   capture_output=True, text=True, timeout=1500, check=False)
        assert installed.returncode == 0, installed.stderr[-3000:]
        marker.write_text(wanted)
    return python


@pytest.fixture(scope="session")
def ha_with_package(ha_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv with this working tree's package installed as a wheel (no dependencies
    fetched: the pins hold them), replacing whatever an earlier session installed."""
    wheels = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([str(ha_python), "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600, check=False)
    if built.returncode != 0:  # setuptools too old in the venv for the build: isolate it
        built = subprocess.run([str(ha_python), "-m", "pip", "wheel", "-q", "--no-deps",
                                "-w", str(wheels), str(ROOT)],
                               capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = wheels.glob("smartmeter_readout-*.whl")
    installed = subprocess.run([str(ha_python), "-m", "pip", "install", "-q", "--no-deps",
                                "--force-reinstall", str(wheel)],
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return ha_python
