"""Cross-check the A-XDR decoder against Gurux's translator on every capture's plaintext."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from gurux_dlms.enums import TranslatorOutputType
from gurux_dlms.GXByteBuffer import GXByteBuffer
from gurux_dlms.GXDLMSTranslator import GXDLMSTranslator

from conftest import BY_ID, vector_ids, wire
from smartmeter_readout import Decoder
from smartmeter_readout.dlms import axdr
from smartmeter_readout.dlms.apdu import build_notification, parse_notification

_GURUX_TAGS = {
    "Structure": axdr.STRUCTURE, "Array": axdr.ARRAY, "OctetString": axdr.OCTET_STRING,
    "String": axdr.VISIBLE_STRING, "UInt8": axdr.UINT8, "UInt16": axdr.UINT16,
    "UInt32": axdr.UINT32, "UInt64": axdr.UINT64, "Int8": axdr.INT8, "Int16": axdr.INT16,
    "Int32": axdr.INT32, "Int64": axdr.INT64, "Enum": axdr.ENUM, "Boolean": axdr.BOOLEAN,
}
_SIGNED_BITS = {axdr.INT8: 8, axdr.INT16: 16, axdr.INT32: 32, axdr.INT64: 64}


class _Capturing(Decoder):
    """A decoder that keeps the plaintext of each notification it decodes the long way."""

    plaintexts: list[bytes]

    def _notification(self, apdu: bytes, maker: str | None) -> Any:
        self.plaintexts = [*getattr(self, "plaintexts", []), apdu]
        return super()._notification(apdu, maker)


def _ours(node: axdr.Node, out: list[tuple[int, object]]) -> None:
    tag, value = node
    if tag in (axdr.STRUCTURE, axdr.ARRAY):
        out.append((tag, len(value)))
        for item in value:
            _ours(item, out)
    elif tag == axdr.VISIBLE_STRING:
        out.append((tag, value))
    elif tag == axdr.OCTET_STRING:
        out.append((tag, value.hex().upper()))
    else:
        out.append((tag, value))


def _theirs(element: ET.Element, out: list[tuple[int, object]]) -> None:
    tag = _GURUX_TAGS.get(element.tag)
    if tag is not None:
        raw = element.get("Value", element.get("Qty", ""))
        if tag in (axdr.STRUCTURE, axdr.ARRAY):
            out.append((tag, int(raw, 16)))
        elif tag == axdr.OCTET_STRING:
            out.append((tag, raw.upper()))
        elif tag == axdr.VISIBLE_STRING:
            out.append((tag, raw))
        elif tag == axdr.BOOLEAN:
            out.append((tag, raw.lower() in ("true", "1")))
        else:
            number = int(raw, 16)
            bits = _SIGNED_BITS.get(tag)
            if bits and number >= 1 << (bits - 1):
                number -= 1 << bits
            out.append((tag, number))
    for child in element:
        _theirs(child, out)


@pytest.mark.parametrize("vector_id", vector_ids(
    lambda v: v["verified"] and (v.get("layout") or {}).get("type") != "dsmr"))
def test_axdr_tree_matches_gurux(vector_id: str) -> None:
    vector = BY_ID[vector_id]
    decoder = _Capturing(vector["key"])
    assert decoder.feed(wire(vector_id))
    [plaintext] = decoder.plaintexts
    notification, _ = parse_notification(plaintext)
    ours: list[tuple[int, object]] = []
    _ours(notification.body, ours)
    translator = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    # Gurux does not read the Norwegian Kaifa's tagged header date-time (09 0C ...): give it
    # the same body behind a standard header
    standard = build_notification(notification.body, invoke_id=notification.invoke_id,
                                  date_time=notification.date_time)
    root = ET.fromstring(translator.pduToXml(GXByteBuffer(standard)))
    body = root.find("NotificationBody")
    assert body is not None
    theirs: list[tuple[int, object]] = []
    _theirs(body, theirs)
    assert ours == theirs
    assert axdr.encode(notification.body) == plaintext[len(plaintext) - len(
        axdr.encode(notification.body)):]
