"""What wireless M-Bus receivers send on their serial line, split into telegrams (sans I/O).

A receiver hears every meter around and hands each telegram over in its own framing:

- **iM871A** (IMST, WMBus USB HCI): ``A5 | control+endpoint | message id | length | payload
  [| timestamp 4] [| RSSI 1] [| CRC 2]``. Control bits 0x20 timestamp, 0x40 RSSI, 0x80 CRC
  (CRC-16/X.25 over the bytes from the control byte on, least significant byte first).
  A received telegram is endpoint 2 (radio link), message 0x03; its payload is the telegram
  from the C field on, CRCs removed: the L field is the payload's length.
- **CUL / nanoCUL** (culfw): text lines ``b<hex>`` (``bY<hex>`` for format B), the telegram
  with its CRCs, the RSSI appended after ``X21``.
- **Amber/Würth AMB8465** (command mode): ``FF | command | length | payload | XOR of all
  the bytes before``; a received telegram is command 0x03 (CMD_DATA_IND), its payload the
  telegram from the C field on. The receive mode is set with command 0x04 (CMD_SET_MODE_REQ,
  in volatile memory): Amber numbers its modes by the side that uses them, and 0x05
  "T1-Meter" is the meter's (sending) side; a collector hearing T1 meters uses 0x08
  "T2-Other" (which receives T1 and T2 meters' telegrams). The stick hears nothing in a
  meter's mode, so it is always set up, also when it is not named (``auto``).
- **rtl_wmbus** (an RTL-SDR): text lines ``MODE;crc_ok;frame_ok;time;rssi;rssi;id;0x<hex>``
  (the hex without CRCs; ``0;0`` marks a garbled one).
- **telegram**: bare telegrams one after the other (a hex string given to ``decode``).

Each parser's ``start()`` gives the bytes that make the stick receive mode T1 (what the
reader writes first); ``feed()`` answers ``Heard`` telegrams, ``Garbage`` and ``BrokenFrame`` items.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol

from ..message import N_, Message
from .checksums import crc16_x25
from .frames import BrokenFrame, Garbage
from .wmbus import HEADER, WmbusError, format_a_size, strip_crcs

__all__ = ["RECEIVERS", "RECEIVER_BAUD", "AmberStream", "Heard", "Im871aStream", "ReceiverStream",
           "amber_frame", "detect_receiver", "im871a_frame", "make_stream"]

_HEX = frozenset(string.hexdigits)
_MAX_LINE = 1024  # a text line longer than this is noise


class Heard(NamedTuple):
    """One telegram as the receiver heard it (CRCs possibly still in it)."""

    telegram: bytes
    rssi: int | None = None


Item = Heard | Garbage | BrokenFrame


class ReceiverStream(Protocol):
    name: str

    def start(self) -> bytes: ...

    def feed(self, data: bytes, final: bool = False) -> list[Item]: ...


# ------------------------------------------------------------------ iM871A

SOF = 0xA5
DEVMGMT, RADIOLINK = 0x01, 0x02
PING_REQ, PING_RSP, SET_CONFIG_REQ, SET_CONFIG_RSP = 0x01, 0x02, 0x03, 0x04
WMBUS_IND = 0x03
LINK_MODE_T1 = 0x03
_HAS_TIME, _HAS_RSSI, _HAS_CRC = 0x20, 0x40, 0x80


def im871a_frame(endpoint: int, message: int, payload: bytes, *, timestamp: int | None = None,
                 rssi: int | None = None, crc: bool = True) -> bytes:
    """One HCI frame (the reader's commands and the simulator's answers)."""
    control = endpoint & 0x0F
    tail = b""
    if timestamp is not None:
        control |= _HAS_TIME
        tail += timestamp.to_bytes(4, "big")
    if rssi is not None:
        control |= _HAS_RSSI
        tail += bytes((rssi & 0xFF,))
    if crc:
        control |= _HAS_CRC
    body = bytes((control, message, len(payload))) + payload + tail
    if crc:
        body += crc16_x25(body).to_bytes(2, "little")
    return bytes((SOF,)) + body


class Im871aStream:
    name = "im871a"

    def __init__(self) -> None:
        self._buf = bytearray()
        self.replies: list[tuple[int, int, bytes]] = []  # (endpoint, message, payload) heard

    def start(self) -> bytes:
        """Ping, then set the link mode to T1 in RAM (NVM flag 0, IIFlag1 0x02: link mode)."""
        return (im871a_frame(DEVMGMT, PING_REQ, b"", crc=False)
                + im871a_frame(DEVMGMT, SET_CONFIG_REQ, bytes((0x00, 0x02, LINK_MODE_T1)),
                               crc=False))

    def feed(self, data: bytes, final: bool = False) -> list[Item]:
        buf = self._buf
        buf += data
        out: list[Item] = []
        pos = 0
        skipped = 0
        while pos < len(buf):
            if buf[pos] != SOF:
                pos += 1
                skipped += 1
                continue
            if len(buf) - pos < 4:
                break
            control, message, length = buf[pos + 1], buf[pos + 2], buf[pos + 3]
            total = 4 + length + 4 * bool(control & _HAS_TIME) + bool(control & _HAS_RSSI) \
                + 2 * bool(control & _HAS_CRC)
            if len(buf) - pos < total:
                break
            frame = bytes(buf[pos : pos + total])
            if control & _HAS_CRC and \
                    crc16_x25(frame[1:-2]) != int.from_bytes(frame[-2:], "little"):
                if skipped:
                    out.append(Garbage(skipped))
                    skipped = 0
                out.append(BrokenFrame("im871a", N_("HCI CRC mismatch"), total))
                pos += total
                continue
            if skipped:
                out.append(Garbage(skipped))
                skipped = 0
            payload = frame[4 : 4 + length]
            endpoint = control & 0x0F
            if endpoint == RADIOLINK and message == WMBUS_IND:
                rssi = frame[4 + length + 4 * bool(control & _HAS_TIME)] \
                    if control & _HAS_RSSI else None
                out.append(Heard(bytes((len(payload),)) + payload, rssi))
            elif len(self.replies) < 16:
                self.replies.append((endpoint, message, payload))
            pos += total
        del buf[:pos]
        if skipped:
            out.append(Garbage(skipped))
        if final and buf:
            out.append(Garbage(len(buf)))
            buf.clear()
        return out


# ------------------------------------------------------------------ Amber AMB8465

AMBER_START = 0xFF
AMBER_DATA_IND, AMBER_SET_MODE = 0x03, 0x04
#: Amber's mode numbers: 0x05 T1-Meter sends T1; 0x08 T2-Other receives T1 (and T2) meters
AMBER_MODE_T1_METER, AMBER_MODE_T2_OTHER = 0x05, 0x08


def amber_frame(command: int, payload: bytes) -> bytes:
    """One command-mode frame: start, command, length, payload, XOR checksum."""
    body = bytes((AMBER_START, command, len(payload))) + payload
    check = 0
    for byte in body:
        check ^= byte
    return body + bytes((check,))


class AmberStream:
    name = "amb8465"

    def __init__(self) -> None:
        self._buf = bytearray()
        self.replies: list[tuple[int, bytes]] = []  # (command, payload) of the stick's answers

    def start(self) -> bytes:
        """Receive T1 meters: CMD_SET_MODE_REQ with mode 0x08 (T2-Other), in RAM."""
        return amber_frame(AMBER_SET_MODE, bytes((AMBER_MODE_T2_OTHER,)))

    def feed(self, data: bytes, final: bool = False) -> list[Item]:
        buf = self._buf
        buf += data
        out: list[Item] = []
        pos = skipped = 0
        while pos < len(buf):
            if buf[pos] != AMBER_START:
                pos += 1
                skipped += 1
                continue
            if len(buf) - pos < 3:
                break
            total = 4 + buf[pos + 2]
            if len(buf) - pos < total:
                break
            frame = bytes(buf[pos : pos + total])
            check = 0
            for byte in frame[:-1]:
                check ^= byte
            if check != frame[-1]:  # an FF inside noise, not a frame's start
                pos += 1
                skipped += 1
                continue
            if skipped:
                out.append(Garbage(skipped))
                skipped = 0
            command, payload = frame[1], frame[3:-1]
            if command == AMBER_DATA_IND:
                out.append(Heard(bytes((len(payload),)) + payload))
            elif len(self.replies) < 16:
                self.replies.append((command, payload))
            pos += total
        del buf[:pos]
        if skipped:
            out.append(Garbage(skipped))
        if final and buf:
            out.append(Garbage(len(buf)))
            buf.clear()
        return out


# ------------------------------------------------------------------ text lines


class _Buffered:
    """A stream that keeps what it has not read yet and needs no set-up command."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def start(self) -> bytes:
        return b""


