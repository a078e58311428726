"""Issue 23 end to end: a real Home Assistant process (the venv the MQTT discovery test builds,
with this package and the frontend in it, the integration in its configuration's
custom_components), onboarded over its REST API as the frontend does it, sets up simulated
meters through ``/api/config/config_entries/flow`` on pseudo-terminals and over TCP bridges.

It checks what a user would see: the entities' values (what the simulator sent), their
device class, state class and unit (as the MQTT discovery gives them), the device; a stopped
simulator makes them unavailable and a restarted one brings them back by themselves; reloads
leave no file descriptor, thread or bridge connection behind; the diagnostics hold no key and a
capture that decodes with it. Then Chromium takes screenshots of the setup screens from Home
Assistant's own frontend, in English and German (test-artifacts/ha-setup-<lang>-<step>.png).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import select
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import livekit
from hakit import ROOT
from livekit import AUTH, CLI, KEY, WRONG_KEY
from servers import free_port
from smartmeter_readout import Decoder, Measurement, Reading
from smartmeter_readout.capture.format import parse_capture
from smartmeter_readout.sim.simulator import PROFILES as SIMULATED
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sinks.homeassistant import device_info, sensor_kind

CEILING = 120.0  # seconds for any one thing to happen: a ceiling, never a wait
INTERVAL = 2.0  # the simulated meters push this often: unavailable after max(10 s, 3 pushes)
DOMAIN = "smartmeter_readout"
CONFIGURATION = """\
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
config:
diagnostics:
repairs:
recorder:
logger:
  default: warning
"""
#: onboarding's last-but-one step sets these up; their packages are not in the venv (and they
#: would go to the internet): stand-ins that decline, so the step answers as it does at home
DECLINED = ("met", "google_translate", "radio_browser")
STAND_IN = """\
from homeassistant.config_entries import ConfigFlow


class Declined(ConfigFlow, domain="{domain}"):
    async def async_step_onboarding(self, _input=None):
        return self.async_abort(reason="not_in_this_test")
"""


def until(check: Callable[[], Any], what: str, timeout: float = CEILING) -> Any:
    """livekit's wait for a condition, with this file's ceiling (Home Assistant is slow)."""
    return livekit.until(check, what, timeout)


# ------------------------------------------------------------------ Home Assistant


@dataclass
class Hass:
    """A Home Assistant process and what onboarding gave: the test's token and the
    frontend's."""

    url: str
    process: subprocess.Popen[bytes]
    config: Path
    token: str = ""
    browser_tokens: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, *, token: bool = True,
             form: dict[str, str] | None = None) -> tuple[int, Any]:
        """Status and decoded JSON (or text) of a REST call."""
        data = None
        request = urllib.request.Request(self.url + path, method=method)
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if token and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, data, timeout=60) as response:
                status, raw, kind = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, kind = error.code, error.read(), error.headers
            error.close()
        text = raw.decode()
        if kind.get_content_type() == "application/json" and text:
            return status, json.loads(text)
        return status, text

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert status == 200, (method, path, status, answer)
        return answer

    def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """The results of websocket commands (the registries, the core configuration)."""

        async def talk() -> list[Any]:
            results = []
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(self.url + "/api/websocket") as socket_:
                assert (await socket_.receive_json())["type"] == "auth_required"
                await socket_.send_json({"type": "auth", "access_token": self.token})
                assert (await socket_.receive_json())["type"] == "auth_ok"
                for number, message in enumerate(messages, 1):
                    await socket_.send_json({"id": number, **message})
                    while True:
                        answer = await socket_.receive_json(timeout=CEILING)
                        if answer.get("id") == number and answer["type"] == "result":
                            break
                    assert answer["success"], (message, answer)
                    results.append(answer["result"])
            return results

        return asyncio.run(talk())

    def states(self) -> dict[str, dict[str, Any]]:
        return {state["entity_id"]: state for state in self.ok("GET", "/api/states")}

    def log(self) -> str:
        return (self.config / "home-assistant.log").read_text(errors="replace")


