"""A LINZ NETZ meter on the air and the receivers that hear it: the wireless decoder run
backwards, for the tests, ``simulate --receiver`` and users without a radio.

The telegram is shaped as LN-666 describes it (and as its published example is): link
header ``44 | B6 10 (DEV) | id | 01 | 02``, short transport header (CI 0x7A) with OMS mode 5
over 3 blocks, records ``0C 78`` serial number, ``06 6D`` date-time, ``0E 03`` / ``0E 83 3C``
energy in Wh (BCD 12), ``0B 2B`` / ``0B AB 3C`` power in W (BCD 6). Neighbours (a water and a
heat meter, another electricity meter with its own key) send alongside.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from ..link.receivers import AMBER_DATA_IND, RADIOLINK, WMBUS_IND, amber_frame, im871a_frame
from ..link.wmbus import build_format_a
from ..oms.records import DataField, encode_record
from ..oms.security import encrypt_mode5, mode5_iv

__all__ = ["NEIGHBOURS", "WirelessMeter", "frame_for", "telegram"]

DEV = bytes.fromhex("B610")
_C_SND_NR = 0x44


def _datetime_i(moment: datetime) -> bytes:
    """EN 13757-3 type I (6 bytes): seconds, minutes, hours, day, month, year."""
    year = moment.year - 2000
    return bytes((moment.second, moment.minute, moment.hour,
                  moment.day | ((year & 0x07) << 5), moment.month | ((year >> 3) << 4), 0))


def telegram(*, key: bytes, ident: str, access: int, moment: datetime, serial: int,
             import_wh: int, export_wh: int, import_w: int, export_w: int,
             manufacturer: bytes = DEV, medium: int = 0x02, energy_vif: int = 0x03) -> bytes:
    """One telegram without CRCs (L C M A CI ...), encrypted in mode 5."""
    identification = bytes.fromhex(ident)[::-1]
    records = (b"\x2f\x2f"
               + encode_record(serial, data_field=DataField.BCD8, vif=(0x78,))
               + bytes((0x06, 0x6D)) + _datetime_i(moment)
               + encode_record(import_wh, data_field=DataField.BCD12, vif=(energy_vif,))
               + encode_record(export_wh, data_field=DataField.BCD12,
                               vif=(energy_vif | 0x80, 0x3C))
               + encode_record(import_w, data_field=DataField.BCD6, vif=(0x2B,))
               + encode_record(export_w, data_field=DataField.BCD6, vif=(0xAB, 0x3C)))
    blocks = -(-len(records) // 16)
    config = 0x0500 | (blocks << 4)
    iv = mode5_iv(manufacturer, identification, 0x01, medium, access)
    cipher = encrypt_mode5(key, iv, records)
    body = (bytes((_C_SND_NR,)) + manufacturer + identification + bytes((0x01, medium, 0x7A,
            access, 0x00)) + config.to_bytes(2, "little") + cipher)
    return bytes((len(body),)) + body


@dataclass(slots=True)
class WirelessMeter:
    """A LINZ NETZ meter that counts: power drawn, energy integrated, a telegram every 5 s."""

    key: bytes
    ident: str = "00328769"
    serial: int = 90316660
    import_wh: int = 18565
    export_wh: int = 16604
    access: int = 0x59
    seed: int = 1
    energy_vif: int = 0x03

    def next(self, moment: datetime) -> bytes:
        rng = random.Random(self.seed * 1_000_003 + self.access)
        import_w = rng.randrange(150, 3500)
        self.import_wh += max(1, import_w * 5 // 3600)
        self.access = (self.access + 1) & 0xFF
        return telegram(key=self.key, ident=self.ident, access=self.access, moment=moment,
                        serial=self.serial, import_wh=self.import_wh, export_wh=self.export_wh,
                        import_w=import_w, export_w=0, energy_vif=self.energy_vif)


#: what else a receiver in a Linz block of flats hears: (id, medium, M field) with a key of
#: their own; their telegrams are noise to the reader, to be counted and left alone
NEIGHBOURS = (("12345678", 0x07, bytes.fromhex("A511")),  # a water meter
              ("87654321", 0x04, bytes.fromhex("A511")),  # a heat meter
              ("00328770", 0x02, DEV))  # the neighbour's electricity meter


def neighbour_telegram(index: int, moment: datetime, access: int) -> bytes:
    ident, medium, maker = NEIGHBOURS[index % len(NEIGHBOURS)]
    key = bytes(range(16, 32))
    return telegram(key=key, ident=ident, access=access, moment=moment, serial=index,
                    import_wh=1000 + access, export_wh=0, import_w=100, export_w=0,
                    manufacturer=maker, medium=medium)


def frame_for(receiver: str, plain: bytes, *, rssi: int = 0x39) -> bytes:
    """A telegram (without CRCs) as ``receiver`` hands it over its serial line."""
    if receiver == "im871a":
        return im871a_frame(RADIOLINK, WMBUS_IND, plain[1:], timestamp=0, rssi=rssi)
    if receiver == "amb8465":
        return amber_frame(AMBER_DATA_IND, plain[1:])
    if receiver == "cul":
        return b"b" + (build_format_a(plain) + bytes((rssi,))).hex().upper().encode() + b"\r\n"
    if receiver == "rtl_wmbus":
        return (f"T1;1;1;2026-12-07 12:00:00.000;{rssi};0;0;0x{plain.hex()}\n").encode()
    if receiver == "telegram":
        return plain
    raise ValueError(f"unknown receiver {receiver!r}")
