"""What the decoder reports instead of raising: counted, immutable events.

Wire problems never stop decoding; the decoder counts them in ``Decoder.stats`` and keeps the
most recent ones as ``Event`` values for logs, ``doctor`` and the status page. Messages name
the cause and the fix and never contain a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Event", "EventKind"]


class EventKind(StrEnum):
    GARBAGE = "garbage"  # bytes belonging to no frame
    BAD_FRAME = "bad_frame"  # checksum / FCS / stop byte / CRC failed
    SEGMENT_LOST = "segment_lost"  # a segment or block is missing, the push is dropped
    KEY_MISSING = "key_missing"  # encrypted push, no key given
    WRONG_KEY = "wrong_key"  # the plaintext is no valid APDU
    TAG_MISMATCH = "tag_mismatch"  # GCM tag does not verify with the authentication key
    TAG_UNCHECKED = "tag_unchecked"  # the push has a tag but no authentication key was given
    UNKNOWN_LAYOUT = "unknown_layout"  # the body has a shape no layout describes
    MALFORMED = "malformed"  # an APDU or A-XDR value is broken
    IMPLAUSIBLE = "implausible_values"  # decoded, but the values do not fit each other


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    message: str
    framing: str | None = None

    def __str__(self) -> str:
        return self.message
