"""One place that hides secrets in text meant for people: logs, errors, the status page.

Outputs fail with messages that quote what they were given: a PostgreSQL DSN in URL form
(``postgresql://user:pw@host/db``) or as key=value pairs (``host=db password=pw``), an InfluxDB
URL with a token in its query, an ``Authorization: Bearer ...`` header. ``hide_secrets`` blanks
every form, and any configured secret (keys, passwords, tokens) it is given by value. A password
with an unescaped ``@`` or ``/`` in a URL is hidden up to the URL's last ``@``: hiding too much
of an address is better than showing part of a password.

``printable`` escapes control and direction characters (U+202E turns a log line around) in
names that go into logs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["HIDDEN", "UNPRINTABLE", "hide_secrets", "printable", "url_secrets"]

HIDDEN = "***"
_NAMES = r"(?:password|passwd|pwd|sslpassword|secret|token|api[_-]?key|apikey|auth[_-]?key|key)"
# user:password@ up to the last @ of the address (greedy): a password may hold @ and /
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):\S*@")
_VALUE = r"(?:'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&;,'\"]+)"  # quoted, or up to a separator
_PAIR = re.compile(r"(?P<head>\b" + _NAMES + r"\s*=\s*)" + _VALUE, re.IGNORECASE)
_QUERY = re.compile(r"(?P<head>[?&]" + _NAMES + r"=)[^&#\s]*", re.IGNORECASE)
_SCHEME = re.compile(r"(?P<head>\b(?:Bearer|Token|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def hide_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with passwords, tokens and keys replaced by ``***``, in every known form."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, HIDDEN)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{HIDDEN}@", text)
    text = _QUERY.sub(lambda m: f"{m['head']}{HIDDEN}", text)
    text = _PAIR.sub(lambda m: f"{m['head']}{HIDDEN}", text)
    return _SCHEME.sub(lambda m: f"{m['head']}{HIDDEN}", text)


_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<user>[^:/@\s]*):(?P<password>\S*)@")
_PASSWORD_PAIR = re.compile(r"\bpassword\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<bare>\S+))")


def url_secrets(address: str | None) -> list[str]:
    """The password of a URL (``scheme://user:password@host``) or of key=value pairs, to be
    hidden by value: also each piece after an unescaped ``@`` in it (a client that splits
    at the first ``@`` quotes the rest as the host name), and its %-decoded form."""
    if not address:
        return []
    found = _URL_USERINFO.search(address)
    if found is not None:
        password = found["password"]
    else:
        pair = _PASSWORD_PAIR.search(address)
        if pair is None:
            return []
        password = pair["bare"] or re.sub(r"\\(.)", r"\1", pair["quoted"] or "")
    pieces = [password, *password.split("@")[1:]]
    decoded = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), password)
    return [piece for piece in dict.fromkeys([*pieces, decoded]) if piece]


#: Unicode categories that may not reach a log line raw: control, format, direction ...
UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def printable(text: str) -> str:
    """``text`` with control, format and direction characters written as ``\\uXXXX``, so a
    name from a config or a meter cannot forge or turn around a log line."""
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(char):04x}" if unicodedata.category(char) in UNPRINTABLE
                   else char for char in text)
