"""The one error hierarchy of smartmeter-readout.

Everything the core can reject derives from :class:`SmartMeterError`; any other exception
escaping the core is a bug. Messages name the cause and the fix, and never contain a key.
They are English templates with named parameters, ``DecodeError(N_("... {count} ..."),
count=n)``: ``str(error)`` is the English text, ``error.message`` the translatable
:class:`~smartmeter_readout.message.Message` that ``i18n.localize`` shows in the user's
language.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .events import EventKind
from .message import Message

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DecodeError",
    "DecryptionError",
    "FrameError",
    "KeyFormatError",
    "KeyMissingError",
    "LayoutError",
    "SmartMeterError",
    "TruncatedError",
]


class SmartMeterError(Exception):
    """Base of every error smartmeter-readout raises on purpose."""

    #: what the decoder counts when this error ends a push
    kind: ClassVar[EventKind] = EventKind.MALFORMED
    #: the English text with its template and parameters (``str(error)`` is the text)
    message: Message

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.message = message if isinstance(message, Message) and not params else \
            Message(message, **params)
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.message.template, dict(self.message.params),
                          self.__dict__)


def _rebuild(cls: type[SmartMeterError], template: str, params: dict[str, Any],
             state: dict[str, Any]) -> SmartMeterError:
    error = cls(template, **params)
    error.__dict__.update(state)
    return error


class FrameError(SmartMeterError):
    """A link frame is broken: bad checksum, bad stop byte, impossible length, lost segment."""

    kind = EventKind.SEGMENT_LOST


class DecodeError(SmartMeterError):
    """An APDU or A-XDR value is malformed."""


class TruncatedError(DecodeError):
    """The data ends before the value it announces; more bytes may complete it."""


class KeyMissingError(SmartMeterError):
    """The push is encrypted and no key was given."""

    kind = EventKind.KEY_MISSING


class DecryptionError(SmartMeterError):
    """The plaintext is no valid APDU: the key is wrong (or the push is corrupted)."""

    kind = EventKind.WRONG_KEY


class AuthenticationError(SmartMeterError):
    """The GCM tag does not verify: the authentication key is wrong or the push was altered."""

    kind = EventKind.TAG_MISMATCH


class LayoutError(SmartMeterError):
    """The notification body has a shape no known layout describes."""

    kind = EventKind.UNKNOWN_LAYOUT


class KeyFormatError(SmartMeterError, ValueError):
    """A key given by the user is not 16 bytes of hex."""


class ConfigError(SmartMeterError, ValueError):
    """The configuration is invalid (names the key, the bad value and what is valid)."""
