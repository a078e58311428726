"""Who may listen where: checked before anything starts, without loading the web stack."""

from __future__ import annotations

import ipaddress

from ..i18n import _

__all__ = ["is_loopback", "token_problem"]

_MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def token_problem(host: str, token: str) -> str | None:
    """Why this [web] setting must not start, or None."""
    if token and len(token) < _MIN_TOKEN:
        return _("[web] token is too short ({length} characters): use at least {minimum}, "
                 "e.g. the output of: python3 -c 'import secrets; "
                 "print(secrets.token_urlsafe(24))'").format(length=len(token), minimum=_MIN_TOKEN)
    if not token and not is_loopback(host):
        return _("[web] host = {host!r} lets other machines in, so the page needs a token: "
                 "set [web] token (at least 16 characters, e.g. from python3 -c 'import "
                 "secrets; print(secrets.token_urlsafe(24))') or host = \"127.0.0.1\"").format(
            host=host)
    return None
