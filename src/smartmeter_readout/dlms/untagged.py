"""The Czech "untagged" push body: capture-object descriptors written without A-XDR tags.

Sagemcom XT211 meters of EG.D (E.ON Distribuce) and ČEZ Distribuce push every 60 s on the
RS485 HAN port ("Push setup - On Schedule 2 (HAN)", 0-2:25.9.0.255) a data-notification
(``0F`` invoke-id, date-time ``00``) whose body is NOT valid A-XDR::

    body   ::= 02 02                      structure, "2 elements"
               16 <e>                     enum e (1 in every capture)
               01 <N>                     array of N entries (BER length; 27 EG.D, 22 ČEZ)
               entry{N}
    entry  ::= 02 02                      structure, "2 elements" - but then:
               <class-id u16>             \\
               <logical name, 6 bytes>     > 9 raw bytes, no type tags: the COSEM
               <attribute u8>             /  attribute descriptor of the captured object
               <value>                    one tagged A-XDR ``Data`` value

A strict A-XDR parser reads the descriptor's leading ``00`` as null-data and derails a few
bytes later. This module reads the entries the way the meter writes them.

Sources: the operator object lists - EG.D "Komunikační rozhraní RS485" (27 objects) and ČEZ
"Seznam poskytovaných OBIS kódů pro rozhraní HAN" (Připojovací podmínky nn, 1. 2. 2025, ch. 13;
22 objects), both copied in IntExCZ/Sagemcom_XT211 docs/pdfs/ - and the decoders and captures
of esphome-libs/dlms_parser (tests/dumps/raw_sagecom_xt211.log, raw_egd_example.log) and
lhubac/egd-dlms (tests/data/sample_push_frame.hex); notes in the project's east layouts survey
(section "CZ"). Neither operator document gives the byte grammar above; it is read from the
captures, which all three agree on.

What the head bytes mean: ``16`` is the A-XDR enum tag and ``01`` after it its value; no
source found says what that enum selects (it is 1 in all captures and in the EG.D document
example; dlms_parser and egd-dlms skip it). It is therefore not checked beyond being present.
The next ``01`` is the ordinary A-XDR array tag, followed by the entry count N. The values
carry no scaler or unit: class 3 registers are uint32 in W and Wh (scaler 0, confirmed by
L1+L2+L3 = total power and T1..T4 = total energy in the captures); that mapping belongs to
the layout code, not here.

Reads are bounds-checked: data that ends early raises ``TruncatedError``, anything impossible
``DecodeError``; nothing else escapes. No loop runs on a count before the bytes for it exist.
"""

from __future__ import annotations

from ..errors import DecodeError, TruncatedError
from ..message import N_
from . import axdr
from .axdr import Node

__all__ = ["UntaggedEntry", "looks_untagged", "parse_untagged"]

UntaggedEntry = tuple[int, bytes, int, Node]  # (class id, OBIS 6 bytes, attribute, value)

_HEAD_LEN = 6  # 02 02 16 <e> 01 <N> (N in the one-byte BER form)
_DESCRIPTOR_LEN = 9  # class id (2) + logical name (6) + attribute (1)
# the fewest bytes an entry can take: 02 02, the descriptor and one tag byte (null-data)
_MIN_ENTRY = 2 + _DESCRIPTOR_LEN + 1
_MAX_ENTRIES = 0xFFFF  # more is no push, it is a corrupt count

# COSEM interface classes (Blue Book) whose attributes a push can capture; used only to
# recognise the format, not to reject entries while parsing.
_PLAUSIBLE_CLASSES = frozenset((
    1, 3, 4, 5, 6, 7, 8, 9, 11, 15, 17, 18, 20, 21, 22, 23, 26, 40, 41, 42, 43, 44, 45, 47,
    61, 62, 63, 64, 70, 71, 72, 73, 74, 111, 112, 113, 115,
))


