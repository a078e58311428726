"""What the decoder reports instead of raising: counted, immutable events, one vocabulary.

Wire problems never stop decoding; the decoder counts them (``Decoder.stats``, a frozen
``DecoderStats``) and keeps the most recent ones as ``Event`` values for logs, ``doctor`` and
the status page. ``EventKind`` is the only name of each outcome: whether it ends a push,
whether it is a key problem, its label for people and its name among the push outcomes of
``/metrics`` and the status API are properties of the enum, not tables elsewhere. Messages
name the cause and the fix and never contain a key; they are English ``Message`` values
(``smartmeter_readout.message``) that ``i18n.localize`` translates where people read them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .message import N_, Message

__all__ = ["DecoderStats", "Event", "EventKind"]


class EventKind(StrEnum):
    GARBAGE = "garbage"  # bytes belonging to no frame
    BAD_FRAME = "bad_frame"  # checksum / FCS / stop byte / CRC failed
    CUT_SHORT = "cut_short"  # the next frame began inside a frame: bytes lost on the way
    SEGMENT_LOST = "segment_lost"  # a segment or block is missing, the push is dropped
    KEY_MISSING = "key_missing"  # encrypted push, no key given
    WRONG_KEY = "wrong_key"  # the plaintext is no valid APDU
    TAG_MISMATCH = "tag_mismatch"  # GCM tag does not verify with the authentication key
    TAG_UNCHECKED = "tag_unchecked"  # the push has a tag but no authentication key was given
    UNKNOWN_LAYOUT = "unknown_layout"  # the body has a shape no layout describes
    MALFORMED = "malformed"  # an APDU or A-XDR value is broken
    IMPLAUSIBLE = "implausible_values"  # decoded, but the values do not fit each other

    @property
    def ends_push(self) -> bool:
        """A whole push arrived (the link worked) and gave no reading because of this."""
        return self in _ENDS_PUSH

    @property
    def key_problem(self) -> bool:
        """The user's key (or its absence) is the cause: a usage error, exit code 3."""
        return self in _KEY_PROBLEMS

    @property
    def problem(self) -> bool:
        """Worth showing as the last error on the status page."""
        return self not in (EventKind.GARBAGE, EventKind.TAG_UNCHECKED)

    @property
    def outcome(self) -> str | None:
        """Its name among the push outcomes of /metrics and the status API, if it is one."""
        return _OUTCOMES.get(self)

    @property
    def label(self) -> str:
        """What a count of it means, for people ("3 broken frames skipped"); English, a
        ``Message`` that ``i18n.localize`` translates."""
        return Message(_LABELS[self])


_ENDS_PUSH = frozenset((EventKind.KEY_MISSING, EventKind.WRONG_KEY, EventKind.TAG_MISMATCH,
                        EventKind.UNKNOWN_LAYOUT, EventKind.MALFORMED))
_KEY_PROBLEMS = frozenset((EventKind.KEY_MISSING, EventKind.WRONG_KEY, EventKind.TAG_MISMATCH))
# the status API and /metrics named these before the enum did; the names are a contract
_OUTCOMES = {EventKind.SEGMENT_LOST: "incomplete", EventKind.KEY_MISSING: "key_missing",
             EventKind.WRONG_KEY: "decryption_failed", EventKind.TAG_MISMATCH: "tag_mismatch",
             EventKind.UNKNOWN_LAYOUT: "unknown_layout", EventKind.MALFORMED: "malformed"}
_LABELS = {
    EventKind.GARBAGE: N_("bytes of noise skipped"),
    EventKind.BAD_FRAME: N_("broken frames skipped"),
    EventKind.CUT_SHORT: N_("frames cut short (bytes lost between meter and reader)"),
    EventKind.SEGMENT_LOST: N_("incomplete pushes dropped"),
    EventKind.KEY_MISSING: N_("encrypted pushes without a key"),
    EventKind.WRONG_KEY: N_("pushes the key does not decrypt"),
    EventKind.TAG_MISMATCH: N_("pushes whose authentication tag does not match"),
    EventKind.TAG_UNCHECKED: N_("pushes with an unchecked authentication tag (give --auth-key)"),
    EventKind.UNKNOWN_LAYOUT: N_("pushes with an unknown body layout"),
    EventKind.MALFORMED: N_("malformed pushes dropped"),
    EventKind.IMPLAUSIBLE: N_("readings whose values do not fit each other"),
}


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the decoder noticed. ``message`` is English; made by the decoder it is a
    ``Message`` that ``i18n.localize(event)`` shows in the user's language."""

    kind: EventKind
    message: str
    framing: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class DecoderStats(Mapping[EventKind, int]):
    """What a decoder has seen so far: pushes decoded, and a count per ``EventKind``
    (bytes for ``GARBAGE``). Read the same way by the reader, doctor, the API, /metrics
    and the tests: ``stats.ok``, ``stats[EventKind.BAD_FRAME]``."""

    ok: int = 0
    counts: Mapping[EventKind, int] = field(default_factory=dict)

    def __getitem__(self, kind: EventKind) -> int:
        return self.counts.get(kind, 0)

    def __iter__(self) -> Iterator[EventKind]:
        return iter(EventKind)

    def __len__(self) -> int:
        return len(EventKind)

    @property
    def complete(self) -> int:
        """Whole pushes seen, decoded or not (the link worked; the key or body may not)."""
        return self.ok + sum(self[kind] for kind in EventKind if kind.ends_push)

    @property
    def outcomes(self) -> dict[str, int]:
        """Pushes by outcome, as /metrics and the status API name them (``ok`` first)."""
        return {"ok": self.ok, **{kind.outcome: self[kind] for kind in EventKind
                                  if kind.outcome is not None}}
