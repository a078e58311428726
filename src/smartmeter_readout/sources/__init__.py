"""Where bytes come from: serial ports, TCP serial bridges, recorded captures, a virtual meter.

Each source is a *connector* (``open()`` gives a connection, as often as needed) and a
*connection* (``read(timeout)`` until it is lost). Failures are translated at this boundary
into the small ``SourceError`` hierarchy; retrying is the caller's policy (``live.py``).
"""

from .base import (
    Connection,
    Connector,
    SettingUnsupported,
    SourceError,
    SourceFatal,
    SourceFinished,
    SourceLost,
    SourceUnavailable,
)

__all__ = ["Connection", "Connector", "SettingUnsupported", "SourceError", "SourceFatal",
           "SourceFinished", "SourceLost", "SourceUnavailable"]
