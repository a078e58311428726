"""Floods of frame-start bytes are noise, counted by the byte, not a frame event each: a run of
``68`` reads as M-Bus heads ``68 L L 68`` at every position, each overlapping the next, and
once made a "cut short" event (with its message) per byte, which made ``decode`` of 5 MB take
a minute and hundreds of MB. How fast it is now is in ``benchmarks/bench_noise.py``."""

from __future__ import annotations

import pytest

from conftest import BY_ID, wire
from smartmeter_readout import Decoder, EventKind

VECTOR = "at_netznoe_kaifa_ma309_doc_example"


@pytest.mark.parametrize("byte", [0x68, 0x7E, 0x2F, 0xDB, 0x00])
def test_a_flood_of_start_bytes_is_garbage_and_a_push_after_it_still_decodes(
        byte: int) -> None:
    decoder = Decoder(BY_ID[VECTOR]["key"])
    flood = bytes([byte]) * 20_000
    readings = decoder.feed(flood + wire(VECTOR), final=True)
    assert len(readings) == 1
    assert decoder.stats[EventKind.CUT_SHORT] <= 1  # the flood's edge at most, not per byte
    if byte != 0x7E:  # HDLC flags may stand doubled between frames: not noise
        assert decoder.stats[EventKind.GARBAGE] >= len(flood) - 200


def test_a_frame_really_cut_short_is_still_named() -> None:
    whole = wire(VECTOR)
    decoder = Decoder(BY_ID[VECTOR]["key"])
    readings = decoder.feed(whole[:150] + whole, final=True)  # first frame's tail lost
    assert len(readings) == 1
    assert decoder.stats[EventKind.CUT_SHORT] == 1