class _Lines(_Buffered):
    """Lines of a text protocol; the parts of a line that do not fit are garbage."""

    name = "lines"

    def feed(self, data: bytes, final: bool = False) -> list[Item]:
        buf = self._buf
        buf += data
        out: list[Item] = []
        *lines, rest = bytes(buf).split(b"\n")
        if final:
            lines.append(rest)
            rest = b""
        if len(rest) > _MAX_LINE:
            out.append(Garbage(len(rest)))
            rest = b""
        self._buf = bytearray(rest)
        for raw in lines:
            line = raw.strip(b"\r\x00 \t")
            if line:
                out.extend(self._line(line.decode("ascii", "replace"), len(raw) + 1))
        return out

    def _line(self, line: str, size: int) -> Iterator[Item]:
        raise NotImplementedError


class CulStream(_Lines):
    name = "cul"

    def start(self) -> bytes:
        """Report mode with RSSI (``X21``), then wM-Bus receive mode T (``brt``); an empty
        line first ends whatever the stick got before (``auto``'s Amber set-up)."""
        return b"\r\nX21\r\nbrt\r\n"

    def _line(self, line: str, size: int) -> Iterator[Item]:
        if not line.startswith("b"):
            return  # the stick's answers (version, mode) and other reports
        digits = line[2:] if line.startswith("bY") else line[1:]
        if len(digits) % 2 or not set(digits) <= _HEX:
            yield BrokenFrame("cul", N_("a culfw line that is no hex telegram"), size)
            return
        telegram = bytes.fromhex(digits)
        rssi = None
        if telegram and not line.startswith("bY"):
            # X21 appends the RSSI byte after the telegram and its CRCs
            size_a = format_a_size(telegram[0])
            if len(telegram) == size_a + 1:
                rssi = telegram[-1]
                telegram = telegram[:-1]
        yield Heard(telegram, rssi)