def start_home_assistant(python: Path, config: Path) -> Hass:
    port = free_port()
    (config / "configuration.yaml").write_text(CONFIGURATION.format(port=port))
    components = config / "custom_components"
    components.mkdir()
    (components / DOMAIN).symlink_to(ROOT / "custom_components" / DOMAIN)
    for domain in DECLINED:
        stand_in = components / domain
        stand_in.mkdir()
        (stand_in / "manifest.json").write_text(json.dumps({
            "domain": domain, "name": f"{domain} (declined)", "version": "0.0.0",
            "config_flow": True, "codeowners": [], "documentation": "https://example.org",
            "iot_class": "local_polling", "requirements": []}))
        (stand_in / "__init__.py").write_text("")
        (stand_in / "config_flow.py").write_text(STAND_IN.format(domain=domain))
    with (config / "stderr.txt").open("wb") as stderr:  # cwd: not the repository's own
        process = subprocess.Popen(  # custom_components, which python -m would import
            [str(python), "-m", "homeassistant", "-c", str(config), "--skip-pip"],
            stdout=subprocess.DEVNULL, stderr=stderr, cwd=config,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    hass = Hass(f"http://127.0.0.1:{port}", process, config)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError("Home Assistant ended:\n"
                                 + (config / "stderr.txt").read_text()[-3000:])
        with suppress(OSError):
            return hass.call("GET", "/api/onboarding", token=False)[0] == 200
        return False

    until(answers, "Home Assistant's HTTP server", timeout=240)
    return hass


def onboard(hass: Hass) -> None:
    """What the onboarding screens do: the owner, the core configuration, analytics, and the
    frontend's own authorization code (its tokens are what the browser gets)."""
    client = hass.url + "/"
    owner = hass.ok("POST", "/api/onboarding/users", {
        "client_id": client, "name": "Test", "username": "test", "password": "test-password",
        "language": "en"})
    status, tokens = hass.call("POST", "/auth/token", token=False, form={
        "grant_type": "authorization_code", "code": owner["auth_code"], "client_id": client})
    assert status == 200, tokens
    hass.token = tokens["access_token"]
    hass.ws({"type": "config/core/update", "location_name": "Zählerkasten", "latitude": 48.2,
             "longitude": 16.37, "elevation": 170, "unit_system": "metric",
             "time_zone": "Europe/Vienna", "currency": "EUR", "country": "AT",
             "language": "en"})
    hass.ok("POST", "/api/onboarding/core_config")
    hass.ok("POST", "/api/onboarding/analytics")
    frontend = hass.ok("POST", "/api/onboarding/integration",
                       {"client_id": client, "redirect_uri": client + "?auth_callback=1"})
    status, tokens = hass.call("POST", "/auth/token", token=False, form={
        "grant_type": "authorization_code", "code": frontend["auth_code"],
        "client_id": client})
    assert status == 200, tokens
    hass.browser_tokens = {**tokens, "hassUrl": hass.url, "clientId": client}
    steps = hass.ok("GET", "/api/onboarding")
    assert all(step["done"] for step in steps) and len(steps) == 4, steps


@pytest.fixture(scope="module")
def hass(ha_with_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hass]:
    config = tmp_path_factory.mktemp("ha-config")
    running = start_home_assistant(ha_with_package, config)
    try:
        onboard(running)
        yield running
    finally:
        livekit.stop_process(running.process, 60)
    log = running.log() if (config / "home-assistant.log").exists() else ""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log)  # with tracebacks
    ours = [record for record in records  # errors, and Home Assistant's complaints about us
            if DOMAIN in record and (re.match(r"\S+ \S+ (ERROR|CRITICAL)", record)
                                     or "Detected " in record)]
    assert ours == [], "\n".join(ours)


# ------------------------------------------------------------------ simulated meters


