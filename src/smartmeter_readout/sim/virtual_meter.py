"""The simulator on a pseudo-terminal or a TCP bridge: a meter that pushes like the real one.

Each push is framed exactly as the profile's meter frames it (segments, GBT blocks, security),
with the meter's pause between segments, and (``pace``) at the meter's line speed. Faults
from a ``FaultPlan`` damage pushes on the way. Every push is recorded with its fault, so
tests can check that the reader decoded each intact push and invented none.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..link.iec62056_21 import SIGN_ON, build_identification, build_readout
from ..operators import SerialSettings
from .amis import SND_NKE
from .faults import Fault, FaultPlan, break_tag, damage
from .line import Line
from .pty import VirtualSerialPort
from .simulator import SimulatedPush, Simulator
from .tcp import VirtualBridge

__all__ = ["SentPush", "VirtualMeter"]


@dataclass(frozen=True, slots=True)
class SentPush:
    push: SimulatedPush
    fault: Fault | None


class VirtualMeter:
    """``pace``: 1 sends at the meter's line speed, 0 at once, 3 three times as fast (a test
    that needs many pushes of a slow meter); ``tcp``: (host, port) serves the line as a
    serial bridge does instead of on a pseudo-terminal (port 0: a free one)."""

    def __init__(self, simulator: Simulator, *, link: str | Path | None = None,
                 interval: float | None = None, faults: FaultPlan | None = None,
                 pace: float = 1.0, seed: int = 0, unplug_seconds: float = 3.0,
                 emulate_baud: bool = True, search_every: float = 2.0,
                 ack_window: float = 0.5, tcp: tuple[str, int] | None = None) -> None:
        self.simulator = simulator
        profile = simulator.profile
        self.settings = SerialSettings.parse(profile.serial)
        self.baud = self.settings.baud if emulate_baud else None
        self.link = link
        self.tcp = tcp
        self.interval = interval if interval is not None else profile.interval
        self.faults = faults or FaultPlan()
        self.pace = pace
        self.unplug_seconds = unplug_seconds
        self.rng = random.Random(seed)
        self.port = self._line(seed)
        self.sent: list[SentPush] = []
        self.search_every = search_every  # an unlinked AMIS resets the link this often (the
        # real meter once a minute; the simulation sooner, so auto-detection is quick)
        self.ack_window = ack_window  # how long an AMIS waits for each acknowledgement
        self.ack_delays: list[float] = []  # frame sent -> E5 seen, seconds
        self.searches = 0  # times an AMIS fell back to searching for a reader
        self.readouts = 0  # IEC 62056-21 data readouts an AMIS gave (its number)
        self._signed_on = False
        self._deaf = 0  # acknowledgements an AMIS will not hear (a fault the tests inject)
        self._unplug_for: float | None = None
        self._stopping = False
        self.on_push: Callable[[SentPush], None] | None = None  # told before each push goes

    def _line(self, seed: int) -> Line:
        line: Line
        if self.tcp is not None:
            line = VirtualBridge(*self.tcp, baud=self.baud)
            self.tcp = (line.host, line.port)  # after an unplug it comes back on this port
        else:
            line = VirtualSerialPort(self.link, baud=self.baud, seed=seed)
        line.byte_bits = self.settings.byte_bits
        return line

    @property
    def path(self) -> str:
        return self.port.path

    async def run(self, count: int | None = None,
                  on_push: Callable[[SentPush], None] | None = None) -> None:
        """Push every ``interval`` seconds, ``count`` times (forever with None)."""
        if on_push is not None:
            self.on_push = on_push
        await self.port.start()
        if self.simulator.profile.amis:
            await self._run_amis(count)
            return
        loop = asyncio.get_running_loop()
        due = loop.time()
        index = 0
        while (count is None or index < count) and not self._stopping:
            index += 1
            fault = self.faults.choose(self.rng, authenticated=self.simulator.profile
                                       .authenticated)
            if fault is Fault.UNPLUG:
                await self.unplug(self.unplug_seconds)
                due = loop.time()
            await self.send_push(datetime.now(UTC), fault)
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def send_push(self, moment: datetime, fault: Fault | None = None) -> SentPush:
        tamper = break_tag if fault is Fault.TAG else None
        push = self.simulator.push(moment, tamper=tamper)
        frames = damage(push.frames, fault, self.rng)
        sent = SentPush(push, None if fault is Fault.UNPLUG else fault)
        self.sent.append(sent)
        if self.on_push is not None:
            self.on_push(sent)
        for number, frame in enumerate(frames):
            if number and self.simulator.profile.gap:
                await asyncio.sleep(self.simulator.profile.gap)
            await self.port.send(frame, pace=self.pace)
        return sent

    def stop(self) -> None:
        """End ``run`` after the push under way: every push in ``sent`` is then whole."""
        self._stopping = True

    def lose_acks(self, count: int) -> None:
        """The AMIS misses the next ``count`` acknowledgements (sunlight on the IR head)."""
        self._deaf = count

    def replug(self, seconds: float) -> None:
        """The AMIS's line goes away for ``seconds`` and comes back (the reader's IR head
        unplugged); the meter then searches for a reader again."""
        self._unplug_for = seconds

    def _heard(self) -> bytes:
        """What the reader sent; a sign-on at 300 baud is answered before the next telegram."""
        data = self.port.received()
        if SIGN_ON in data and self.port.reader_baud() in (300, None):
            self._signed_on = True
        return data

    async def _run_amis(self, count: int | None) -> None:
        """The AMIS's link: a reset (SND_NKE) until a reader acknowledges it, then a telegram
        every interval, each waiting for its E5; ten missed in a row and it searches again
        (the real meter resets once a minute: ``search_every``). Between telegrams it answers
        an IEC 62056-21 sign-on with its number."""
        loop = asyncio.get_running_loop()
        sent = missed = 0
        linked = False
        while (count is None or sent < count) and not self._stopping:
            if self._unplug_for is not None:
                seconds, self._unplug_for = self._unplug_for, None
                await self.unplug(seconds)
                linked = False
            self._heard()
            if self._signed_on:
                await self._answer_sign_on()
                linked = False
            if not linked:
                await self.port.send(SND_NKE, pace=self.pace)
                linked = await self._acknowledged()
                missed = 0
                if not linked:
                    await self._pause(self.search_every)
                continue
            due = loop.time() + self.interval
            await self.send_push(datetime.now(UTC))
            sent += 1
            if await self._acknowledged():
                missed = 0
            else:
                missed += 1
                if missed >= 10:
                    linked = False
                    self.searches += 1
            await self._pause(due - loop.time())

    async def _pause(self, seconds: float) -> None:
        """Wait, but not past a sign-on: the meter answers it within a second."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while not self._signed_on and (left := until - loop.time()) > 0:
            await asyncio.sleep(min(left, 0.05))
            self._heard()

    async def _acknowledged(self) -> bool:
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        while loop.time() - sent_at < self.ack_window:
            if b"\xe5" in self._heard():
                if self._deaf:
                    self._deaf -= 1
                    return False
                self.ack_delays.append(loop.time() - sent_at)
                return True
            await asyncio.sleep(0.005)
        return False

    async def _answer_sign_on(self) -> None:
        """Identification, then, once the reader selects it, the data readout with the
        meter's number, both at 300 baud. The identification text is made up: no public
        capture shows what an AMIS answers."""
        self._signed_on = False
        profile = self.simulator.profile
        await self.port.send(build_identification("SIE", "TD3511-SIM"), pace=self.pace, baud=300)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        heard = b""
        while b"\x06" not in heard and loop.time() < deadline:
            await asyncio.sleep(0.02)
            heard += self.port.received()
        if b"\x06" in heard:
            self.readouts += 1
            await self.port.send(build_readout({"0.0.0": profile.meter_id}),
                                 pace=self.pace, baud=300)

    async def unplug(self, seconds: float) -> None:
        """Hang up, vanish from the link path, come back after ``seconds``."""
        self.port.close()
        await asyncio.sleep(seconds)
        self.port = self._line(self.rng.randrange(1 << 30))
        await self.port.start()

    def close(self) -> None:
        self.port.close()
