"""The telegrams of a simulated Netz OÖ AMIS meter (layout G): the meter's values as M-Bus
data records, encrypted with OMS mode 5, in the SND_UD long frame it sends once a second.

The record set and the header are those of the operator's interface description (2021-11-05):
date-time (CP48), A+, A-, R+ and R- (tariff 1), P+, P-, Q+, Q-, the collection register,
``2F`` filler to five AES blocks; manufacturer ``SAM``, version 1, medium 0x0E, the access
number counting telegrams, configuration word 0x0550 (mode 5, 5 blocks).
"""

from __future__ import annotations

from datetime import datetime

from ..link.mbus import build_mbus_telegram
from ..oms.records import DataField, encode_record
from ..oms.security import encrypt_mode5, mode5_iv

__all__ = ["SND_NKE", "amis_plaintext", "amis_telegram", "seal_amis"]

SND_NKE = bytes.fromhex("1040F03016")  # the link reset the meter sends when it (re)starts
_MANUFACTURER = bytes.fromhex("2D4C")  # "SAM"
_IDENTIFICATION = bytes(4)  # the AMIS sends zeros: its address is the reader's
_VERSION, _MEDIUM, _CI = 0x01, 0x0E, 0x5B
_MODE5 = 0x0500  # configuration word: mode 5; bits 4-7 count the encrypted blocks


def _cp48(moment: datetime) -> bytes:
    year = moment.year - 2000
    summer = bool(moment.dst())
    return bytes((moment.second | (0x40 if summer else 0), moment.minute,
                  moment.hour | (moment.isoweekday() << 5),
                  moment.day | ((year & 0x07) << 5), moment.month | ((year >> 3) << 4),
                  moment.isocalendar().week))


def amis_plaintext(moment: datetime, values: dict[str, int]) -> bytes:
    """The 80 bytes before encryption; ``values`` by OBIS code, in Wh, varh, W and var."""
    records = b"\x2f\x2f" + bytes((0x06, 0x6D)) + _cp48(moment)
    for code, vif, tariff in (("1.0.1.8.0.255", [0x03], 0), ("1.0.2.8.0.255", [0x83, 0x3C], 0),
                              ("1.0.3.8.1.255", [0xFB, 0x82, 0x73], 1),
                              ("1.0.4.8.1.255", [0xFB, 0x82, 0xF3, 0x3C], 1),
                              ("1.0.1.7.0.255", [0x2B], 0), ("1.0.2.7.0.255", [0xAB, 0x3C], 0),
                              ("1.0.3.7.0.255", [0xFB, 0x14], 0),
                              ("1.0.4.7.0.255", [0xFB, 0x94, 0x3C], 0),
                              ("1.0.1.128.0.255", [0x83, 0xFF, 0x04], 0)):
        # the registers are unsigned, the collection register signed (the description)
        records += encode_record(values[code], data_field=DataField.INT32, vif=vif,
                                 tariff=tariff, unsigned=code != "1.0.1.128.0.255")
    return records + b"\x2f" * (-len(records) % 16)


def amis_telegram(key: bytes, moment: datetime, values: dict[str, int], access: int,
                  *, control: int = 0x53) -> bytes:
    """One SND_UD frame as the meter sends it (``control`` 0x53 or 0x73: the frame count bit
    toggles from one to the next)."""
    return seal_amis(key, amis_plaintext(moment, values), access, control=control)


def seal_amis(key: bytes, plain: bytes, access: int, *, control: int = 0x53) -> bytes:
    """Any plaintext (whole AES blocks, at most 15) sealed and framed as the AMIS does it;
    the fuzzer seals its mutated record sets with this."""
    iv = mode5_iv(_MANUFACTURER, _IDENTIFICATION, _VERSION, _MEDIUM, access & 0xFF)
    config = (_MODE5 | (len(plain) // 16) << 4).to_bytes(2, "little")
    header = _IDENTIFICATION + _MANUFACTURER + bytes((_VERSION, _MEDIUM, access & 0xFF, 0x00)) \
        + config
    return build_mbus_telegram(_CI, header + encrypt_mode5(key, iv, plain), control=control)
