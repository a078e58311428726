"""Parse AES keys as users write them.

Operators hand out keys as hex in many spellings (spaces, dashes, colons, ``0x``, any case,
and pasted with the quotes around it).
The key itself never appears in an error message: only its length and the kind of problem.
"""

from __future__ import annotations

import string

from .errors import KeyFormatError

__all__ = ["parse_key"]

_SEPARATORS = str.maketrans("", "", " \t\r\n-:_,")
_HEX = frozenset(string.hexdigits)
_QUOTES = "\"'\u201c\u201d\u201e\u2018\u2019"  # a key pasted with the quotes around it


def parse_key(value: str | bytes | bytearray | None, *, what: str = "key") -> bytes | None:
    """Return the 16 key bytes, ``None`` for no key; raise KeyFormatError without echoing it."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise KeyFormatError(
                f"the {what} must be 16 bytes (32 hex digits), got {len(value)} bytes"
            )
        return bytes(value)
    text = value.translate(_SEPARATORS).strip(_QUOTES)
    if text[:2].lower() == "0x":
        text = text[2:]
    if not text:
        return None
    if not set(text) <= _HEX:
        raise KeyFormatError(
            f"the {what} must be written in hex digits 0-9/A-F (spaces, dashes and colons are "
            "fine); it contains other characters"
        )
    if len(text) != 32:
        raise KeyFormatError(
            f"the {what} must be 32 hex digits (16 bytes), got {len(text)} digits; "
            "copy it again from your grid operator's portal or letter"
        )
    return bytes.fromhex(text)
