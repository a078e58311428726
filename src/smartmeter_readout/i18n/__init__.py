"""Texts for people, in English and German, from gettext catalogues.

``locale/<lang>/LC_MESSAGES/`` holds two domains: ``smartmeter_readout`` (the command line,
``doctor``, the history tables, Home Assistant's entity names), compiled to ``.mo`` and read
with the standard library's gettext, and ``page`` (the web page), compiled to
``web/static/locale/<lang>.json``. The ``.po`` files are the source; ``scripts/i18n.py``
extracts the messages, updates the catalogues and compiles them, and ``tests/test_i18n.py``
fails when a message is missing from either language or a compiled file is out of date.

The command line speaks the language of ``LANGUAGE``/``LC_ALL``/``LC_MESSAGES``/``LANG``, as
gettext does; other parts choose one with ``translation(lang)``.
"""

from __future__ import annotations

import gettext
from pathlib import Path

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "_", "translation"]

DOMAIN = "smartmeter_readout"
LANGUAGES = ("en", "de")
LOCALE_DIR = Path(__file__).parent / "locale"


def translation(lang: str | None = None) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (``de``, ``de_AT``, …); None: the environment's language."""
    languages = [lang] if lang and lang != "auto" else None
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)


_current = translation()


def _(message: str) -> str:
    """``message`` in the language of the environment."""
    return _current.gettext(message)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks a message for the catalogue where it is defined; translated where it is used."""
    return message
