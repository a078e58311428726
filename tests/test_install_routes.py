"""Every documented install route, as a household meets it: a fresh virtual environment with
exactly the extras the route names, then ``--help``, ``decode`` of a shared capture, ``run``
on the simulator serving the page (its HTML, scripts, styles, catalogues and API), and for every
output whose extra is missing one sentence that names the right extra.

The routes: ``./scripts/demo`` (a copy of the tree, its own ``.venv``), the README's venv
lines run as written (under a fresh ``HOME``), pipx with the README's inject line, and the
wheel (built from the sdist by ``python -m build``, as pip does) with no extras, with each
extra alone and with the README's ``[web,mqtt]``. The development venv of the other tests has
every extra and hides what these find; this file runs each route once (a few minutes, mostly
pip).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BY_ID, ROOT
from livekit import until

VECTOR = BY_ID["at_netznoe_kaifa_ma309_doc_example"]
PIP_CACHE = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
PAGE_FILES = ("/", "/static/app.js", "/static/lang.js", "/static/style.css",
              "/static/locale/de.json", "/static/locale/en.json", "/api/v1/status",
              "/api/v1/openapi.json")
PACKAGED = ("smartmeter_readout/web/static/index.html", "smartmeter_readout/web/static/app.js",
            "smartmeter_readout/web/static/locale/de.json",
            "smartmeter_readout/web/openapi.json",
            "smartmeter_readout/i18n/locale/de/LC_MESSAGES/smartmeter_readout.mo",
            "smartmeter_readout/i18n/locale/en/LC_MESSAGES/smartmeter_readout.mo")

pytestmark = pytest.mark.slow


@dataclass
class Route:
    name: str
    command: Path  # the installed smartmeter-readout
    extras: frozenset[str]
    home: Path


def _env(home: Path, **more: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTMETER_", "VIRTUAL"))}
    return {**keep, "HOME": str(home), "PIP_CACHE_DIR": str(PIP_CACHE), "LANGUAGE": "en",
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / "data"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", **more}


def _sh(script: str, home: Path, cwd: Path = ROOT, **env: str) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd,
                          env=_env(home, **env), capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, f"{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it (``python -m build`` does both, in that order)."""
    out = tmp_path_factory.mktemp("dist")
    _sh(f"{sys.executable} -m build --outdir {out} .", out)
    [wheel], [sdist] = out.glob("*.whl"), out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_and_the_sdist_carry_the_page_and_the_compiled_catalogues(
        dist: dict[str, Path]) -> None:
    in_wheel = set(zipfile.ZipFile(dist["wheel"]).namelist())
    with tarfile.open(dist["sdist"]) as sdist:
        in_sdist = {name.partition("/")[2].removeprefix("src/") for name in sdist.getnames()}
    for name in PACKAGED:
        assert name in in_wheel, name
        assert name in in_sdist, name


