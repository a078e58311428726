"""A wireless M-Bus receiver stick on a pseudo-terminal, hearing a LINZ NETZ meter and its
neighbours: what ``simulate --profile linznetz --receiver NAME`` runs.

The stick speaks its own protocol (``link.receivers``): iM871A HCI frames, Amber command
frames, culfw lines or rtl_wmbus lines. It answers the set-up commands the reader sends
(iM871A: ping and set config; Amber: set mode; culfw: the version for ``V``). The iM871A
and the CUL, like sticks whose link mode is kept in their non-volatile memory, send what
they hear whether or not the reader set them up; the Amber hears T1 meters only once its
mode is set to 0x08 (T2-Other: its 0x05, T1-Meter, is a meter's sending mode and hears
nothing). Telegrams are lost at the rate ``loss`` (out of radio range, a collision), as on
the air.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ..link.receivers import (
    AMBER_MODE_T2_OTHER,
    AMBER_SET_MODE,
    DEVMGMT,
    PING_REQ,
    PING_RSP,
    RECEIVER_BAUD,
    SET_CONFIG_REQ,
    SET_CONFIG_RSP,
    AmberStream,
    Im871aStream,
    amber_frame,
    im871a_frame,
)
from .pty import VirtualSerialPort
from .wmbus import NEIGHBOURS, WirelessMeter, frame_for, neighbour_telegram

__all__ = ["RECEIVER_NAMES", "RadioStick"]

RECEIVER_NAMES = ("im871a", "amb8465", "cul", "rtl_wmbus")
INTERVAL = 5.0  # LN-666: a telegram every 5 s
VIENNA = ZoneInfo("Europe/Vienna")  # a LINZ NETZ meter's clock, as the other profiles'


class RadioStick:
    def __init__(self, receiver: str, key: bytes, *, link: str | Path | None = None,
                 interval: float | None = None, seed: int = 1, loss: float = 0.0,
                 log: TextIO | None = None) -> None:
        if receiver not in RECEIVER_NAMES:
            raise ValueError(receiver)
        self.receiver = receiver
        # at the stick's own rate: a reader at another one gets noise (rtl_wmbus: a pipe)
        self.port = VirtualSerialPort(link, baud=RECEIVER_BAUD.get(receiver), seed=seed)
        self.path = self.port.path
        self.interval = INTERVAL if interval is None else interval
        self.meter = WirelessMeter(key, seed=seed)
        self.loss = loss
        self._rng = random.Random(seed)
        self._log = log
        self._heard = Im871aStream()  # the reader's commands to an iM871A, parsed
        self._amber = AmberStream()  # and to an Amber stick
        self.configured = False  # the reader set the stick to receive mode T1
        self.modes: list[int] = []  # the modes an Amber stick was set to, in order
        self.sent = self.lost = self.neighbours = self.unheard = 0

    async def run(self, count: int | None = None,
                  now: Callable[[], datetime] = lambda: datetime.now(VIENNA)) -> None:
        """Send ``count`` telegrams of the meter (None: for ever), neighbours in between;
        their clock is the meter's wall time, Vienna's (not the machine's zone)."""
        number = 0
        while count is None or number < count:
            self._answer()
            self.port.before_frame()
            for _ in range(self._rng.randrange(0, 3)):
                index = self._rng.randrange(len(NEIGHBOURS))
                neighbour = neighbour_telegram(index, now(), self._rng.randrange(256))
                if self.hears:
                    self.port.write(frame_for(self.receiver, neighbour))
                    self.neighbours += 1
            telegram = self.meter.next(now().replace(microsecond=0))
            if self._rng.random() < self.loss:
                self.lost += 1
            elif not self.hears:  # an Amber not yet set to receive
                self.unheard += 1
            else:
                self.port.write(frame_for(self.receiver, telegram))
                self.sent += 1
                if self._log is not None:
                    self._log.write(json.dumps({"access": self.meter.access,
                                                "import_wh": self.meter.import_wh,
                                                "export_wh": self.meter.export_wh}) + "\n")
                    self._log.flush()
            number += 1
            await self._wait(self.interval)
        self._answer()

    @property
    def hears(self) -> bool:
        """Does the stick receive T1 meters (an Amber only in the mode set last)?"""
        return self.receiver != "amb8465" or self.configured

    async def _wait(self, seconds: float) -> None:
        """Sleep, answering the reader's commands meanwhile."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(left, 0.05))
            self._answer()

    def _answer(self) -> None:
        data = self.port.received()
        if not data:
            return
        if self.receiver == "im871a":
            self._heard.feed(data)
            for endpoint, message, _payload in self._heard.replies:
                if endpoint == DEVMGMT and message == PING_REQ:
                    self.port.write(im871a_frame(DEVMGMT, PING_RSP, b""))
                elif endpoint == DEVMGMT and message == SET_CONFIG_REQ:
                    self.configured = True
                    self.port.write(im871a_frame(DEVMGMT, SET_CONFIG_RSP, b"\x00"))
            self._heard.replies.clear()
        elif self.receiver == "amb8465":
            self._amber.feed(data)
            for command, payload in self._amber.replies:
                if command == AMBER_SET_MODE and len(payload) == 1:
                    self.modes.append(payload[0])
                    self.configured = payload[0] == AMBER_MODE_T2_OTHER
                    self.port.write(amber_frame(AMBER_SET_MODE | 0x80, b"\x00"))
            self._amber.replies.clear()
        elif self.receiver == "cul":
            text = data.decode("ascii", "replace")
            if "brt" in text:
                self.configured = True
            if "V\r" in text or "V\n" in text:
                self.port.write(b"V 1.67 nanoCUL868\r\n")

    def close(self) -> None:
        self.port.close()
