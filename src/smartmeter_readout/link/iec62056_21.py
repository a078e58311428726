"""IEC 62056-21 (mode C) sign-on and data readout: how a reader learns a meter's number when
the pushed frames do not carry it (the Netz OÖ AMIS leaves its M-Bus identification zero).

The exchange, at 300 baud 7E1: the reader sends ``/?!`` CR LF; the meter answers with its
identification ``/XXXZ<ident>`` CR LF (XXX the maker's flag, Z its top baud rate); the reader
selects the data readout with ``ACK 0 Z 0`` CR LF; the meter sends the readout
``STX <data lines> ! CR LF ETX BCC``, each data line ``code(value*unit)``. BCC is the XOR of
every byte after STX up to and including ETX.

Sans I/O: the live reader writes and reads, this module builds and parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ACK", "SIGN_ON", "Identification", "Readout", "build_identification",
           "build_readout", "meter_number", "option_select", "parse_identification",
           "parse_readout"]

SIGN_ON = b"/?!\r\n"
ACK = 0x06
_STX, _ETX = 0x02, 0x03
_IDENT = re.compile(rb"/([A-Za-z]{3})([0-9A-Za-z])([\x20-\x7e]{1,16})\r\n")
_LINE = re.compile(r"([0-9A-Za-z.:*&-]{1,16})\(([^()]*)\)")
#: where meters put their number, most specific first: the serial number object, then
#: the identification numbers IEC 62056-21 readouts use (``C.1.0``, ``0.0.0``, ``0.0``)
_NUMBER_CODES = ("96.1.0", "0.0.96.1.0", "C.1.0", "0.0.0", "0.0", "0.0.1")


@dataclass(frozen=True, slots=True)
class Identification:
    maker: str  # the three-letter flag (FLAG association)
    baud_char: str  # Z: "0" 300 ... "6" 19200 in mode C
    ident: str  # the maker's text: type and version

    def __str__(self) -> str:
        return f"{self.maker} {self.ident}"


@dataclass(frozen=True, slots=True)
class Readout:
    values: dict[str, str]  # code -> value with its unit ("123.4*kWh")


def parse_identification(data: bytes) -> Identification | None:
    """The meter's identification line in ``data`` (noise around it is skipped)."""
    match = _IDENT.search(data)
    if match is None:
        return None
    maker, baud, ident = (part.decode("ascii") for part in match.groups())
    return Identification(maker, baud, ident.strip())


def option_select(baud_char: str = "0") -> bytes:
    """ACK 0 Z 0: normal protocol, data readout (mode 0) at baud ``Z`` ("0": stay at 300)."""
    return bytes((ACK,)) + b"0" + baud_char.encode("ascii") + b"0\r\n"


def parse_readout(data: bytes) -> Readout | None:
    """The data readout in ``data``: None until the block is complete; a block whose BCC
    does not match is no readout (a bit flipped on the IR link)."""
    start = data.find(_STX)
    while start >= 0:
        end = data.find(_ETX, start + 1)
        if end < 0 or end + 1 >= len(data):
            return None
        bcc = 0
        for byte in data[start + 1 : end + 1]:
            bcc ^= byte
        if bcc == data[end + 1]:
            text = data[start + 1 : end].decode("ascii", "replace")
            return Readout({code: value for code, value in _LINE.findall(text)})
        start = data.find(_STX, start + 1)
    return None


def meter_number(readout: Readout) -> str | None:
    """The meter's number from the readout, without a unit."""
    for code in _NUMBER_CODES:
        value = readout.values.get(code, "").split("*", 1)[0].strip()
        if value:
            return value
    return None


def build_identification(maker: str, ident: str, baud_char: str = "5") -> bytes:
    """The meter's side of the sign-on (the simulator answers with it)."""
    return f"/{maker}{baud_char}{ident}\r\n".encode("ascii")


def build_readout(values: dict[str, str]) -> bytes:
    """The meter's side of the data readout, with its BCC."""
    body = "".join(f"{code}({value})\r\n" for code, value in values.items())
    block = (body + "!\r\n").encode("ascii") + bytes((_ETX,))
    bcc = 0
    for byte in block:
        bcc ^= byte
    return bytes((_STX,)) + block + bytes((bcc,))