def looks_untagged(apdu: bytes, body_offset: int) -> bool:
    """Whether the notification body at ``body_offset`` has the Czech untagged shape.

    Checks the head ``02 02 16 xx 01 N`` (N >= 1) and a plausible first entry: ``02 02``,
    a known interface class, a logical name with value group A <= 15, attribute 1..32 and a
    tagged value followed by the next entry's ``02 02`` or the end of the APDU. A body that
    decodes as ordinary A-XDR to the end of the APDU is never called untagged. Never raises.
    """
    if body_offset < 0:
        return False
    b = body_offset
    first = b + _HEAD_LEN
    if len(apdu) < first + _MIN_ENTRY:
        return False
    if apdu[b : b + 3] != b"\x02\x02\x16" or apdu[b + 4] != axdr.ARRAY:
        return False
    count = apdu[b + 5]
    if count == 0 or count >= 0x80:  # one-byte BER only: meters send 22 or 27
        return False
    if apdu[first : first + 2] != b"\x02\x02":
        return False
    class_id = int.from_bytes(apdu[first + 2 : first + 4], "big")
    obis_a = apdu[first + 4]
    attribute = apdu[first + 10]
    if class_id not in _PLAUSIBLE_CLASSES or obis_a > 15 or not 1 <= attribute <= 32:
        return False
    try:
        _, after = axdr.decode(apdu, first + 2 + _DESCRIPTOR_LEN)
    except DecodeError:
        return False
    if after != len(apdu) and apdu[after : after + 2] != b"\x02\x02":
        return False
    if count == 1 and after != len(apdu):
        return False
    try:  # the definitive test: ordinary A-XDR that spans the whole APDU is not this format
        _, end = axdr.decode(apdu, b)
    except DecodeError:
        return True
    return end != len(apdu)


def parse_untagged(buf: bytes, pos: int) -> tuple[list[UntaggedEntry], int]:
    """Parse an untagged body at ``pos``; return its entries and the position after it.

    Each entry is ``(class_id, obis, attribute, value)`` with ``obis`` the 6 raw
    logical-name bytes and ``value`` an A-XDR node. Raises ``TruncatedError`` when the data
    ends early, ``DecodeError`` when the bytes do not follow the grammar.
    """
    if pos < 0:
        raise DecodeError(f"negative body position {pos}")  # a caller's bug
    if len(buf) - pos < 4:
        raise TruncatedError(N_("data ends inside the untagged body head"))
    if buf[pos] != axdr.STRUCTURE or buf[pos + 1] != 2:
        raise DecodeError(N_("untagged body starts 0x{first:02X} 0x{second:02X}, expected "
                             "structure of 2 (02 02)"), first=buf[pos], second=buf[pos + 1])
    if buf[pos + 2] != axdr.ENUM:
        raise DecodeError(N_("untagged body has tag 0x{tag:02X} where the enum (16) belongs"),
                          tag=buf[pos + 2])
    at = pos + 4  # the enum value (meaning unknown) is skipped
    if len(buf) <= at:
        raise TruncatedError(N_("data ends before the untagged entry array"))
    if buf[at] != axdr.ARRAY:
        raise DecodeError(N_("untagged body has tag 0x{tag:02X} where the entry array (01) "
                             "belongs"), tag=buf[at])
    count, at = axdr.read_length(buf, at + 1)
    if count * _MIN_ENTRY > len(buf) - at:  # nothing allocated or looped before its bytes
        if count > _MAX_ENTRIES:
            raise DecodeError(N_("untagged array of {count} entries is impossible"),
                              count=count)
        raise TruncatedError(N_("data ends inside an untagged array of {count} entries"),
                             count=count)
    entries: list[UntaggedEntry] = []
    for index in range(count):
        if len(buf) - at < _MIN_ENTRY:
            raise TruncatedError(N_("data ends inside untagged entry {number} of {count}"),
                                 number=index + 1, count=count)
        if buf[at] != axdr.STRUCTURE or buf[at + 1] != 2:
            raise DecodeError(N_("untagged entry {number} starts 0x{first:02X} 0x{second:02X}, "
                                 "expected 02 02"), number=index + 1, first=buf[at],
                              second=buf[at + 1])
        class_id = int.from_bytes(buf[at + 2 : at + 4], "big")
        obis = bytes(buf[at + 4 : at + 10])
        attribute = buf[at + 10]
        value, end = axdr.decode(buf, at + 2 + _DESCRIPTOR_LEN)
        if end <= at:  # cannot happen with axdr.decode; guards the loop's progress anyway
            raise DecodeError("untagged entry did not advance")  # an invariant
        at = end
        entries.append((class_id, obis, attribute, value))
    return entries, at
