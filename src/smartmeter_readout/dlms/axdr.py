"""A-XDR encoding of COSEM ``Data`` (IEC 62056-6-2 / DLMS Green Book, "Data" CHOICE).

Theory of operation: every value starts with a one-byte tag from the ``Data`` CHOICE; the tag
decides what follows. Variable-length items carry a BER length (X.690 8.1.3: one byte below
0x80, else ``0x8n`` and n length bytes). A decoded value is a node ``(tag, value)``:

    array / structure / compact-array   -> list of nodes
    integers, enum, bcd                 -> int
    boolean                             -> bool
    float32 / float64                   -> float
    octet-string, date-time, date, time -> bytes
    visible-string, utf8-string         -> str
    bit-string                          -> str of "0"/"1"
    null-data, dont-care                -> None

Nodes keep their tag so layouts can match on types (uint16 vs uint32, octet- vs visible-string)
and so ``encode(decode(x)) == x``. Reads are bounds-checked: a value cut off raises
``TruncatedError``, anything impossible ``DecodeError``; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct
from typing import Any

from ..errors import DecodeError, TruncatedError
from ..message import N_

__all__ = [
    "ARRAY",
    "BCD",
    "BIT_STRING",
    "BOOLEAN",
    "COMPACT_ARRAY",
    "DATE",
    "DATE_TIME",
    "DONT_CARE",
    "ENUM",
    "FIXED_STRUCTS",
    "FLOAT32",
    "FLOAT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "NULL",
    "OCTET_STRING",
    "STRUCTURE",
    "TIME",
    "TYPE_NAMES",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "UTF8_STRING",
    "VISIBLE_STRING",
    "Node",
    "decode",
    "encode",
    "encode_length",
    "read_length",
]

NULL, ARRAY, STRUCTURE, BOOLEAN, BIT_STRING = 0, 1, 2, 3, 4
INT32, UINT32, OCTET_STRING, VISIBLE_STRING, UTF8_STRING, BCD = 5, 6, 9, 10, 12, 13
INT8, INT16, UINT8, UINT16, COMPACT_ARRAY, INT64, UINT64, ENUM = 15, 16, 17, 18, 19, 20, 21, 22
FLOAT32, FLOAT64, DATE_TIME, DATE, TIME, DONT_CARE = 23, 24, 25, 26, 27, 255

TYPE_NAMES = {
    NULL: "null", ARRAY: "array", STRUCTURE: "structure", BOOLEAN: "boolean",
    BIT_STRING: "bit-string", INT32: "int32", UINT32: "uint32", OCTET_STRING: "octet-string",
    VISIBLE_STRING: "visible-string", UTF8_STRING: "utf8-string", BCD: "bcd", INT8: "int8",
    INT16: "int16", UINT8: "uint8", UINT16: "uint16", COMPACT_ARRAY: "compact-array",
    INT64: "int64", UINT64: "uint64", ENUM: "enum", FLOAT32: "float32", FLOAT64: "float64",
    DATE_TIME: "date-time", DATE: "date", TIME: "time", DONT_CARE: "dont-care",
}

Node = tuple[int, Any]
Buffer = bytes | bytearray | memoryview

MAX_DEPTH = 16  # pushes nest 3 levels deep; a fuzzed 01 01 01 ... must not exhaust the stack

FIXED_STRUCTS: dict[int, Struct] = {
    INT32: Struct(">i"), UINT32: Struct(">I"), INT8: Struct(">b"), INT16: Struct(">h"),
    UINT8: Struct(">B"), UINT16: Struct(">H"), INT64: Struct(">q"), UINT64: Struct(">Q"),
    ENUM: Struct(">B"), FLOAT32: Struct(">f"), FLOAT64: Struct(">d"),
}
_FIXED_BYTES = {DATE_TIME: 12, DATE: 5, TIME: 4}


def read_length(buf: Buffer, pos: int) -> tuple[int, int]:
    """Read a BER length at ``pos``; return ``(length, position after it)``."""
    if pos >= len(buf):
        raise TruncatedError(N_("data ends inside a length field"))
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4:
        raise DecodeError(N_("impossible BER length prefix 0x{byte:02X}"), byte=first)
    end = pos + 1 + size
    if end > len(buf):
        raise TruncatedError(N_("data ends inside a length field"))
    return int.from_bytes(buf[pos + 1 : end], "big"), end


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def decode(buf: Buffer, pos: int = 0) -> tuple[Node, int]:
    """Decode one ``Data`` value at ``pos``; return ``(node, position after it)``."""
    return _decode(buf, pos, 0)


def _decode(buf: Buffer, pos: int, depth: int) -> tuple[Node, int]:
    if pos >= len(buf):
        raise TruncatedError(N_("data ends where a value should start"))
    tag = buf[pos]
    fixed = FIXED_STRUCTS.get(tag)
    if fixed is not None:
        end = pos + 1 + fixed.size
        if end > len(buf):
            raise TruncatedError(N_("data ends inside a {type}"), type=TYPE_NAMES[tag])
        return (tag, fixed.unpack_from(buf, pos + 1)[0]), end
    reader = _READERS.get(tag)
    if reader is None:
        raise DecodeError(N_("unknown A-XDR type tag 0x{tag:02X}"), tag=tag)
    return reader(buf, pos + 1, depth, tag)


def _take(buf: Buffer, pos: int, size: int, tag: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(buf):
        raise TruncatedError(N_("data ends inside a {type} of {size} bytes"),
                             type=TYPE_NAMES[tag], size=size)
    return bytes(buf[pos:end]), end


def _sequence(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(N_("values nested deeper than any meter sends"))
    count, pos = read_length(buf, pos)
    if count > len(buf) - pos:  # every element takes at least one byte
        if count > 0xFFFF:
            raise DecodeError(N_("{type} of {count} elements is impossible"),
                              type=TYPE_NAMES[tag], count=count)
        raise TruncatedError(N_("data ends inside a {type} of {count} elements"),
                             type=TYPE_NAMES[tag], count=count)
    items: list[Node] = []
    append = items.append
    for _ in range(count):
        node, pos = _decode(buf, pos, depth + 1)
        append(node)
    return (tag, items), pos


def _octets(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    size, pos = read_length(buf, pos)
    value, pos = _take(buf, pos, size, tag)
    return (tag, value), pos


def _visible(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    size, pos = read_length(buf, pos)
    value, pos = _take(buf, pos, size, tag)
    return (tag, value.decode("latin-1")), pos


def _utf8(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    size, pos = read_length(buf, pos)
    value, pos = _take(buf, pos, size, tag)
    return (tag, value.decode("utf-8", "replace")), pos


def _bits(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    nbits, pos = read_length(buf, pos)
    value, pos = _take(buf, pos, (nbits + 7) // 8, tag)
    text = "".join(f"{byte:08b}" for byte in value)[:nbits]
    return (tag, text), pos


def _boolean(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    value, pos = _take(buf, pos, 1, tag)
    return (tag, value[0] != 0), pos


def _bcd(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    value, pos = _take(buf, pos, 1, tag)
    high, low = value[0] >> 4, value[0] & 0x0F
    if high > 9 or low > 9:
        raise DecodeError(N_("bcd byte 0x{byte:02X} has a nibble above 9"), byte=value[0])
    return (tag, high * 10 + low), pos


def _time_bytes(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    value, pos = _take(buf, pos, _FIXED_BYTES[tag], tag)
    return (tag, value), pos


def _nothing(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    return (tag, None), pos


def _compact_array(buf: Buffer, pos: int, depth: int, tag: int) -> tuple[Node, int]:
    # compact-array ::= contents-description TypeDescription, array-contents OCTET STRING
    # (Blue Book 4.1.5): values follow without their own tags, as described once up front.
    if depth >= MAX_DEPTH:
        raise DecodeError(N_("values nested deeper than any meter sends"))
    description, pos = _type_description(buf, pos, depth)
    if _least_bytes(description) == 0:
        raise DecodeError(N_("a compact-array whose elements take no bytes"))
    size, pos = read_length(buf, pos)
    contents, end = _take(buf, pos, size, tag)
    items = []
    offset = 0
    while offset < len(contents):  # every element takes at least one byte: the loop ends
        node, offset = _untagged(contents, offset, description, depth + 1)
        items.append(node)
    return (tag, items), end


def _least_bytes(description: TypeDescription) -> int:
    """The fewest bytes one element of this description can take in a compact-array."""
    tag, detail = description
    if tag == ARRAY:
        count, element = detail
        return int(count) * _least_bytes(element)
    if tag == STRUCTURE:
        return sum(_least_bytes(member) for member in detail)
    fixed = FIXED_STRUCTS.get(tag)
    if fixed is not None:
        return fixed.size
    if tag in _FIXED_BYTES:
        return _FIXED_BYTES[tag]
    return 0 if tag in (NULL, DONT_CARE) else 1  # strings: at least their length byte


TypeDescription = tuple[int, Any]


def _type_description(buf: Buffer, pos: int, depth: int) -> tuple[TypeDescription, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(N_("type description nested too deep"))
    if pos >= len(buf):
        raise TruncatedError(N_("data ends inside a compact-array description"))
    tag = buf[pos]
    pos += 1
    if tag == ARRAY:
        head, pos = _take(buf, pos, 2, ARRAY)
        element, pos = _type_description(buf, pos, depth + 1)
        return (tag, (int.from_bytes(head, "big"), element)), pos
    if tag == STRUCTURE:
        count, pos = read_length(buf, pos)
        if count > len(buf) - pos:
            raise TruncatedError(N_("data ends inside a compact-array description"))
        members = []
        for _ in range(count):
            member, pos = _type_description(buf, pos, depth + 1)
            members.append(member)
        return (tag, members), pos
    if tag in FIXED_STRUCTS or (tag in _READERS and tag != COMPACT_ARRAY):
        return (tag, None), pos
    raise DecodeError(N_("unknown type 0x{tag:02X} in a compact-array description"), tag=tag)


def _untagged(buf: bytes, pos: int, description: TypeDescription, depth: int) -> tuple[Node, int]:
    tag, detail = description
    if tag == ARRAY:
        count, element = detail
        if count * _least_bytes(element) > len(buf) - pos:  # nothing allocated before its bytes
            raise TruncatedError(N_("compact-array contents end inside an array"))
        items = []
        for _ in range(count):
            node, pos = _untagged(buf, pos, element, depth + 1)
            items.append(node)
        return (tag, items), pos
    if tag == STRUCTURE:
        items = []
        for member in detail:
            node, pos = _untagged(buf, pos, member, depth + 1)
            items.append(node)
        return (tag, items), pos
    # a simple type: decode it as if its tag were there
    fixed = FIXED_STRUCTS.get(tag)
    if fixed is not None:
        end = pos + fixed.size
        if end > len(buf):
            raise TruncatedError(N_("compact-array contents end inside a {type}"),
                                 type=TYPE_NAMES[tag])
        return (tag, fixed.unpack_from(buf, pos)[0]), end
    return _READERS[tag](buf, pos, depth, tag)


_Reader = Callable[[Buffer, int, int, int], tuple[Node, int]]
_READERS: dict[int, _Reader] = {
    ARRAY: _sequence, STRUCTURE: _sequence, OCTET_STRING: _octets, VISIBLE_STRING: _visible,
    UTF8_STRING: _utf8, BIT_STRING: _bits, BOOLEAN: _boolean, BCD: _bcd, DATE_TIME: _time_bytes,
    DATE: _time_bytes, TIME: _time_bytes, NULL: _nothing, DONT_CARE: _nothing,
    COMPACT_ARRAY: _compact_array,
}


def encode(node: Node) -> bytes:
    """Encode a node back to A-XDR (used by the simulator and round-trip tests)."""
    out = bytearray()
    _encode(node, out)
    return bytes(out)


def _encode(node: Node, out: bytearray) -> None:
    tag, value = node
    out.append(tag)
    fixed = FIXED_STRUCTS.get(tag)
    if fixed is not None:
        out += fixed.pack(value)
    elif tag in (ARRAY, STRUCTURE):
        out += encode_length(len(value))
        for item in value:
            _encode(item, out)
    elif tag == OCTET_STRING:
        out += encode_length(len(value)) + value
    elif tag == VISIBLE_STRING:
        raw = value.encode("latin-1")
        out += encode_length(len(raw)) + raw
    elif tag == UTF8_STRING:
        raw = value.encode("utf-8")
        out += encode_length(len(raw)) + raw
    elif tag == BIT_STRING:
        padded = value + "0" * (-len(value) % 8)
        out += encode_length(len(value))
        out += bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))
    elif tag == BOOLEAN:
        out.append(0xFF if value else 0x00)
    elif tag == BCD:
        out.append(((value // 10) << 4) | (value % 10))
    elif tag in _FIXED_BYTES:
        out += value
    elif tag in (NULL, DONT_CARE):
        pass
    else:
        raise DecodeError(f"cannot encode A-XDR type tag 0x{tag:02X}")


def value_spans(node: Node, start: int) -> tuple[dict[int, tuple[int, int]], int]:
    """Where each leaf's value bytes lie when ``node`` is encoded at ``start``.

    Returns ``({id(leaf): (value_start, value_end)}, end)``; used to build fast-path
    templates from a decoded body (``encode(decode(x)) == x`` makes the offsets exact).
    """
    spans: dict[int, tuple[int, int]] = {}
    end = _spans(node, start, spans)
    return spans, end


def _spans(node: Node, pos: int, spans: dict[int, tuple[int, int]]) -> int:
    tag, value = node
    if tag in (ARRAY, STRUCTURE):
        pos += 1 + len(encode_length(len(value)))
        for item in value:
            pos = _spans(item, pos, spans)
        return pos
    if tag == COMPACT_ARRAY:
        raise DecodeError("compact arrays have no per-leaf spans")
    encoded = encode(node)
    head = 1
    if tag in (OCTET_STRING, VISIBLE_STRING, UTF8_STRING, BIT_STRING):
        _, head = read_length(encoded, 1)
    spans[id(node)] = (pos + head, pos + len(encoded))
    return pos + len(encoded)
