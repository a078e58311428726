"""smartmeter-readout: read, decrypt and decode the pushes of DLMS/COSEM smart meters.

    from smartmeter_readout import Decoder
    decoder = Decoder(key="36C6 6639 E48A ...")
    for reading in decoder.feed(chunk):
        print(reading.to_dict())
"""

from .cosem.layouts import PositionalLayout, layout_from_config
from .decoder import Decoder, decode
from .errors import (
    AuthenticationError,
    ConfigError,
    DecodeError,
    DecryptionError,
    FrameError,
    KeyFormatError,
    KeyMissingError,
    LayoutError,
    SmartMeterError,
)
from .events import DecoderStats, Event, EventKind
from .reading import Measurement, MeterIdentity, Reading

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DecodeError",
    "Decoder",
    "DecoderStats",
    "DecryptionError",
    "Event",
    "EventKind",
    "FrameError",
    "KeyFormatError",
    "KeyMissingError",
    "LayoutError",
    "Measurement",
    "MeterIdentity",
    "PositionalLayout",
    "Reading",
    "SmartMeterError",
    "decode",
    "layout_from_config",
]
__version__ = "0.1.0"