class RtlWmbusStream(_Lines):
    name = "rtl_wmbus"

    def _line(self, line: str, size: int) -> Iterator[Item]:
        fields = line.split(";")
        hexfield = next((f for f in fields if f.lower().startswith("0x")), None)
        if len(fields) < 4 or hexfield is None:
            yield Garbage(size)
            return
        if fields[1].strip() == "0" or fields[2].strip() == "0":
            yield BrokenFrame("rtl_wmbus", N_("rtl_wmbus marks the telegram's CRC or "
                                              "3-out-of-6 code as failed"), size)
            return
        digits = hexfield[2:]
        if len(digits) % 2 or not set(digits) <= _HEX:
            yield BrokenFrame("rtl_wmbus", N_("a rtl_wmbus line that is no hex telegram"), size)
            return
        rssi = None
        if len(fields) > 4 and fields[4].strip().isdigit():
            rssi = int(fields[4])
        yield Heard(bytes.fromhex(digits), rssi)


# ------------------------------------------------------------------ bare telegrams


class TelegramStream(_Buffered):
    """Bare telegrams back to back (with or without CRCs), as ``decode`` gets them: the L
    field delimits each; the bytes after the last one that L does not cover are noted."""

    name = "telegram"

    def feed(self, data: bytes, final: bool = False) -> list[Item]:
        self._buf += data
        if not final:
            return []
        buf = bytes(self._buf)
        self._buf.clear()
        out: list[Item] = []
        pos = 0
        while len(buf) - pos > HEADER:
            size = self._size(buf, pos)
            out.append(Heard(buf[pos : pos + size]))
            pos += size
        if pos < len(buf):
            out.append(Garbage(len(buf) - pos))
        return out

    @staticmethod
    def _size(buf: bytes, pos: int) -> int:
        """The bytes of the telegram at ``pos``: with its CRCs where they check (format A,
        then B), else what L says; the rest goes with the last one when too little is left
        for another (``parse_wmbus`` reports it)."""
        length = buf[pos]
        size = length + 1
        for form, candidate in (("A", format_a_size(length)), ("B", length + 1)):
            try:
                found = strip_crcs(buf[pos : pos + candidate])[1]
            except WmbusError:
                continue
            if found == form:
                size = candidate
                break
        return len(buf) - pos if len(buf) - pos - size <= HEADER else size


