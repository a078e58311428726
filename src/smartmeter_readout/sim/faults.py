"""Damage a simulated push the way a real line does, so the reader's defences can be tested.

A ``FaultPlan`` gives each kind of fault a rate per push; at most one fault hits a push:

- ``garbage``: noise bytes before the push (the push itself stays intact);
- ``drop``: one byte of the push lost;
- ``cut``: a frame's tail lost, the next frame (or push) follows straight on: a loose contact,
  or a second program reading the same port and taking the rest;
- ``checksum``: one byte flipped so that the receiver's check fails (the frame checksum; for
  unframed pushes a byte of the ciphertext, which the tag or the DSMR CRC catches);
- ``tag``: the authentication tag damaged (only for meters that send one);
- ``unplug``: the virtual meter hangs up for a few seconds, as if the adapter were pulled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Fault", "FaultPlan", "damage"]


class Fault(StrEnum):
    GARBAGE = "garbage"
    DROP = "drop"
    CUT = "cut"
    CHECKSUM = "checksum"
    TAG = "tag"
    UNPLUG = "unplug"


#: faults after which the push cannot be decoded (TAG: only by a reader with the auth key)
BREAKING = frozenset((Fault.DROP, Fault.CUT, Fault.CHECKSUM, Fault.TAG))


@dataclass(frozen=True, slots=True)
class FaultPlan:
    rates: dict[Fault, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``"0.1"`` (every kind but unplug at that rate) or ``"garbage=0.2,drop=0.05"``."""
        text = text.strip()
        if not text or text == "none":
            return cls()
        try:
            rate = _rate(text)
        except ValueError:
            pass
        else:
            return cls({kind: rate for kind in Fault if kind is not Fault.UNPLUG})
        rates: dict[Fault, float] = {}
        for item in text.split(","):
            name, sep, value = item.partition("=")
            try:
                kind = Fault(name.strip())
            except ValueError:
                raise ValueError(f"unknown fault {name.strip()!r}; valid are "
                                 + ", ".join(Fault)) from None
            if not sep:
                raise ValueError(f"fault {kind} needs a rate, e.g. {kind}=0.1")
            rates[kind] = _rate(value)
        return cls(rates)

    def choose(self, rng: random.Random, *, authenticated: bool) -> Fault | None:
        for kind, rate in self.rates.items():
            if kind is Fault.TAG and not authenticated:
                continue
            if rate and rng.random() < rate:
                return kind
        return None

    def __str__(self) -> str:
        return ", ".join(f"{kind}={rate:g}" for kind, rate in self.rates.items()) or "none"


def _rate(text: str) -> float:
    rate = float(text)
    if not 0 <= rate <= 1:
        raise ValueError(f"a fault rate is between 0 and 1, not {text.strip()}")
    return rate


def damage(frames: list[bytes], fault: Fault | None, rng: random.Random) -> list[bytes]:
    """The frames as the reader receives them after ``fault`` (TAG is done on the APDU)."""
    if fault is Fault.GARBAGE:
        noise = rng.randbytes(rng.randint(1, 40))
        return [noise + frames[0], *frames[1:]]
    if fault not in (Fault.DROP, Fault.CUT, Fault.CHECKSUM):
        return frames
    frames = list(frames)
    which = rng.randrange(len(frames))
    frame = bytearray(frames[which])
    if fault is Fault.CUT:  # past the head: the start and length field arrive
        del frame[rng.randint(8, len(frame) - 2):]
    elif fault is Fault.DROP:
        del frame[rng.randrange(len(frame))]
    elif frame[0] in (0x68, 0x7E):  # M-Bus checksum / HDLC FCS: just before the last byte
        frame[-2] ^= 0x01 << rng.randrange(8)
    else:
        frame[len(frame) // 2] ^= 0x01 << rng.randrange(8)
    frames[which] = bytes(frame)
    return frames


def break_tag(apdu: bytes) -> bytes:
    """Flip a bit of the GCM tag (the last 12 bytes of an authenticated APDU)."""
    return apdu[:-1] + bytes([apdu[-1] ^ 0x01])
