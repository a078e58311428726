"""A Netz OÖ AMIS meter on a pseudo-terminal: it resets the link until a reader acknowledges,
then sends a telegram a second and waits for each E5; the reader answers every one in time,
and a reader that does not answer loses the meter after ten telegrams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livekit import CLI, ENV, jsonl
from smartmeter_readout import Decoder
from smartmeter_readout.sim.simulator import Simulator
from smartmeter_readout.sim.virtual_meter import VirtualMeter

KEY = bytes(range(16))


def test_the_simulated_amis_telegram_decodes_to_its_values() -> None:
    simulator = Simulator("netzooe", key=KEY, seed=4)
    decoder = Decoder(KEY)
    # the autumn night: 02:30 comes twice, the DST flag of the date-time says which
    for hour, offset in ((0, 7200), (1, 3600)):
        push = simulator.push(datetime(2026, 10, 25, hour, 30, tzinfo=UTC))
        [reading] = decoder.feed(push.wire)
        for code, value in push.expected.items():
            assert reading.values[code].value == value, code
        assert reading.time is not None and reading.time.utcoffset() is not None
        assert reading.time.utcoffset().total_seconds() == offset  # type: ignore[union-attr]
        assert decoder.data_to_send() == b"\xe5"
    # a meter that missed acknowledgements resets the link: heard after its long frames too
    assert decoder.feed(bytes.fromhex("1040F03016")) == []
    assert decoder.data_to_send() == b"\xe5" and decoder.link_resets == 1


def test_read_acknowledges_every_telegram(tmp_path: Path) -> None:
    async def scenario() -> tuple[VirtualMeter, subprocess.CompletedProcess[str]]:
        meter = VirtualMeter(Simulator("netzooe", key=KEY, seed=2), link=tmp_path / "ttyAMIS",
                             interval=0.3, search_every=0.5, ack_window=1.0)
        task = asyncio.create_task(meter.run())
        try:
            result = await asyncio.to_thread(subprocess.run, [
                *CLI, "read", "--port", str(tmp_path / "ttyAMIS"), "--operator", "netzooe",
                "--key", KEY.hex(), "--count", "12", "--format", "jsonl"],
                capture_output=True, text=True, env=ENV, timeout=120)
        finally:
            task.cancel()
            meter.close()
        return meter, result

    meter, result = asyncio.run(scenario())
    assert result.returncode == 0, result.stderr
    readings = jsonl(result.stdout)
    assert len(readings) == 12
    assert all(r["values"]["1.0.1.8.0.255"]["unit"] == "Wh" for r in readings)
    assert meter.searches == 0  # never lost: every telegram was acknowledged in time
    assert len(meter.ack_delays) >= 12
    # the number came once, at start, over IEC 62056-21 (the telegrams leave it zero)
    assert meter.readouts == 1
    assert {r["meter"]["id"] for r in readings} == {"70012345"}
    assert KEY.hex() not in result.stderr + json.dumps(readings)


def test_run_survives_lost_acknowledgements_and_a_replug(tmp_path: Path) -> None:
    """The service keeps the meter through a burst of acknowledgements it misses (it searches
    again and is answered) and an IR head pulled and put back: every telegram the meter sent
    is a reading on the console and a row in SQLite, in order, none twice."""
    link, db = tmp_path / "ttyAMIS", tmp_path / "history.sqlite"

    async def wait(condition: Callable[[], bool], what: str) -> None:
        deadline = asyncio.get_running_loop().time() + 90  # a safety net, not a timing
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, what
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[VirtualMeter, list[dict[str, Any]], str]:
        meter = VirtualMeter(Simulator("netzooe", key=KEY, seed=3), link=link, interval=0.3,
                             search_every=0.5, ack_window=1.0)
        running = asyncio.create_task(meter.run())
        service = await asyncio.create_subprocess_exec(
            *CLI, "run", "--port", str(link), "--key", KEY.hex(), "--sqlite", str(db),
            "--console", "jsonl", env={**ENV, "SMARTMETER_METER_OPERATOR": "netzooe",
                                       "SMARTMETER_WEB_ENABLED": "false"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        readings: list[dict[str, Any]] = []

        async def collect() -> None:
            assert service.stdout is not None
            async for line in service.stdout:
                readings.append(json.loads(line))

        collecting = asyncio.create_task(collect())
        try:
            await wait(lambda: len(readings) >= 8, "the service read no telegrams")
            meter.lose_acks(12)  # ten missed in a row: the meter searches again
            await wait(lambda: meter.searches == 1, "the meter never missed enough")
            relinked = len(meter.sent)
            await wait(lambda: len(meter.sent) >= relinked + 8, "the meter did not come back")
            meter.replug(2.0)
            replugged = len(meter.sent)
            await wait(lambda: len(meter.sent) >= replugged + 8, "no telegrams after the replug")
            meter.stop()
            await running
            await wait(lambda: len(readings) >= len(meter.sent), "telegrams were not read")
            await asyncio.sleep(0.5)  # what the service would still (wrongly) print
        finally:
            running.cancel()
            meter.close()
            if service.returncode is None:
                service.terminate()
            await service.wait()
            await collecting
        assert service.stderr is not None
        return meter, readings, (await service.stderr.read()).decode()

    meter, readings, log = asyncio.run(scenario())
    sent = [push.push.frame_counter for push in meter.sent]
    assert [reading["frame_counter"] for reading in readings] == sent, log
    with contextlib.closing(sqlite3.connect(db)) as connection:
        stored = [row[0] for row in connection.execute(
            "SELECT frame_counter FROM readings ORDER BY time")]
    assert stored == sent
    assert meter.searches == 1 and meter.readouts == 1
    assert "disconnected" in log and "trying again" in log
    assert KEY.hex() not in log


def test_a_reader_that_does_not_answer_loses_the_meter() -> None:
    async def scenario() -> VirtualMeter:
        meter = VirtualMeter(Simulator("netzooe", key=KEY, seed=2), interval=0.05,
                             search_every=0.05, ack_window=0.05, pace=False,
                             emulate_baud=False)  # this reader sets no baud rate
        reader = os.open(meter.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        running = asyncio.create_task(meter.run())
        answered = False
        try:
            # this reader acknowledges the link reset (so the meter starts), then nothing
            deadline = asyncio.get_running_loop().time() + 60  # a safety net, not a timing
            while meter.searches == 0:
                assert asyncio.get_running_loop().time() < deadline, "the meter never searched"
                with contextlib.suppress(BlockingIOError):
                    if b"\x10\x40\xf0\x30\x16" in os.read(reader, 4096) and not answered:
                        os.write(reader, b"\xe5")
                        answered = True
                await asyncio.sleep(0.01)
        finally:
            running.cancel()
            os.close(reader)
            meter.close()
        return meter

    meter = asyncio.run(scenario())
    assert meter.searches == 1 and len(meter.sent) == 10  # ten unanswered, then it searched


def test_doctor_reads_an_amis_meter_and_names_its_operator(tmp_path: Path) -> None:
    from livekit import run, simulator

    link = tmp_path / "ttyMETER"
    with simulator(link, "netzooe", interval=0.5):
        good = run(["doctor", "--port", link, "--key", KEY.hex(), "--timeout", "10"])
        wrong = run(["doctor", "--port", link, "--key", "11" * 16, "--timeout", "10"])
    assert good.returncode == 0, good.stdout
    assert "made by Siemens (AMIS)" in good.stdout and "layout G" in good.stdout
    assert 'operator = "netzooe"' in good.stdout
    assert wrong.returncode == 3, wrong.stdout
    assert "Netz OÖ eService portal" in wrong.stdout


def test_doctor_says_when_the_meter_does_not_hear_the_acknowledgements(tmp_path: Path) -> None:
    async def scenario() -> subprocess.CompletedProcess[str]:
        # an IR head that cannot transmit: the meter hears no E5 and keeps resetting
        meter = VirtualMeter(Simulator("netzooe", key=KEY), link=tmp_path / "ttyAMIS",
                             search_every=0.3, ack_window=0.0)
        running = asyncio.create_task(meter.run())
        try:
            return await asyncio.to_thread(subprocess.run, [
                *CLI, "doctor", "--port", str(tmp_path / "ttyAMIS"), "--operator", "netzooe",
                "--key", KEY.hex(), "--timeout", "3"], capture_output=True, text=True,
                env=ENV, timeout=60)
        finally:
            running.cancel()
            meter.close()

    result = asyncio.run(scenario())
    assert result.returncode == 4, result.stdout
    assert "does not hear the acknowledgements" in result.stdout
    assert "IR head must be able to transmit" in result.stdout


def test_a_port_that_cannot_take_the_readout_settings_is_not_asked() -> None:
    """Neither 300 7E1 nor 7N1 can be set: the number is not asked, and the reader goes on
    to read the pushes (it used to retry the sign-on forever)."""
    from smartmeter_readout.live.identify import ask_meter_number
    from smartmeter_readout.operators import SerialSettings
    from smartmeter_readout.sources.base import SettingUnsupported

    class NoSevenBits:
        name, readout, settings = "/dev/ttyUSB0", SerialSettings(300, "E", 7), ()

        async def open(self, settings: SerialSettings | None = None) -> None:
            raise SettingUnsupported(f"/dev/ttyUSB0 does not support {settings}")

    answer = asyncio.run(ask_meter_number(NoSevenBits(), SerialSettings(300, "E", 7)))  # type: ignore[arg-type]
    assert answer.number is None and answer.identification is None
