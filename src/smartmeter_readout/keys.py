"""Parse AES keys as users write them.

Operators hand out keys as hex in many spellings (spaces, dashes, colons, ``0x``, any case,
and pasted with the quotes around it).
The key itself never appears in an error message: only its length and the kind of problem.
"""

from __future__ import annotations

import string

from .errors import KeyFormatError
from .message import N_, Message

__all__ = ["parse_key"]

_SEPARATORS = str.maketrans("", "", " \t\r\n-:_,")
_HEX = frozenset(string.hexdigits)
_QUOTES = "\"'\u201c\u201d\u201e\u2018\u2019"  # a key pasted with the quotes around it


def parse_key(value: str | bytes | bytearray | None, *, what: str = N_("key")) -> bytes | None:
    """Return the 16 key bytes, ``None`` for no key; raise KeyFormatError without echoing it.

    ``what`` names the key in the message: ``N_("key")`` or ``N_("authentication key")``.
    """
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise KeyFormatError(N_("the {what} must be 16 bytes (32 hex digits), got {size} "
                                    "bytes"), what=Message(what), size=len(value))
        return bytes(value)
    text = value.translate(_SEPARATORS).strip(_QUOTES)
    if text[:2].lower() == "0x":
        text = text[2:]
    if not text:
        return None
    if not set(text) <= _HEX:
        raise KeyFormatError(N_(
            "the {what} must be written in hex digits 0-9/A-F (spaces, dashes and colons are "
            "fine); it contains other characters"), what=Message(what))
    if len(text) != 32:
        raise KeyFormatError(N_(
            "the {what} must be 32 hex digits (16 bytes), got {digits} digits; copy it again "
            "from your grid operator's portal or letter"), what=Message(what), digits=len(text))
    return bytes.fromhex(text)
