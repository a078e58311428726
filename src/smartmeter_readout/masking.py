"""One place that hides secrets in text meant for people: logs, errors, the status page.

Outputs fail with messages that quote what they were given: a PostgreSQL DSN in URL form
(``postgresql://user:pw@host/db``) or as key=value pairs (``host=db password=pw``), an InfluxDB
URL with a token in its query, an ``Authorization: Bearer ...`` header. ``hide_secrets`` blanks
every form, and any configured secret (keys, passwords, tokens) it is given by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["HIDDEN", "hide_secrets"]

HIDDEN = "***"
_NAMES = r"(?:password|passwd|pwd|sslpassword|secret|token|api[_-]?key|apikey|auth[_-]?key|key)"
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
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
