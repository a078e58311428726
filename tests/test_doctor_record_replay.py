"""``doctor`` verdicts, ``record`` -> ``replay`` round trips and the TCP source, for real."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from livekit import CLI, ENV, KEY, WRONG_KEY, jsonl, run, simulator, wait_for
from smartmeter_readout.live.doctor import Verdict, diagnose
from smartmeter_readout.operators import SerialSettings
from smartmeter_readout.sim.pty import VirtualSerialPort
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sources.base import SourceLost


def test_doctor_silent_line(tmp_path: Path) -> None:
    with VirtualSerialPort(tmp_path / "ttyQUIET") as port:
        result = run(["doctor", "--port", port.path, "--timeout", "2"])
    assert result.returncode == 1, result.stdout
    assert "Verdict: No signal" in result.stdout
    assert "pins 3 and 4" in result.stdout


def test_doctor_wrong_key_names_where_the_key_comes_from(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "wienernetze", interval=0.3):
        result = run(["doctor", "--port", link, "--key", WRONG_KEY, "--timeout", "5"])
    assert result.returncode == 3, result.stdout
    assert "HDLC frames" in result.stdout and "9600 8N1" in result.stdout
    assert "made by Iskraemeco" in result.stdout and "Wiener Netze" in result.stdout
    assert "Verdict: The key does not decrypt" in result.stdout
    assert "smart meter web portal" in result.stdout
    assert WRONG_KEY not in result.stdout + result.stderr


def test_doctor_key_missing_and_tag_failing(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "netzburgenland", interval=0.3):
        missing = run(["doctor", "--port", link, "--timeout", "5"])
        bad_tag = run(["doctor", "--port", link, "--key", KEY, "--auth-key", WRONG_KEY,
                       "--timeout", "5"])
    assert missing.returncode == 3 and "no key was given" in missing.stdout
    assert "Netz Burgenland: a text file" in missing.stdout
    assert bad_tag.returncode == 3 and "authentication key (--auth-key) is wrong" in \
        bad_tag.stdout


def test_doctor_success_shows_reading_and_config(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "vkw", interval=0.5):
        result = run(["doctor", "--port", link, "--key", KEY, "--timeout", "5"])
    assert result.returncode == 0, result.stdout
    assert "Verdict: Everything works" in result.stdout
    assert "M-Bus frames" in result.stdout and "made by Kaifa" in result.stdout
    # VKW, TINETZ and Salzburg Netz Kaifas send alike: the config says so, not a guess
    assert 'operator = "auto"  # one of vkw, tinetz, salzburgnetz' in result.stdout
    assert "Voltage L1" in result.stdout
    assert f'port = "{link}"' in result.stdout and "baud = 2400" in result.stdout
    assert KEY not in result.stdout


def test_doctor_names_netz_noe_for_its_kaifa_by_the_layout(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "netznoe", interval=0.5):
        result = run(["doctor", "--port", link, "--key", KEY, "--timeout", "5"])
    assert result.returncode == 0, result.stdout
    assert 'operator = "netznoe"  # Netz Niederösterreich (EVN)' in result.stdout
    assert "vkw" not in result.stdout


def test_doctor_wrong_key_lists_the_operators_once_and_not_norway(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    with simulator(link, "netznoe", interval=0.3):
        result = run(["doctor", "--port", link, "--key", WRONG_KEY, "--timeout", "5"])
    assert result.returncode == 3, result.stdout
    assert result.stdout.count("Netz Niederösterreich (EVN)") == 1
    assert "Norway" not in result.stdout
    assert "Vorarlberg" in result.stdout  # a Kaifa on 2400 baud may be theirs as well


def test_record_then_replay_gives_identical_readings(tmp_path: Path) -> None:
    link, capture = tmp_path / "ttyMETER", tmp_path / "capture.txt"
    with simulator(link, "netznoe", interval=0.3):
        recorded = run(["record", "--port", link, "--key", KEY, "--output", capture,
                        "--count", "4", "-q"])
    assert recorded.returncode == 0, recorded.stderr
    text = capture.read_text()
    assert text.startswith("# smartmeter-readout capture 1") and KEY not in text
    decoded = run(["decode", capture, "--key", KEY, "--format", "jsonl"])
    assert decoded.returncode == 0, decoded.stderr
    original = jsonl(decoded.stdout)
    assert len(original) >= 3
    # receive times come from the capture, not from the moment of decoding
    stamps = {datetime.fromisoformat(line.split()[0][:23] + "+00:00")  # to milliseconds
              for line in text.splitlines() if not line.startswith("#")}
    assert all(datetime.fromisoformat(r["received"]) in stamps for r in original)

    replay_link = tmp_path / "ttyREPLAY"
    player = subprocess.Popen([*CLI, "replay", str(capture), "--link", str(replay_link),
                               "--speed", "4", "--wait", "1.5"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for(replay_link)
        replayed = run(["read", "--port", replay_link, "--key", KEY, "--baud", "2400",
                        "--parity", "N", "--count", str(len(original)), "--format", "jsonl"])
    finally:
        player.wait(30)
        player.stdout.close()  # type: ignore[union-attr]
        player.stderr.close()  # type: ignore[union-attr]
    assert replayed.returncode == 0, replayed.stderr
    from_source = run(["read", "--replay", capture, "--key", KEY, "--count",
                       str(len(original)), "--format", "jsonl"])
    assert from_source.returncode == 0, from_source.stderr

    def strip(readings: list[dict[str, object]]) -> list[str]:
        return [json.dumps({k: v for k, v in r.items() if k != "received"}, sort_keys=True)
                for r in readings]

    assert strip(jsonl(replayed.stdout)) == strip(original)
    assert jsonl(from_source.stdout) == original  # same receive times, from the capture


def test_record_raw_stays_decodable(tmp_path: Path) -> None:
    link, capture = tmp_path / "ttyMETER", tmp_path / "capture.bin"
    with simulator(link, "kaerntennetz", interval=0.3):
        result = run(["record", "--port", link, "--output", capture, "--raw", "--duration",
                      "3", "-q"])
    assert result.returncode == 0, result.stderr
    assert "key" not in result.stderr  # recording needs no key: nothing to warn about
    assert b"\x7e\xa0" in capture.read_bytes()  # raw HDLC frames, no text
    decoded = run(["decode", capture, "--key", KEY, "--format", "jsonl"])
    assert decoded.returncode == 0 and len(jsonl(decoded.stdout)) >= 2
    again = run(["record", "--port", link, "--output", capture, "--raw", "--duration", "1"])
    assert again.returncode == 2 and "--force overwrites it, --append adds to it" in again.stderr


class _Bridge:
    """A ser2net stand-in on 127.0.0.1: sends simulated pushes, then drops the client."""

    def __init__(self, pushes_per_client: int, cut: int = 0) -> None:
        self.simulator = Simulator("kaerntennetz", key=bytes.fromhex(KEY), seed=2)
        self.pushes = pushes_per_client
        self.cut = cut  # a client that comes in mid-push: the first push lacks its start
        self.clients = 0
        self.port = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self._serve(),), daemon=True)
        self.stop = asyncio.Event()

    async def _serve(self) -> None:
        from datetime import UTC, datetime

        async def client(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.clients += 1
            try:
                for number in range(self.pushes):
                    wire = self.simulator.push(datetime.now(UTC)).wire
                    writer.write(wire[self.cut:] if number == 0 else wire)
                    await writer.drain()
                    await asyncio.sleep(0.2)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    await writer.wait_closed()

        server = await asyncio.start_server(client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        async with server:
            await self.stop.wait()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> _Bridge:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)
        self.loop.close()


def test_record_begins_with_a_whole_push(tmp_path: Path) -> None:
    from smartmeter_readout.capture.format import parse_capture

    capture = tmp_path / "capture.txt"
    with _Bridge(pushes_per_client=20, cut=40) as bridge:
        result = run(["record", "--tcp", f"127.0.0.1:{bridge.port}", "--output", capture,
                      "--count", "3"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert "recording from the first whole push on" in result.stderr
    chunks = list(parse_capture(capture.read_text()))
    assert chunks[0].data.startswith(b"\x7e\xa0")
    decoded = run(["decode", capture, "--key", KEY, "--format", "jsonl"])
    assert decoded.returncode == 0 and len(jsonl(decoded.stdout)) >= 2
    assert "broken" not in decoded.stderr and "garbage" not in decoded.stderr


def test_tcp_bridge_with_reconnect() -> None:
    with _Bridge(pushes_per_client=3) as bridge:
        result = run(["read", "--tcp", f"127.0.0.1:{bridge.port}", "--key", KEY, "--count",
                      "7", "--format", "jsonl"], timeout=60)
        clients = bridge.clients
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 7
    assert clients >= 3  # the bridge dropped the reader twice; it came back each time
    assert "the bridge closed the connection" in result.stderr


def test_tcp_bridge_not_running_is_retried_with_a_clear_message() -> None:
    reader = subprocess.Popen([*CLI, "read", "--tcp", "127.0.0.1:9", "--key", KEY],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV)
    time.sleep(3)
    reader.terminate()
    _, err = reader.communicate(10)
    assert "is the serial bridge running" in err
    assert err.count("is the serial bridge running") == 1  # one line, not one per retry


def test_record_redacted_capture_decodes_without_identifiers(tmp_path: Path) -> None:
    link, capture = tmp_path / "ttyMETER", tmp_path / "redacted.txt"
    with simulator(link, "vkw", interval=0.3):
        result = run(["record", "--port", link, "--key", KEY, "--output", capture, "--count",
                      "3", "--redact", "-q"])
    assert result.returncode == 0, result.stderr
    text = capture.read_text()
    assert "identifiers redacted" in text
    assert "4b464d1020003774" not in text.lower()  # the VKW profile's system title
    decoded = run(["decode", capture, "--key", KEY, "--format", "jsonl"])
    readings = jsonl(decoded.stdout)
    assert decoded.returncode == 0 and readings
    assert all(r["meter"]["system_title"] == "4B464D0000000001" for r in readings)
    assert all(r["meter"]["id"] == "0KFM0000000000" for r in readings)


def test_record_append_adds_to_a_capture_under_one_header(tmp_path: Path) -> None:
    link, capture = tmp_path / "ttyMETER", tmp_path / "capture.txt"
    with simulator(link, "vkw", interval=0.3):
        for extra in ([], ["--append"]):
            result = run(["record", "--port", link, "--output", capture, "--count", "1",
                          "-q", *extra])
            assert result.returncode == 0, result.stderr
    text = capture.read_text()
    assert text.count("# smartmeter-readout capture") == 1
    decoded = run(["decode", capture, "--key", KEY, "--format", "jsonl"])
    assert decoded.returncode == 0 and len(jsonl(decoded.stdout)) >= 2


def test_doctor_says_an_adapter_unplugged_while_it_listens() -> None:
    """Pulled out during the search for frames: a verdict, not a traceback (the Home
    Assistant setup screen shows it)."""

    class Unplugged:
        async def read(self, timeout: float) -> object:
            raise SourceLost("/dev/ttyUSB0 disconnected (adapter unplugged?)")

        def write(self, data: bytes) -> None: ...

        async def close(self) -> None: ...

    class Connector:
        name, readout = "/dev/ttyUSB0", None
        settings = (SerialSettings(2400),)

        async def open(self, settings: object = None) -> Unplugged:
            return Unplugged()

    said: list[str] = []
    found = asyncio.run(diagnose(Connector(), say=said.append, timeout=1))  # type: ignore[arg-type]
    assert found.verdict is Verdict.CANNOT_OPEN and "unplugged" in found.sentence
    assert "unplugged" in said[-1]
