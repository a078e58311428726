"""What the link layer hands up: checked frames and the problems it met on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["BrokenFrame", "CutShortFrame", "DsmrTelegram", "Garbage", "HdlcFrame", "LinkEvent",
           "MbusSegment", "MbusShort", "MbusTelegram", "RawApdu"]


class MbusSegment(NamedTuple):
    """One M-Bus long frame with a DLMS segment: CI low nibble = number, bit 0x10 = last.

    (Frames are named tuples: immutable like the frozen dataclasses of the other events, and
    several times cheaper to make, which counts for every frame of every push.)
    """

    ci: int
    payload: bytes  # the DLMS bytes after CI, STSAP and DTSAP
    length_overflow: bool = False  # Sagemcom T210-D: L carried only the low byte

    @property
    def number(self) -> int:
        return self.ci & 0x0F

    @property
    def last(self) -> bool:
        return bool(self.ci & 0x10)


class MbusTelegram(NamedTuple):
    """An M-Bus long frame of the EN 13757-3 application layer (CI 0x5B, 0x72, 0x7A): no DLMS
    inside but a header and data records (Netz OÖ's AMIS meters: ``oms``)."""

    control: int
    address: int
    ci: int
    payload: bytes  # everything after CI


class MbusShort(NamedTuple):
    """An M-Bus short frame ``10 C A CS 16``: the AMIS meter's link reset (SND_NKE, C = 0x40)
    that the reader must acknowledge."""

    control: int
    address: int


class HdlcFrame(NamedTuple):
    """One HDLC frame (frame format type 3) with its information field, LLC header removed."""

    segmented: bool  # format bit S: more segments of this APDU follow
    payload: bytes
    control: int


@dataclass(frozen=True, slots=True)
class RawApdu:
    """An APDU on the wire without link framing (Sagemcom T210-D P1: bare ``DB 08 ...``)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class DsmrTelegram:
    """A plain DSMR P1 text telegram ``/XXX5 ... !CRC``; the CRC is already checked."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that belong to no frame (noise, a frame cut off at start, a false start byte)."""

    size: int


@dataclass(frozen=True, slots=True)
class BrokenFrame:
    """A frame whose header was plausible but whose checks failed."""

    framing: str
    reason: str
    size: int


@dataclass(frozen=True, slots=True)
class CutShortFrame:
    """A frame whose start and length field arrived, but the next frame began before its
    end: bytes were lost on the way (a loose contact, a second program reading the port). Or
    the input ended inside it (``at_end``): a capture stopped in the middle of a frame."""

    framing: str
    size: int  # the bytes of it that arrived
    at_end: bool = False  # not the next frame but the end of the input (``final``) cut it


LinkEvent = (MbusSegment | MbusTelegram | MbusShort | HdlcFrame | RawApdu | DsmrTelegram | Garbage
             | BrokenFrame | CutShortFrame)
