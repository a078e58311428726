"""Messages for people that the core makes without knowing their language.

The core (decoder, link, dlms, cosem, oms, keys, errors, events) reads no catalogue: it
writes English. Each of its messages is a constant template marked with ``N_`` (so
``scripts/i18n.py`` puts it in the catalogues) and formatted with named parameters::

    raise DecodeError(N_("{count} unexpected bytes after the notification"), count=n)

The result is a :class:`Message`: a ``str`` holding the English text, as before, that also
keeps its template and parameters. A layer that shows it to people translates it with
``smartmeter_readout.i18n.localize``; everything else reads it as the English string it is.
This module imports nothing of the package and no gettext.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

__all__ = ["N_", "SEPARATOR", "Message"]

#: what joins the parts of a parameter given as a tuple of messages ("a; b; c")
SEPARATOR = "; "


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks a message for the catalogue where it is defined; translated where it is shown."""
    return message


def _param(value: object) -> object:
    """An exception as a parameter: its message (translatable if it is one)."""
    if isinstance(value, BaseException):
        message = getattr(value, "message", None)
        return message if isinstance(message, Message) else str(value)
    return value


def _english(message: str) -> str:
    return message


class Message(str):
    """Text from a template and named parameters, translatable later.

    ``Message(template, **params)`` is ``template.format(**params)``; without parameters
    it is ``template`` as it is (braces and all). A parameter may itself be a Message (it
    is translated with the outer one), an exception (its message) or a tuple of Messages
    (joined with ``"; "``). The text is English; ``i18n`` makes Messages whose text is in
    the environment's language (``_(template, **params)``), by overriding ``language``.
    """

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, /, **params: object) -> Self:
        params = {name: _param(value) for name, value in params.items()}
        self = super().__new__(cls, _render(template, params, cls.language()))
        self.template = template
        self.params = params
        return self

    @staticmethod
    def language() -> Callable[[str], str]:
        """The gettext function that makes the text (here: none, the English template)."""
        return _english

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:
        return (self.template,), dict(self.params)

    def in_language(self, gettext: Callable[[str], str]) -> str:
        """The text in the language of ``gettext`` (English where the catalogue has none)."""
        return _render(self.template, self.params, gettext)


def _render(template: str, params: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    text = gettext(template)
    if not params:
        return text
    values = {name: _translated(value, gettext) for name, value in params.items()}
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a broken translation: say it in English
        return template.format(**values)


def _translated(value: object, gettext: Callable[[str], str]) -> object:
    if isinstance(value, Message):
        return value.in_language(gettext)
    if isinstance(value, tuple) and value and all(isinstance(part, Message) for part in value):
        return SEPARATOR.join(part.in_language(gettext) for part in value)
    return value
