"""One address for a meter's line, as a user types it: a serial port or a serial bridge.

Programs that embed the reader (the Home Assistant integration) take one text field, not the
CLI's ``--port``/``--tcp`` pair: ``/dev/serial/by-id/usb-…``, ``COM3``, ``tcp://host:port``
or ``host:port``.
"""

from __future__ import annotations

from ..i18n import _
from ..operators import AUTO_SETTINGS, SerialSettings
from .base import Connector

__all__ = ["connector_for", "is_bridge"]


def is_bridge(address: str) -> bool:
    """A TCP serial bridge (``tcp://host:port``, ``host:port``), not a serial port."""
    text = address.strip()
    if text.startswith("tcp://"):
        return True
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and not text.startswith(("/", "\\")))


def connector_for(address: str, settings: tuple[SerialSettings, ...] = AUTO_SETTINGS, *,
                  readout: SerialSettings | None = None) -> Connector:
    """The connector for ``address``; ValueError with the expected form when it is neither a
    port nor ``HOST:PORT``. ``settings`` and ``readout`` apply to serial ports only (a bridge
    owns its serial settings)."""
    text = address.strip()
    if not text:
        raise ValueError(_("no port given: a serial port such as /dev/ttyUSB0 or a serial "
                           "bridge as tcp://192.168.1.50:8888"))
    if is_bridge(text):
        from .tcp import TcpConnector, parse_host_port

        host, port = parse_host_port(text.removeprefix("tcp://").rstrip("/"))
        return TcpConnector(host, port)
    from .serial import SerialConnector

    return SerialConnector(text, settings, readout=readout)
