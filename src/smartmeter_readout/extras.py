"""Which optional extra brings which package, so a missing one is named correctly.

A bare install (``pip install smartmeter-readout``) reads, decodes and stores; the page, MQTT
and PostgreSQL come with the extras ``web``, ``mqtt`` and ``postgres``. A module imports an
extra's package only where that extra is needed; when it is missing, the user is told which
extra to install (and the pipx way), never a traceback or a wrong extra.
"""

from __future__ import annotations

from .i18n import _

__all__ = ["EXTRAS", "extra_hint", "missing_extra"]

# top-level import name -> (extra, the PyPI packages ``pipx inject`` needs for it)
EXTRAS: dict[str, tuple[str, str]] = {
    "aiohttp": ("web", "aiohttp"),
    "aiomqtt": ("mqtt", "aiomqtt"),
    "paho": ("mqtt", "aiomqtt"),
    "psycopg": ("postgres", "'psycopg[binary]' msgspec"),
    "psycopg_binary": ("postgres", "'psycopg[binary]' msgspec"),
    "msgspec": ("postgres", "'psycopg[binary]' msgspec"),
}


def missing_extra(error: ImportError) -> tuple[str, str] | None:
    """(extra, pipx inject arguments) whose package ``error`` found missing, else None."""
    name = (error.name or "").partition(".")[0]
    return EXTRAS.get(name)


def extra_hint(what: str, extra: str, packages: str) -> str:
    """One sentence: ``what`` needs ``extra``, and how to add it with pip and with pipx."""
    return _("{what} needs the {extra} extra: pip install 'smartmeter-readout[{extra}]' "
             "(with pipx: pipx inject smartmeter-readout {packages})",
             what=what, extra=extra, packages=packages)
