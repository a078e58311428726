"""One address field for a meter's line (the Home Assistant setup screen): a serial port or
a serial bridge, told apart by its form; a malformed one gets the expected form back."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from smartmeter_readout.operators import SerialSettings
from smartmeter_readout.sources.address import connector_for, is_bridge
from smartmeter_readout.sources.serial import SerialConnector
from smartmeter_readout.sources.tcp import TcpConnector


@pytest.mark.parametrize(("address", "host", "port"), [
    ("tcp://192.168.1.50:8888", "192.168.1.50", 8888),
    ("tcp://meter-bridge.local:23/", "meter-bridge.local", 23),
    ("192.168.1.50:8888", "192.168.1.50", 8888),
    ("[fd00::5]:8888", "fd00::5", 8888),
    ("  tcp://[::1]:2000 ", "::1", 2000),
])
def test_bridges(address: str, host: str, port: int) -> None:
    connector = connector_for(address)
    assert isinstance(connector, TcpConnector) and is_bridge(address)
    assert (connector.host, connector.port) == (host, port)
    assert connector.settings == ()  # the bridge owns the serial settings


@pytest.mark.parametrize("address", ["/dev/ttyUSB0", "/dev/serial/by-id/usb-FTDI_FT232R-if00",
                                     "COM3", "/tmp/ttyMETER"])
def test_serial_ports_keep_their_settings_and_readout(address: str) -> None:
    first = SerialSettings(9600, "E")
    connector = connector_for(address, (first,), readout=SerialSettings(300, "E", 7))
    assert isinstance(connector, SerialConnector) and not is_bridge(address)
    assert connector.port == address and connector.settings == (first,)
    assert connector.readout == SerialSettings(300, "E", 7)


@pytest.mark.parametrize(("address", "says"), [
    ("", "no port given"), ("   ", "no port given"),
    ("tcp://meter:http", "HOST:PORT"), ("tcp://:8888", "HOST:PORT"),
    ("tcp://10.0.0.1:70000", "HOST:PORT"),
])
def test_malformed_addresses_say_the_expected_form(address: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        connector_for(address)


def test_a_port_opened_for_a_caller_that_gave_up_is_closed() -> None:
    """The open runs in a thread; a caller cancelled meanwhile (an integration unloaded)
    must not leave the port it opens held (exclusive: nobody else could open it)."""
    release = threading.Event()
    closed = threading.Event()

    class Port:
        def close(self) -> None:
            closed.set()

    class Slow(SerialConnector):
        def _open(self, chosen: SerialSettings) -> Port:  # type: ignore[override]
            release.wait(10)
            return Port()

    async def main() -> None:
        opening = asyncio.create_task(Slow("/dev/ttyUSB0").open(SerialSettings(2400)))
        await asyncio.sleep(0)  # the thread has started
        opening.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, closed.wait, 10)

    asyncio.run(main())
    assert closed.is_set()
