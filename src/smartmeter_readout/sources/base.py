"""The contract between sources and the live reader, and the errors it may raise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..capture.format import Chunk
from ..i18n import _

if TYPE_CHECKING:
    from ..operators import SerialSettings

__all__ = ["NOTHING", "Chunk", "Connection", "Connector", "SettingUnsupported", "SourceError",
           "SourceFatal", "SourceFinished", "SourceLost", "SourceUnavailable", "describe"]


class SourceError(Exception):
    """A source failed; the message names the cause and the fix."""


class SourceUnavailable(SourceError):
    """Not there yet (device missing, connection refused): worth retrying."""


class SettingUnsupported(SourceUnavailable):
    """The device refuses this serial setting (a pseudo-terminal has no parity)."""


class SourceLost(SourceError):
    """Was there and went away (adapter unplugged, bridge closed): worth retrying."""


class SourceFatal(SourceError):
    """Retrying cannot help until the user acts (permission denied, not a serial port)."""


class SourceFinished(SourceError):
    """A finite source (a replayed capture) has delivered everything."""


#: what ``read`` answers when no byte came in time
NOTHING = Chunk(None, b"")


class Connection(Protocol):
    """A live link. ``read`` answers chunks: the bytes and when they were received, which a
    replayed capture knows (``received``) and a live line leaves to the reader (None: now)."""

    async def read(self, timeout: float) -> Chunk:
        """The next bytes, or ``NOTHING`` when none came within ``timeout`` seconds."""

    def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class Connector(Protocol):
    #: what to call it in messages: "/dev/ttyUSB0", "tcp 192.168.1.50:8888"
    name: str
    #: the serial settings to try; () when the source has none (TCP, files)
    settings: tuple[SerialSettings, ...]
    #: where the meter answers an IEC 62056-21 sign-on with its number (the AMIS's optical
    #: interface at 300 7E1); None when the source cannot switch settings or need not ask
    readout: SerialSettings | None

    async def open(self, settings: SerialSettings | None = None) -> Connection: ...


def describe(name: str) -> str:
    """A connector's ``name`` (a port path, ``tcp HOST:PORT``, ``replay FILE``, ``simulated
    PROFILE meter``: stable, for programs and the page) in the words of the user's language,
    for log lines and messages."""
    kind, _space, rest = name.partition(" ")
    if kind == "simulated":
        return _("simulated meter {profile}", profile=rest.removesuffix(" meter"))
    if kind == "tcp":
        return _("serial bridge {address}", address=rest)
    if kind == "replay":
        return _("recording {file}", file=rest)
    return name