class AutoStream:
    """Whichever receiver the first bytes come from (``detect_receiver``); its set-up
    commands once it is known. An Amber stick hears nothing before it is set up, so the
    Amber set-up goes first, once (an iM871A skips bytes without its start byte, culfw
    gets an empty line before its commands); another stick that sends nothing before it
    is set up must be named."""

    name = "auto"

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inner: ReceiverStream | None = None
        self._probed = False

    @property
    def detected(self) -> str | None:
        return self._inner.name if self._inner is not None else None

    def start(self) -> bytes:
        if self._inner is not None:
            return self._inner.start()
        if self._probed:
            return b""
        self._probed = True
        return AmberStream().start()

    def feed(self, data: bytes, final: bool = False) -> list[Item]:
        if self._inner is not None:
            return self._inner.feed(data, final)
        self._buf += data
        name = detect_receiver(bytes(self._buf))
        if name is None:
            if final or len(self._buf) > _DETECT_LIMIT:
                size = len(self._buf)
                self._buf.clear()
                return [Garbage(size)] if size else []
            return []
        self._inner = make_stream(name)
        held = bytes(self._buf)
        self._buf.clear()
        return self._inner.feed(held, final)


_DETECT_LIMIT = 4096


#: each stick's own serial rate, in the order auto-detection tries them: the iM871A's and
#: culfw's defaults, the AMB8465's factory setting
RECEIVER_BAUD = {"im871a": 57600, "cul": 38400, "amb8465": 9600}

RECEIVERS: dict[str, Callable[[], ReceiverStream]] = {
    "im871a": Im871aStream, "amb8465": AmberStream, "cul": CulStream,
    "rtl_wmbus": RtlWmbusStream,
    "telegram": TelegramStream, "auto": AutoStream}


def make_stream(name: str) -> ReceiverStream:
    try:
        stream = RECEIVERS[name]()
    except KeyError:
        raise ValueError(Message(N_("unknown receiver {name!r}; known are {known}"), name=name,
                                 known=", ".join(RECEIVERS))) from None
    return stream


def detect_receiver(data: bytes) -> str | None:
    """The receiver a stream's first bytes come from, where they tell (None: not yet)."""
    lines = data.split(b"\n")
    whole = lines[1:-1] if len(lines) > 2 else lines[:1]  # the first may be cut, the last open
    for line in whole:
        text = line.strip(b"\r\x00 \t")
        if text[:1] == b"b" and len(text) > 2 * HEADER and \
                set(text[2 if text[:2] == b"bY" else 1 :].decode("latin-1")) <= _HEX:
            return "cul"
        if b";0x" in text.lower() and text[:1] in b"CST":
            return "rtl_wmbus"
    if SOF in data and any(isinstance(item, Heard) for item in Im871aStream().feed(data)):
        return "im871a"
    if AMBER_START in data and any(isinstance(item, Heard) for item in AmberStream().feed(data)):
        return "amb8465"
    return None
