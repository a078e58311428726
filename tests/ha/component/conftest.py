"""The integration's unit tests run in the Home Assistant venv (tests/test_ha_integration.py
starts them), with pytest-homeassistant-custom-component's ``hass``; meters are the
package's simulator on a pseudo-terminal or behind a virtual serial bridge on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

os.environ["LANGUAGE"] = "en"  # the package's messages in English, as in the main suite

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # custom_components/
sys.path.insert(0, str(ROOT / "tests"))  # the main suite's push builders

from smartmeter_readout.sim.simulator import Simulator  # noqa: E402
from smartmeter_readout.sim.virtual_meter import VirtualMeter  # noqa: E402

pytest_plugins = "pytest_homeassistant_custom_component"

KEY = bytes(range(16))
#: the same key as users paste it: lower case, in groups, with a prefix
KEY_TYPED = "0x00010203 04050607-08090a0b:0c0d0e0f"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: Any) -> None:
    return None


class Meter:
    """A simulated meter pushing every ``interval`` seconds until stopped."""

    def __init__(self, profile: str, *, tcp: bool, interval: float, seed: int = 1,
                 port: int = 0) -> None:
        self.meter = VirtualMeter(Simulator(profile, key=KEY, seed=seed), interval=interval,
                                  pace=0, tcp=("127.0.0.1", port) if tcp else None)
        self.task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        tcp = self.meter.tcp
        return f"tcp://{tcp[0]}:{tcp[1]}" if tcp else self.meter.path

    def start(self) -> Meter:
        self.task = asyncio.get_running_loop().create_task(self.meter.run())
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        self.meter.port.close()


@pytest.fixture
async def meters(socket_enabled: Any) -> AsyncIterator[Callable[..., Meter]]:
    """Simulated meters; sockets on (Home Assistant's test plugin blocks them), for the
    bridges on 127.0.0.1."""
    made: list[Meter] = []

    def make(profile: str = "vkw", *, tcp: bool = True, interval: float = 0.2,
             **kwargs: Any) -> Meter:
        meter = Meter(profile, tcp=tcp, interval=interval, **kwargs).start()
        made.append(meter)
        return meter

    yield make
    for meter in made:
        await meter.stop()


async def until(condition: Callable[[], Any], what: str, ceiling: float = 60.0) -> Any:
    """Wait for ``condition`` (polled on the loop; a ceiling, never a wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ceiling
    while not (result := condition()):
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {ceiling} s")
        await asyncio.sleep(0.02)
    return result
