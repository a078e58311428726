"""A Netz OÖ AMIS meter on a pseudo-terminal: it resets the link until a reader acknowledges,
then sends a telegram a second and waits for each E5; the reader answers every one in time,
and a reader that does not answer loses the meter after ten telegrams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

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
    assert KEY.hex() not in result.stderr + json.dumps(readings)


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