def _readme_block(heading: str) -> str:
    """The first ``sh`` block after ``heading`` in the README: the lines a user copies."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(heading):]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)  # type: ignore[union-attr]


def _install(name: str, dist: dict[str, Path], base: Path) -> Route:
    home = base / name
    home.mkdir()
    if name == "demo":  # ./scripts/demo in a copy of the tree: it makes its own .venv
        tree = home / "tree"
        shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
            ".hypothesis", "test-artifacts"))
        # scripts/demo execs the demo: install only, then use the venv it made
        script = (tree / "scripts" / "demo").read_text()
        assert script.rstrip().endswith('exec .venv/bin/smartmeter-readout demo "$@"')
        (tree / "scripts" / "demo-install").write_text(script.rstrip().rsplit("\n", 1)[0])
        _sh("bash scripts/demo-install", home, cwd=tree)
        return Route(name, tree / ".venv" / "bin" / "smartmeter-readout", frozenset({"web"}),
                     home)
    if name == "readme":  # the README's lines, as written, in a fresh home
        lines = _readme_block("1. **Install**")
        assert "pip install './[web,mqtt]'" in lines
        _sh(lines, home)
        link = home / ".local" / "bin" / "smartmeter-readout"
        assert link.is_symlink()
        return Route(name, link, frozenset({"web", "mqtt"}), home)
    if name == "pipx":
        lines = _readme_block("with Debian's `pipx`")
        assert "pipx inject smartmeter-readout aiohttp aiomqtt" in lines
        pipx = Path(sys.executable).with_name("pipx")
        _sh(lines.replace("pipx ", f"{pipx} "), home,
            PIPX_HOME=str(home / "pipx"), PIPX_BIN_DIR=str(home / "bin"),
            PIPX_DEFAULT_PYTHON=sys.executable)
        return Route(name, home / "bin" / "smartmeter-readout", frozenset({"web", "mqtt"}),
                     home)
    extras = frozenset() if name == "bare" else frozenset(name.split("+"))
    venv = home / "venv"
    wanted = f"{dist['wheel']}[{','.join(sorted(extras))}]" if extras else str(dist["wheel"])
    _sh(f"{sys.executable} -m venv {venv}\n{venv}/bin/pip install -q '{wanted}'", home)
    return Route(name, venv / "bin" / "smartmeter-readout", extras, home)


ROUTES = ("demo", "readme", "pipx", "bare", "web", "mqtt", "postgres", "web+mqtt")


@pytest.fixture(scope="module", params=ROUTES)
def route(request: pytest.FixtureRequest, dist: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> Route:
    return _install(request.param, dist, tmp_path_factory.mktemp("routes"))


def _run(route: Route, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(route.command), *args], env=_env(route.home, **env),
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_and_decode(route: Route) -> None:
    assert _run(route, "--help").returncode == 0
    decoded = _run(route, "decode", VECTOR["hex"], "--key", VECTOR["key"], "--format", "json")
    assert decoded.returncode == 0, decoded.stderr
    values = json.loads(decoded.stdout)[0]["values"]
    assert values["1.0.1.8.0.255"]["value"] == VECTOR["expected"]["1.0.1.8.0.255"]["value"]


@pytest.fixture
def service(route: Route) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``run`` on the simulated Vorarlberg meter with the page on a free port; its stderr."""
    process = subprocess.Popen(
        [str(route.command), "run", "--simulate", "vkw", "--sqlite",
         str(route.home / "readings.sqlite")],
        env=_env(route.home, SMARTMETER_WEB_PORT="0", SMARTMETER_SOURCE_INTERVAL="0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        yield process, lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)  # and closes its stderr


def _next_line(process: subprocess.Popen[str], lines: list[str]) -> str:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line, f"the service ended: {''.join(lines)[-2000:]}"
    lines.append(line)
    return line


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_run_serves_the_page_where_the_web_extra_is_installed(
        route: Route, service: tuple[subprocess.Popen[str], list[str]]) -> None:
    process, lines = service
    if "web" not in route.extras:
        line = until(lambda: "web" in (text := _next_line(process, lines)) and text,
                     "the warning about the page")
        assert "pip install 'smartmeter-readout[web]'" in line, line
        assert "pipx inject smartmeter-readout aiohttp" in line, line
        until(lambda: "reading" in _next_line(process, lines), "the service reading")
        return
    found = until(lambda: re.search(r"page on (http://\S+/)", _next_line(process, lines)),
                  "the page's address in the log")
    base = found.group(1).rstrip("/")
    for path in PAGE_FILES:
        status, body = _get(base + path)
        assert status == 200 and body, path
    until(lambda: _get(base + "/api/v1/reading")[0] == 200, "a reading in the API")
    assert not any("Traceback" in line or "internal error" in line for line in lines), lines


MISSING_OUTPUT = {"mqtt": {"SMARTMETER_MQTT_HOST": "127.0.0.1"},
                  "postgres": {"SMARTMETER_POSTGRES_DSN": "postgresql://127.0.0.1:1/none"}}


def test_an_output_without_its_extra_is_one_sentence_naming_the_extra(route: Route) -> None:
    for extra, env in MISSING_OUTPUT.items():
        if extra in route.extras:
            continue
        done = _run(route, "run", "--simulate", "vkw", "--count", "1", "--sqlite",
                    str(route.home / "x.sqlite"), **env)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert f"pip install 'smartmeter-readout[{extra}]'" in line, line
    if not {"mqtt", "postgres"} <= route.extras:
        done = _run(route, "collect")
        assert done.returncode == 1, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert "pip install 'smartmeter-readout[" in line and "Traceback" not in line, line