@dataclass
class Meter:
    """A ``simulate`` process: a pty (its link) or a TCP bridge (its port)."""

    profile: str
    process: subprocess.Popen[str]
    log: Path
    address: str  # what the config flow is given: the link's path or tcp://host:port
    device: str  # /dev/pts/N, or host:port

    def sent(self) -> list[dict[str, Any]]:
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def stop(self) -> None:
        livekit.stop_process(self.process, 20)


def simulate(profile: str, folder: Path, *, tcp: int | None = None, name: str = "") -> Meter:
    """Start the simulator; its first line says where it is."""
    name = name or f"{profile}-{'tcp' if tcp is not None else 'pty'}"
    log = folder / f"{name}.jsonl"
    args = [*CLI, "simulate", "--profile", profile, "--key", KEY, "--auth-key", AUTH,
            "--interval", str(INTERVAL), "--no-pace", "--log", str(log), "-q"]
    link = folder / f"tty-{name}"
    args += ["--tcp", f"127.0.0.1:{tcp}"] if tcp is not None else ["--link", str(link)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], CEILING)
    line = process.stdout.readline().strip() if ready else ""
    if not line:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"simulate {profile} said nothing: {err}")
    device = line.split(" ")[0]
    address = f"tcp://{device}" if tcp is not None else str(link)
    return Meter(profile, process, log, address, device)


def restart(meter: Meter, folder: Path) -> Meter:
    """The same meter again, on the same link or port."""
    tcp = int(meter.device.rsplit(":", 1)[1]) if meter.address.startswith("tcp://") else None
    name = meter.log.stem
    meter.log.rename(meter.log.with_suffix(".before"))
    return simulate(meter.profile, folder, tcp=tcp, name=name)


@pytest.fixture
def meters(tmp_path: Path) -> Iterator[Callable[..., Meter]]:
    started: list[Meter] = []

    def start(profile: str, *, tcp: bool = False) -> Meter:
        meter = simulate(profile, tmp_path, tcp=0 if tcp else None)
        started.append(meter)
        return meter

    yield start
    for meter in started:
        meter.stop()


def first_reading(profile: str) -> Reading:
    """What the profile's meter sends, decoded here: the names and units of its values."""
    wire = Simulator(profile, key=bytes.fromhex(KEY), auth_key=bytes.fromhex(AUTH),
                     seed=1).push(datetime(2026, 3, 1, tzinfo=UTC)).wire
    [reading] = Decoder(bytes.fromhex(KEY), bytes.fromhex(AUTH)).feed(wire)
    return reading


# ------------------------------------------------------------------ the config flow


def flow_until_form(hass: Hass, flow: dict[str, Any]) -> dict[str, Any]:
    """Poll a progress step until the flow moves on (the detection is done)."""

    def moved() -> dict[str, Any] | None:
        nonlocal flow
        if flow["type"] != "progress":
            return flow
        flow = hass.ok("GET", f"/api/config/config_entries/flow/{flow['flow_id']}")
        return flow if flow["type"] != "progress" else None

    return dict(until(moved, "the detection to end"))


def set_up(hass: Hass, address: str, key: str = KEY) -> dict[str, Any]:
    """The config flow over REST, as the frontend drives it; the result of confirming."""
    flow = hass.ok("POST", "/api/config/config_entries/flow",
                   {"handler": DOMAIN, "show_advanced_options": False})
    assert flow["type"] == "form" and flow["step_id"] == "user", flow
    flow_id = flow["flow_id"]
    flow = hass.ok("POST", f"/api/config/config_entries/flow/{flow_id}", {"port": address})
    assert flow["type"] == "form" and flow["step_id"] == "key", flow
    flow = hass.ok("POST", f"/api/config/config_entries/flow/{flow_id}",
                   {"key": key, "auth_key": ""})
    assert flow["type"] == "progress" and flow["step_id"] == "detect", flow
    flow = flow_until_form(hass, flow)
    if flow.get("step_id") != "confirm":
        return flow
    return dict(hass.ok("POST", f"/api/config/config_entries/flow/{flow_id}", {}))


