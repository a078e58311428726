"""Texts for people, in English and German, from gettext catalogues.

``locale/<lang>/LC_MESSAGES/`` holds two domains: ``smartmeter_readout`` (the command line,
``doctor``, the history tables, Home Assistant's entity names), compiled to ``.mo`` and read
with the standard library's gettext, and ``page`` (the web page), compiled to
``web/static/locale/<lang>.json``. The ``.po`` files are the source; ``scripts/i18n.py``
extracts the messages, updates the catalogues and compiles them, and ``tests/test_i18n.py``
fails when a message is missing from either language or a compiled file is out of date.

The command line speaks the language of ``LANGUAGE``/``LC_ALL``/``LC_MESSAGES``/``LANG``, as
gettext does; other parts choose one with ``translation(lang)``.

``_(template)`` is the translation; ``_(template, **params)`` the translation with the
parameters formatted in, as a ``Message`` (a ``str``) that remembers template and
parameters, so ``localize`` can show it in another language too.

The core (decoder, link, dlms, cosem, oms, keys, errors, events) loads no catalogue and so
does not import this package: it marks its messages with ``smartmeter_readout.message.N_``
(the same ``N_`` as here) and raises or reports English ``Message`` values, which keep their
template and parameters. ``localize(error_or_event)`` shows one in the user's language.
"""

from __future__ import annotations

import errno
import gettext
from collections.abc import Callable
from pathlib import Path

from ..message import N_, Message

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "Localized",
    "_",
    "decimal_mark",
    "localize",
    "os_error_text",
    "speak_for_argparse",
    "translation",
    "use_language",
]

DOMAIN = "smartmeter_readout"
LANGUAGES = ("en", "de")
LOCALE_DIR = Path(__file__).parent / "locale"


def translation(lang: str | None = None) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (``de``, ``de_AT``, …); None: the environment's language."""
    languages = [lang] if lang and lang != "auto" else None
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)


_current = translation()


def use_language(lang: str | None) -> None:
    """Speak ``lang`` from now on, in this whole process: for a program that embeds the
    reader and has a language setting of its own (Home Assistant), not the environment's."""
    global _current  # noqa: PLW0603 - one language per process, as gettext's own domain
    _current = translation(lang)


# what the operating system says most often, in the user's language (its own text is English)
_OS_ERRORS = {
    errno.EADDRINUSE: N_("the port is in use by another program"),
    errno.EADDRNOTAVAIL: N_("this machine has no such address"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("operation not permitted"),
    errno.ENOENT: N_("no such file or directory"),
    errno.EBUSY: N_("the device is busy"),
    errno.EIO: N_("input/output error"),
    errno.ECONNREFUSED: N_("connection refused"),
    errno.ETIMEDOUT: N_("timed out"),
    errno.EHOSTUNREACH: N_("host unreachable"),
    errno.ENOSPC: N_("no space left on the disk"),
}


def os_error_text(error: BaseException) -> str:
    """An operating system error as words for people, translated where it is a common one;
    else the system's own text."""
    number = getattr(error, "errno", None)
    if number in _OS_ERRORS:
        return _current.gettext(_OS_ERRORS[number])
    return getattr(error, "strerror", None) or str(error)


def decimal_mark() -> str:
    """The decimal mark of the language the command line speaks: tables for people write
    2,935 in German (JSON and CSV keep 2.935 for programs)."""
    language = _current.info().get("language", "")
    return "," if language.startswith("de") else "."


def speak_for_argparse() -> None:
    """argparse translates its own words ("usage:", "options", its errors) with gettext's
    process-wide domain: the command line points that at this catalogue, which holds them
    (``cli.main``). Only the command does this; a program that imports the package keeps its
    own domain."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)


def _(message: str, /, **params: object) -> str:
    """``message`` in the language of the environment; with ``params``, formatted with them
    (a ``Localized`` message, which ``localize`` can show in another language too)."""
    if params:
        return Localized(message, **params)
    return _current.gettext(message)


def _environment(message: str) -> str:
    return _current.gettext(message)


class Localized(Message):
    """A ``Message`` whose text is in the environment's language, not English."""

    @staticmethod
    def language() -> Callable[[str], str]:
        return _environment


def localize(item: object, catalogue: gettext.NullTranslations | None = None) -> str:
    """An error, event or message in the language of ``catalogue`` (default: the environment's).

    A core error (``error.message``), a decoder ``Event`` (``event.message``) or a
    ``Message`` is translated from its template, its parameters formatted into the
    translation; any other exception or text is shown as its ``str``.
    """
    message = getattr(item, "message", item)
    if isinstance(item, BaseException) and not isinstance(message, Message) and \
            len(item.args) == 1:
        message = item.args[0]  # e.g. KeyRejected, made from an event's message
    if isinstance(message, Message):
        return message.in_language((_current if catalogue is None else catalogue).gettext)
    return str(item)