def entry_id_of(result: dict[str, Any]) -> str:
    assert result["type"] == "create_entry", result
    return str(result["result"]["entry_id"])


def registry(hass: Hass, entry_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entry's entities and devices."""
    entities, devices = hass.ws({"type": "config/entity_registry/list"},
                                {"type": "config/device_registry/list"})
    return ([e for e in entities if e["config_entry_id"] == entry_id],
            [d for d in devices if entry_id in d["config_entries"]])


def values_match(hass: Hass, meter: Meter, entity_ids: list[str]) -> dict[str, Any] | None:
    """The entities' states if each is a value one of the last pushes sent, else None."""
    states = hass.states()
    sent = meter.sent()[-3:]
    for entity_id in entity_ids:
        state = states.get(entity_id)
        if state is None or state["state"] in ("unknown", "unavailable"):
            return None
        obis = state["attributes"]["obis"]
        wanted = {float(push["expected"][obis]) for push in sent if obis in push["expected"]}
        if not any(abs(float(state["state"]) - value) <= 1e-9 * max(1.0, abs(value))
                   for value in wanted):
            return None
    return {entity_id: states[entity_id] for entity_id in entity_ids}


def check_entry(hass: Hass, result: dict[str, Any], meter: Meter) -> list[str]:
    """The entities and the device of a created entry are what the meter sent, classed as
    the MQTT discovery classes them; their entity ids."""
    entry_id = entry_id_of(result)
    reading = first_reading(meter.profile)
    kinds = {obis: kind for obis, m in reading.values.items()
             if (kind := sensor_kind(Measurement(m.name, m.value, m.unit))) is not None}
    entities, devices = until(lambda: (found := registry(hass, entry_id))[0] and found,
                              f"the entities of {meter.profile}")
    assert len(devices) == 1, devices
    [device] = devices
    about = device_info(reading)
    serial = reading.meter.id or reading.meter.system_title
    if serial is None and not meter.address.startswith("tcp://"):
        serial = SIMULATED[meter.profile].meter_id  # an AMIS gives it when asked, on its pty
    assert (device["manufacturer"], device["model"], device["serial_number"]) == (
        about["manufacturer"], about["model"], serial), device
    assert device["name"] == result["title"] and device["name_by_user"] is None
    assert {e["device_id"] for e in entities} == {device["id"]}
    entity_ids = [e["entity_id"] for e in entities]
    states = until(lambda: values_match(hass, meter, entity_ids),
                   f"{meter.profile}'s values in Home Assistant")
    assert {state["attributes"]["obis"] for state in states.values()} == set(kinds)
    for state in states.values():
        attributes = state["attributes"]
        kind = kinds[attributes["obis"]]
        assert attributes.get("device_class") == kind.device_class, attributes
        assert attributes.get("state_class") == kind.state_class, attributes
        assert attributes.get("unit_of_measurement") == kind.unit, attributes
    return entity_ids


def remove(hass: Hass, entry_id: str) -> None:
    hass.ok("DELETE", f"/api/config/config_entries/entry/{entry_id}")


PROFILES = ["vkw", "netznoe-sagemcom", "wienernetze", "netzooe"]


@pytest.mark.parametrize("profile", PROFILES)
def test_set_up_over_rest_on_a_pty_and_a_bridge(hass: Hass, meters: Callable[..., Meter],
                                                profile: str) -> None:
    """Each profile set up through the config flow, on a pseudo-terminal and then over a
    serial bridge; the same meter twice is refused."""
    on_pty = meters(profile)
    result = set_up(hass, on_pty.address)
    check_entry(hass, result, on_pty)
    on_bridge = meters(profile, tcp=True)
    if profile == "vkw":  # the same meter (its number) over another line: refused
        refused = set_up(hass, on_bridge.address)
        assert refused["type"] == "abort" and refused["reason"] == "already_configured"
    remove(hass, entry_id_of(result))
    on_pty.stop()
    result = set_up(hass, on_bridge.address)
    check_entry(hass, result, on_bridge)
    remove(hass, entry_id_of(result))


# ------------------------------------------------------------------ lifetimes


def tcp_rows() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket on this machine."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                parts = line.split()
                local, remote = (int(part.rsplit(":", 1)[1], 16) for part in parts[1:3])
                rows.append((local, remote, parts[3], parts[9]))
    return rows


def descriptors(pid: int) -> list[str]:
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            links.append(os.readlink(fd))
    return links


def sockets_to(pid: int, port: int) -> int:
    """How many sockets the process has open to 127.0.0.1:port."""
    ours = {f"socket:[{inode}]" for _l, remote, _s, inode in tcp_rows() if remote == port}
    return sum(link in ours for link in descriptors(pid))


def footprint(pid: int, meters: list[Meter]) -> dict[str, int]:
    """What a reader holds open, seen from outside: the Home Assistant process's descriptors
    to each pty and sockets to each bridge, the bridges' connections, the thread count."""
    links = descriptors(pid)
    rows = tcp_rows()
    counts = {"threads": int(re.findall(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status")
                                        .read_text(), re.M)[0]),
              "ptys": sum(link.startswith("/dev/pts/") for link in links)}
    for meter in meters:
        if meter.address.startswith("tcp://"):
            port = int(meter.device.rsplit(":", 1)[1])
            counts[f"{meter.profile} sockets"] = sockets_to(pid, port)
            counts[f"{meter.profile} bridge connections"] = sum(
                1 for local, _r, state, _i in rows if local == port and state == "01")
        else:
            counts[f"{meter.profile} pty"] = links.count(meter.device)
    return counts


def test_a_silent_meter_goes_unavailable_comes_back_and_reloads_leak_nothing(
        hass: Hass, meters: Callable[..., Meter], tmp_path: Path) -> None:
    """An AMIS on a pty (its acknowledgements go back on it) and a Kaifa behind a bridge:
    stopped, their entities go unavailable; started again, their values come back without
    anyone doing anything; each entry reloaded over REST five times holds no more open than
    before."""
    lines = [meters("netzooe"), meters("vkw", tcp=True)]
    results = [set_up(hass, meter.address) for meter in lines]
    entries = [entry_id_of(result) for result in results]
    entities = [check_entry(hass, result, meter)
                for result, meter in zip(results, lines, strict=True)]
    every = [entity_id for ids in entities for entity_id in ids]
    for meter in lines:
        meter.stop()

    def unavailable() -> bool:
        states = hass.states()
        return all(states[entity_id]["state"] == "unavailable" for entity_id in every)

    until(unavailable, "the entities to go unavailable")
    lines = [restart(meter, tmp_path) for meter in lines]
    try:
        for ids, meter in zip(entities, lines, strict=True):
            until(partial(values_match, hass, meter, ids),
                  f"{meter.profile}'s values back")
        pid = hass.process.pid
        seen = [footprint(pid, lines)]
        for _ in range(5):
            for entry, ids, meter in zip(entries, entities, lines, strict=True):
                hass.ok("POST", f"/api/config/config_entries/entry/{entry}/reload")
                until(partial(values_match, hass, meter, ids),
                      f"{meter.profile}'s values after a reload")
            seen.append(footprint(pid, lines))
        print("open after each reload:", seen)
        threads = [counts.pop("threads") for counts in seen]
        # the executor starts workers on demand (a few, once); a leak adds one per reload (10)
        assert max(threads) <= threads[0] + 2, threads
        for meter in lines:
            if meter.address.startswith("tcp://"):
                assert seen[0][f"{meter.profile} sockets"] == 1
                assert seen[0][f"{meter.profile} bridge connections"] == 1
            else:
                assert seen[0][f"{meter.profile} pty"] == 1
        assert all(counts == seen[0] for counts in seen[1:]), seen
    finally:
        for meter in lines:
            meter.stop()
        for entry in entries:
            remove(hass, entry)


def key_spellings(key: str) -> list[str]:
    raw = bytes.fromhex(key)
    return [raw.hex(), raw.hex().upper(), raw.hex(" "), raw.hex(":"), raw.hex(":").upper(),
            raw.hex(" ").upper(), base64.b64encode(raw).decode(), raw.hex()[:16],
            raw.hex()[16:].upper()]


def test_diagnostics_have_no_key_and_a_capture_that_decodes(
        hass: Hass, meters: Callable[..., Meter]) -> None:
    meter = meters("vkw")
    typed = "0x" + bytes.fromhex(KEY).hex(":")  # a spelling the command line takes too
    result = set_up(hass, meter.address, key=typed)
    entry = entry_id_of(result)
    ids = check_entry(hass, result, meter)
    until(lambda: len(meter.sent()) >= 3 and values_match(hass, meter, ids), "three pushes")
    try:
        status, found = hass.call("GET", f"/api/diagnostics/config_entry/{entry}")
        assert status == 200, found
        text = json.dumps(found)
        for spelling in [*key_spellings(KEY), typed]:
            assert spelling.lower() not in text.lower(), "a spelling of the key"
        reading = first_reading("vkw")
        assert str(reading.meter.id) not in text and str(reading.meter.system_title) not in text
        data = found["data"]
        assert data["detection"]["framing"].replace("-", "").lower() == "mbus"  # "M-Bus"
        assert data["reader"]["state"] == "receiving" and data["reader"]["pushes"] >= 1
        chunks = list(parse_capture(data["capture"]))
        readings = Decoder(bytes.fromhex(KEY)).feed(b"".join(chunk.data for chunk in chunks))
        assert readings, "the capture decodes with the key"
        assert all(r.meter.id != reading.meter.id for r in readings)  # redacted
        assert {obis for r in readings for obis in r.values} >= set(reading.values)
    finally:
        remove(hass, entry)


# ------------------------------------------------------------------ the setup screens


class Gate:
    """A serial bridge in front of the simulator's that holds the meter's bytes back until
    ``open``: the detection's progress stays on screen for its screenshot."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.closed.set()
        self.opened.set()
        for sock in list(self.sockets):
            with suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.sockets.append(client)
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        self.opened.wait()
        try:
            meter = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            client.close()
            return
        self.sockets.append(meter)
        ends = {client: meter, meter: client}
        with client, meter:
            while not self.closed.is_set():
                try:
                    ready, _, _ = select.select(list(ends), [], [], 0.5)
                    for sock in ready:
                        data = sock.recv(4096)
                        if not data:
                            return
                        ends[sock].sendall(data)
                except OSError:
                    return


#: what each screen must show in the user's language (the integration's translations and the
#: reader's own sentences); the progress step has the integration's name as its title
SCREENS = {
    "en": {"user": "Smart meter: where is it connected?", "key": "The meter's key",
           "detect": "Listening on", "confirm": "Found: Kaifa 1KFM0200014196",
           "reading": "Energy import: 4,321.", "done": "Created configuration for",
           "failed": "No reading yet", "verdict": "The key does not decrypt this meter's data"},
    "de": {"user": "Smart Meter: wo ist er angeschlossen?", "key": "Der Schlüssel des Zählers",
           "detect": "wird auf den Zähler gehört", "confirm": "Gefunden: Kaifa 1KFM0200014196",
           "reading": "Zählerstand Bezug: 4.321,", "done": "Konfiguration für Kaifa",
           "failed": "Noch kein Messwert",
           "verdict": "Der Schlüssel entschlüsselt die Daten dieses Zählers nicht"},
}


def set_language(hass: Hass, language: str) -> None:
    """Home Assistant's own language (the reader's sentences follow it) and the user's
    frontend language, as the profile page saves it."""
    hass.ws({"type": "config/core/update", "language": language},
            {"type": "frontend/set_user_data", "key": "language", "value": {
                "language": language, "number_format": "language", "time_format": "language",
                "date_format": "language", "time_zone": "local", "first_weekday": "language"}})


@pytest.mark.parametrize("language", ["en", "de"])
def test_setup_screens_in_the_frontend(hass: Hass, meters: Callable[..., Meter],
                                       language: str) -> None:
    """Home Assistant's frontend in Chromium, logged in with the onboarding's tokens: the
    port, key, progress and confirm screens of a Kaifa behind a bridge, and the screen a
    wrong key ends on; each shows its translated title and is saved as a screenshot."""
    from webkit import ARTIFACTS, chromium

    words = SCREENS[language]
    meter = meters("vkw", tcp=True)
    gate = Gate(int(meter.device.rsplit(":", 1)[1]))
    set_language(hass, language)
    ARTIFACTS.mkdir(exist_ok=True)
    tokens = hass.browser_tokens
    login = (f"const t = {json.dumps(tokens)}; t.expires = Date.now() + t.expires_in * 1000;"
             "localStorage.setItem('hassTokens', JSON.stringify(t));"
             f"localStorage.setItem('selectedLanguage', {json.dumps(json.dumps(language))});")
    try:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1100, "height": 800},
                                          locale=language)
            context.add_init_script(login)
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))

            def shot(step: str, text: str) -> None:
                page.get_by_text(text).first.wait_for(timeout=CEILING * 1000)
                page.screenshot(path=str(ARTIFACTS / f"ha-setup-{language}-{step}.png"))

            def submit() -> None:
                page.locator("dialog-data-entry-flow mwc-button").last.click()

            def start(address: str, key: str) -> None:
                page.goto(f"{hass.url}/config/integrations/dashboard/add?domain={DOMAIN}")
                page.locator("dialog-box mwc-button").last.click()  # "set up ...?": OK
                page.get_by_text(words["user"]).wait_for(timeout=CEILING * 1000)
                port = page.locator("dialog-data-entry-flow input").first
                port.fill("")  # the combo box: typed, not the first port listed
                port.press_sequentially(address)
                port.press("Enter")
                page.get_by_text(words["user"]).click()  # closes the list of ports
                assert port.input_value() == address
                shot("port", words["user"])
                submit()
                shot("key", words["key"])
                page.locator("dialog-data-entry-flow input[type=password]").first.fill(key)
                submit()

            start(f"tcp://127.0.0.1:{gate.port}", KEY)
            shot("progress", words["detect"])
            gate.open()
            shot("confirm", words["confirm"])
            page.get_by_text(words["reading"]).wait_for()
            submit()
            shot("done", words["done"])
            [entry] = hass.ok("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
            remove(hass, entry["entry_id"])

            start(meter.address, WRONG_KEY)
            shot("failed", words["failed"])
            page.get_by_text(words["verdict"]).wait_for()  # doctor's, in the user's language
            assert not problems, problems
    finally:
        gate.close()
        [flows] = hass.ws({"type": "config_entries/flow/progress"})
        for flow in flows:
            if flow["handler"] == DOMAIN:
                hass.call("DELETE", f"/api/config/config_entries/flow/{flow['flow_id']}")
        set_language(hass, "en")


def test_a_flow_left_during_the_detection_closes_its_connection(
        hass: Hass, meters: Callable[..., Meter]) -> None:
    """The user closes the dialog while the detection listens: the flow is deleted, and the
    detection's connection to the bridge goes with it."""
    meter = meters("vkw", tcp=True)
    gate = Gate(int(meter.device.rsplit(":", 1)[1]))  # never opened: the detection waits
    try:
        flow = hass.ok("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
        path = f"/api/config/config_entries/flow/{flow['flow_id']}"
        hass.ok("POST", path, {"port": f"tcp://127.0.0.1:{gate.port}"})
        assert hass.ok("POST", path, {"key": KEY, "auth_key": ""})["type"] == "progress"
        pid = hass.process.pid
        until(lambda: sockets_to(pid, gate.port) == 1, "the detection to connect")
        hass.ok("DELETE", path)
        until(lambda: sockets_to(pid, gate.port) == 0, "the detection's connection to close",
              timeout=60)
        assert hass.call("GET", path)[0] == 404
    finally:
        gate.close()
