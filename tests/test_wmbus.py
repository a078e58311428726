"""Wireless M-Bus (issue 24, LINZ NETZ): link layer, mode 5, receivers' framings, plausibility.

Vectors (facts only, taken with their provenance):

- LN-666, LINZ NETZ "Beschreibung Wireless M-Bus Schnittstelle", example telegram and key,
  quoted in ulrichlehner/homebase smartmeter/README.md at commit
  12387ccb03bcf610723c3b46b8d09c0e38fb613a (the PDF itself is attached to
  SzczepanLeon/esphome-components issue 167): 18,565 Wh import, 16,604 Wh export (the PDF's
  18561 is a typo, says that README). Two bytes follow its 3 encrypted blocks: ``57``,
  unencrypted, still inside the L field, and ``E6`` beyond it (the telegram is one byte
  longer than its L field says).
- EN 13757-3:2003 Table P.1 / OMS Vol. 2 Annex N.2.1 (gas meter, ELS 12345678, CI 0x7A,
  key 0102..0F11), with and without the format A CRCs, as tudborg/exmbus test/full_frame_test.exs
  (commit a51f15cf3c675e2865adbb0f2b6037682fe146e5) and test/spec/oms_vol2_annex_n_test.exs
  (commit 89132a24129ebf9357874aef04477ec747d617d3) and the Lobaro wM-Bus parser's
  documentation (RawWithCrc) publish it: 28504.27 m³, 2008-05-31 23:50.
- CEN/TR 17167:2018 Table F.2 (heat cost allocator QDS 55667788, CI 0x72 long header, key
  000102..0F, one encrypted block then an unencrypted record), with its CRCs, from the same
  exmbus test: records 1234, 2007-04-30, 23456 and a flow temperature of 25 °C.
- OMS Vol. 2 Annex N.5.3 (the same with an extended link layer, CI 0x8C), from
  oms_vol2_annex_n_test.exs: refused with a clear event.
- Receivers' framings from public logs: an iM871A HCI frame with timestamp, RSSI and CRC
  (wmbusmeters issue 13), an AMB8465 CMD_DATA_IND frame (wmbusmeters issue 1049) and its
  set-mode command (wmbusmeters issue 26 logs ``FF 04 01 05 FF``, mode 0x05; Amber's mode
  numbers, in the table of wmbusmeters' wmbus_amb8465.cc today: 0x05 is "T1-Meter", the
  sending side, and T1 meters are received in 0x08 "T2-Other"), the rtl_wmbus line format
  (wmbusmeters issue 128: ``T1;1;1;time;rssi;rssi;id;0x<hex without CRCs>``, ``0;0`` when
  garbled).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from smartmeter_readout.events import EventKind
from smartmeter_readout.link.receivers import (
    AmberStream,
    CulStream,
    Im871aStream,
    detect_receiver,
)
from smartmeter_readout.link.wmbus import (
    WmbusError,
    build_format_a,
    build_format_b,
    crc_en13757,
    parse_wmbus,
)
from smartmeter_readout.oms.records import parse_records
from smartmeter_readout.oms.security import decrypt_mode5, mode5_iv
from smartmeter_readout.sim.wmbus import WirelessMeter, frame_for, neighbour_telegram, telegram
from smartmeter_readout.wireless import VERDICT_AFTER, WirelessDecoder, looks_like_telegram

LN666_KEY = "F1046961A0FC34C200906266C1409E11"
LN666 = bytes.fromhex(
    "3F44B6106987320001027A59003005A7A88A648E15D98354C5DA547B32E1E6FE2A20C2D7003798EBDF80E15F"
    "F900442481DF2AB3A0E2C3376A72B13AE0798E57E6")
P1_KEY = "0102030405060708090A0B0C0D0E0F11"
P1_PLAIN = bytes.fromhex("2E4493157856341233037A2A0020055923C95AAA26D1B2E7493B013EC4A6F6D352"
                         "9B520EDFF0EA6DEFC99D6D69EBF3")
P1_CRC = bytes.fromhex("2e44931578563412330333637a2a0020055923c95aaa26d1b2e7493b2a8b013ec4a6f6d"
                       "3529b520edff0ea6defc955b29d6d69ebf3ec8a")
F2_KEY = "000102030405060708090A0B0C0D0E0F"
F2_CRC = bytes.fromhex("294493444433221155086CB17288776655934455080004100500DFE227F9A782146D15"
                       "13581CD2F83F3904015B196109")
N53_ELL = bytes.fromhex("304493444433221155378C00757288776655934455080004100500DFE2A782146D15"
                        "13581CD2F83F39040CFD1078563412")
MOMENT = datetime(2026, 12, 7, 12, 0, 0)


def _values(reading: object) -> dict[str, object]:
    return {code: m.value for code, m in reading.values.items()}  # type: ignore[attr-defined]


# ------------------------------------------------------------------ LN-666


def test_ln666_example_byte_by_byte() -> None:
    frame = parse_wmbus(LN666)
    assert (frame.control, frame.maker, frame.meter_id, frame.version, frame.medium,
            frame.ci) == (0x44, "DEV", "00328769", 1, 2, 0x7A)
    assert frame.form == "plain" and frame.extra == 1  # E6: one byte more than L says
    assert len(frame.payload) == 4 + 48 + 1 and frame.payload[-1] == 0x57  # inside L
    access, status, config = frame.payload[0], frame.payload[1], frame.payload[2:4]
    assert (access, status, config.hex()) == (0x59, 0, "3005")  # mode 5, 3 blocks
    iv = mode5_iv(frame.manufacturer, frame.identification, 1, 2, access)
    plain = decrypt_mode5(bytes.fromhex(LN666_KEY), iv, frame.payload[4:52])
    records = parse_records(plain)
    assert [r.quantity for r in records] == ["fabrication_number", "date_time", "energy",
                                             "energy", "power", "power"]
    assert [r.raw for r in records][2:] == [18565, 16604, 0, 0]
    assert records[0].raw == 90316660


def test_ln666_decodes_to_its_values() -> None:
    decoder = WirelessDecoder(LN666_KEY)
    [reading] = decoder.feed(LN666, final=True)
    assert _values(reading) | {"0.0.1.0.0.255": None} == {
        "0.0.1.0.0.255": None, "1.0.1.8.0.255": 18565, "1.0.2.8.0.255": 16604,
        "1.0.1.7.0.255": 0, "1.0.2.7.0.255": 0}
    assert reading.meter.manufacturer == "DEV" and reading.meter.id == "00328769"
    assert reading.time.isoformat() == "2024-02-16T08:15:15+01:00"
    assert reading.security == "encrypted" and reading.frame_counter == 0x59
    said = [str(event) for event in decoder.take_events()]  # the two trailing bytes, singular
    assert said == ["the telegram carries 1 byte more than its L field says: ignored",
                    "1 byte after the encrypted part is no data record: ignored"]


def test_ln666_in_every_receivers_framing_amid_neighbours() -> None:
    """The example inside the traffic of other meters, as each receiver hands it over."""
    plain = LN666[:64]
    for receiver, meter_id in [(name, ident) for name in ("im871a", "amb8465", "cul",
                                                         "rtl_wmbus", "telegram")
                               for ident in (None, "00328769")]:
        decoder = WirelessDecoder(LN666_KEY, receiver=receiver, meter_id=meter_id)
        stream = b""
        for number in range(6):
            stream += frame_for(receiver, neighbour_telegram(number, MOMENT, number))
            if number == 2:
                stream += frame_for(receiver, plain)
        readings = []
        for at in range(0, len(stream), 7):  # in small pieces, as a serial line gives them
            readings += decoder.feed(stream[at : at + 7], final=at + 7 >= len(stream))
        assert [_values(r)["1.0.1.8.0.255"] for r in readings] == [18565], receiver
        assert decoder.other_meters == 3, receiver
        events = decoder.take_events()
        assert not [e for e in events if e.kind is EventKind.BAD_FRAME], receiver
        # the neighbour's electricity meter heard before ours is no wrong-key verdict
        assert not [e for e in events if e.kind is EventKind.WRONG_KEY], receiver


def test_decode_command_prints_the_example() -> None:
    done = subprocess.run([sys.executable, "-m", "smartmeter_readout", "decode", "--key",
                           LN666_KEY, "--format", "jsonl", LN666.hex()],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert '"value": 18565' in done.stdout and '"value": 16604' in done.stdout
    assert LN666_KEY not in done.stdout + done.stderr
    wrong = subprocess.run([sys.executable, "-m", "smartmeter_readout", "decode", "--key",
                            "00" * 16, LN666.hex()], capture_output=True, text=True, check=False)
    assert wrong.returncode == 3, wrong.stderr
    assert "00328769" in wrong.stderr


def test_wrong_key_and_missing_key() -> None:
    decoder = WirelessDecoder("00" * 16)
    assert decoder.feed(LN666, final=True) == []
    events = decoder.take_events()
    assert any(e.kind is EventKind.WRONG_KEY for e in events)
    assert not any(LN666_KEY.lower() in str(e).lower() for e in events)
    keyless = WirelessDecoder(None)
    assert keyless.feed(LN666, final=True) == []
    assert any(e.kind is EventKind.KEY_MISSING for e in keyless.take_events())


# ------------------------------------------------------------------ published mode-5 vectors


def test_en13757_table_p1_with_and_without_crcs() -> None:
    assert parse_wmbus(P1_CRC).form == "A"
    assert build_format_a(P1_PLAIN) == P1_CRC
    assert crc_en13757(P1_PLAIN[:10]) == 0x3363
    for wire in (P1_PLAIN, P1_CRC):
        frame = parse_wmbus(wire)
        assert (frame.maker, frame.meter_id, frame.version, frame.medium) == \
            ("ELS", "12345678", 0x33, 0x03)
        iv = mode5_iv(frame.manufacturer, frame.identification, frame.version, frame.medium,
                      frame.payload[0])
        records = parse_records(decrypt_mode5(bytes.fromhex(P1_KEY), iv, frame.payload[4:]))
        assert records[0].value == 28504.27 and records[0].unit == "m³"
        assert records[1].raw == datetime(2008, 5, 31, 23, 50)
        assert records[2].quantity == "error_flags" and records[2].raw == 0


def test_cen_tr_17167_table_f2_long_header_with_crcs() -> None:
    frame = parse_wmbus(F2_CRC)
    assert (frame.form, frame.ci, frame.maker, frame.meter_id) == ("A", 0x72, "QDS", "11223344")
    tpl = frame.payload
    iv = mode5_iv(tpl[4:6], tpl[0:4], tpl[6], tpl[7], tpl[8])
    plain = decrypt_mode5(bytes.fromhex(F2_KEY), iv, tpl[12:28])
    records = parse_records(plain + tpl[28:])
    assert [r.raw for r in records] == [1234, datetime(2007, 4, 30).date(), 23456, 25]
    assert [r.storage for r in records] == [0, 1, 1, 0]
    assert records[3].quantity == "flow_temperature"


def test_extended_link_layer_and_mode_7_are_refused_clearly() -> None:
    decoder = WirelessDecoder(F2_KEY, meter_id="11223344")
    assert decoder.feed(N53_ELL, final=True) == []
    [event] = [e for e in decoder.take_events() if e.kind is EventKind.MALFORMED]
    assert "extended link layer" in str(event) and "0x8C" in str(event)
    mode7 = bytearray(telegram(key=bytes(16), ident="00328769", access=1, moment=MOMENT,
                               serial=1, import_wh=1, export_wh=0, import_w=0, export_w=0))
    mode7[14] = 0x07  # configuration word, high byte: mode 7
    decoder = WirelessDecoder(bytes(16))
    assert decoder.feed(bytes(mode7), final=True) == []
    assert any("mode 7" in str(e) for e in decoder.take_events())


# ------------------------------------------------------------------ link layer


def test_format_b_round_trip_and_crc_errors() -> None:
    short = P1_PLAIN
    long = telegram(key=bytes(16), ident="00328769", access=1, moment=MOMENT, serial=1,
                    import_wh=1, export_wh=0, import_w=0, export_w=0)
    big = bytes((len(long) + 100 - 1,)) + long[1:] + bytes(100)
    for given in (short, long, big[:0x7F + 60]):
        plain = bytes((len(given) - 1,)) + given[1:]
        wire = build_format_b(plain)
        frame = parse_wmbus(wire)
        assert frame.form == "B" and frame.payload == plain[11:]
    broken = bytearray(P1_CRC)
    broken[20] ^= 0x01
    with pytest.raises(WmbusError, match="block 2"):
        parse_wmbus(bytes(broken))
    with pytest.raises(WmbusError, match="cut off"):
        parse_wmbus(P1_PLAIN[:30])


def test_looks_like_telegram() -> None:
    assert looks_like_telegram(LN666) and looks_like_telegram(P1_CRC)
    assert not looks_like_telegram(bytes.fromhex("68050568531001020304a616"))
    assert not looks_like_telegram(bytes.fromhex("7ea0") + bytes(40))


def test_receiver_protocols() -> None:
    assert detect_receiver(frame_for("im871a", P1_PLAIN)) == "im871a"
    assert detect_receiver(frame_for("cul", P1_PLAIN)) == "cul"
    assert detect_receiver(frame_for("rtl_wmbus", P1_PLAIN)) == "rtl_wmbus"
    assert detect_receiver(frame_for("amb8465", P1_PLAIN)) == "amb8465"
    # CMD_SET_MODE_REQ as the public log frames it, with the mode that receives T1 meters
    assert AmberStream().start() == bytes.fromhex("FF040108F2")
    # CMD_DATA_IND as a public AMB8465 log shows it (wmbusmeters issue 1049)
    [heard] = AmberStream().feed(bytes.fromhex(
        "FF031A44E61EBF0743945612B21108541627D7962E502DF12F7068A212DB"))
    assert heard.telegram[:3].hex() == "1a44e6"  # type: ignore[union-attr]
    assert Im871aStream().start().startswith(b"\xa5\x01\x01\x00")
    assert CulStream().start() == b"\r\nX21\r\nbrt\r\n"
    # the HCI CRC as a public iM871A log shows it (wmbusmeters issue 13)
    logged = bytes.fromhex(
        "A5E2034E4401063712048602027A000040057FE1A953DEFF6D2DCF7547BA0E6809F7345D4BF9F1F70C97"
        "F85316E524514AAD96D8B9A70E8460F5BFF6CCF3319476188CA57F5F76F616120015DFA39657E4A6000000"
        "0039693C")
    [heard] = Im871aStream().feed(logged)
    assert heard.telegram[:3].hex() == "4e4401" and heard.rssi == 0x39  # type: ignore[union-attr]
    damaged = bytearray(logged)
    damaged[30] ^= 0xFF
    [broken] = Im871aStream().feed(bytes(damaged))
    assert type(broken).__name__ == "BrokenFrame"


# ------------------------------------------------------------------ plausibility


def test_wrong_exponent_is_flagged_and_read_in_wh() -> None:
    key = bytes(range(16))
    meter = WirelessMeter(key)
    decoder = WirelessDecoder(key)
    first = decoder.feed(meter.next(MOMENT), final=True)
    meter.energy_vif = 0x07  # the meter's fault: x10,000 from one telegram to the next
    second = decoder.feed(meter.next(MOMENT), final=True)
    events = decoder.take_events()
    assert [e.kind for e in events] == [EventKind.IMPLAUSIBLE] * 2  # import and export
    assert "10^4 Wh (VIF 0x07)" in str(events[0]) and "10^0 Wh" in str(events[0])
    before, after = (_values(r[0])["1.0.1.8.0.255"] for r in (first, second))
    assert 0 < after - before < 10  # the digits, read in Wh, keep counting


def test_zero_counters_are_dropped() -> None:
    key = bytes(range(16))
    decoder = WirelessDecoder(key)
    ok = telegram(key=key, ident="00328769", access=1, moment=MOMENT, serial=1,
                  import_wh=5000, export_wh=10, import_w=0, export_w=0)
    zero = telegram(key=key, ident="00328769", access=2, moment=MOMENT, serial=1,
                    import_wh=0, export_wh=0, import_w=0, export_w=0)
    import_zero = telegram(key=key, ident="00328769", access=3, moment=MOMENT, serial=1,
                           import_wh=0, export_wh=10, import_w=0, export_w=0)
    replaced = telegram(key=key, ident="00328769", access=4, moment=MOMENT, serial=1,
                        import_wh=4000, export_wh=10, import_w=0, export_w=0)
    assert len(decoder.feed(ok, final=True)) == 1
    assert decoder.feed(zero, final=True) == []
    assert decoder.feed(import_zero, final=True) == []
    said = [str(e) for e in decoder.take_events() if e.kind is EventKind.IMPLAUSIBLE]
    assert len(said) == 2 and "zero" in said[0] and "fell from 5000 to 0" in said[1]
    # a counter that falls but not to zero (a replaced meter) is the history's to judge
    assert len(decoder.feed(replaced, final=True)) == 1


def _neighbour_then_ours(ours: WirelessMeter | None, cycles: int) -> WirelessDecoder:
    """Cycles of 5 s on the air: the neighbour's electricity meter (00328770, a key of its
    own) first, then ours if it is heard, as a CUL stick hands them over."""
    decoder = WirelessDecoder(LN666_KEY, receiver="cul")
    for _ in range(cycles):
        decoder.feed(frame_for("cul", neighbour_telegram(2, MOMENT, 7)))
        if ours is not None:
            decoder.feed(frame_for("cul", ours.next(MOMENT)))
    return decoder


def test_a_neighbour_heard_first_is_no_wrong_key_verdict() -> None:
    """No radio id: the neighbour's meter heard before ours says nothing about the key."""
    decoder = _neighbour_then_ours(None, 1)
    decoder.feed(frame_for("cul", LN666[:64]))  # ours, a cycle later
    assert not [e for e in decoder.take_events() if e.kind is EventKind.WRONG_KEY]
    assert decoder.refused == {} and decoder.other_meters == 1


def test_ours_present_after_neighbours_is_decoded_without_a_wrong_key() -> None:
    decoder = _neighbour_then_ours(WirelessMeter(bytes.fromhex(LN666_KEY)), 2 * VERDICT_AFTER)
    assert decoder.stats[EventKind.WRONG_KEY] == 0
    assert decoder.others == {"00328770": 2 * VERDICT_AFTER}


def test_ours_absent_neighbours_heard_a_verdict_after_a_few_cycles() -> None:
    """Only a neighbour's electricity meter heard: silence for a few cycles, then a sentence
    that names every meter heard and asks for the radio id, once per telegram after."""
    decoder = _neighbour_then_ours(None, VERDICT_AFTER - 1)
    assert decoder.stats[EventKind.WRONG_KEY] == 0
    decoder.feed(frame_for("cul", neighbour_telegram(2, MOMENT, 9)))
    [said] = [str(e) for e in decoder.take_events() if e.kind is EventKind.WRONG_KEY]
    assert "00328770" in said and "--radio-id" in said and "label" in said
    assert "does not open meter" not in said
    other = WirelessMeter(bytes(16), ident="00328771")  # a second neighbour
    decoder.feed(frame_for("cul", other.next(MOMENT)))
    said = str(decoder.take_events()[-1])
    assert "none of the 2 electricity meters heard (00328770, 00328771)" in said
    assert LN666_KEY not in said


def test_configured_meter_only_and_others_counted() -> None:
    key = bytes(range(16))
    mine = WirelessMeter(key, ident="00328769")
    decoder = WirelessDecoder(key, meter_id="328769")
    got = []
    for number in range(5):
        got += decoder.feed(neighbour_telegram(number, MOMENT, number), final=True)
        got += decoder.feed(mine.next(MOMENT), final=True)
    assert len(got) == 5 and {r.meter.id for r in got} == {"00328769"}
    assert decoder.other_meters == 3
    assert not [e for e in decoder.take_events() if e.kind.problem]


def test_set_up_at_start_and_after_a_reconnect_only() -> None:
    decoder = WirelessDecoder(bytes(16), receiver="im871a")
    setup = decoder.data_to_send()  # the reader opened the port
    assert setup == Im871aStream().start()
    decoder.feed(b"\x00")
    assert decoder.data_to_send() == b""  # after bytes: nothing to answer
    assert decoder.data_to_send() == setup  # opened again (a replugged stick)
    auto = WirelessDecoder(bytes(16), receiver="auto")
    assert auto.data_to_send() == AmberStream().start()  # an Amber hears nothing before
    assert auto.data_to_send() == b""
    auto.feed(frame_for("cul", P1_PLAIN))
    assert auto.detected_receiver == "cul" and auto.data_to_send() == CulStream().start()
    auto.feed(frame_for("cul", P1_PLAIN))
    assert auto.data_to_send() == b""


def test_noise_and_mutations_never_raise_nor_show_the_key() -> None:
    """Random bytes and damaged telegrams in every framing: events, never an exception."""
    import random

    rng = random.Random(24)
    key = bytes(range(16))
    good = telegram(key=key, ident="00328769", access=1, moment=MOMENT, serial=1,
                    import_wh=100, export_wh=0, import_w=0, export_w=0)
    for receiver in ("im871a", "amb8465", "cul", "rtl_wmbus", "telegram", "auto"):
        decoder = WirelessDecoder(key, receiver=receiver)
        for _ in range(300):
            wire = bytearray(frame_for("cul" if receiver == "auto" else receiver, good))
            for _ in range(rng.randrange(1, 4)):
                wire[rng.randrange(len(wire))] = rng.randrange(256)
            noise = rng.randbytes(rng.randrange(0, 40))
            decoder.feed(noise + bytes(wire), final=rng.random() < 0.1)
        for event in decoder.take_events():
            assert key.hex() not in str(event).lower()


def test_the_amber_simulator_hears_t1_meters_only_in_mode_t2_other(tmp_path: Path) -> None:
    """An AMB8465 hears nothing before it is set up, nor in mode 0x05 (T1-Meter, the meter's
    side); set to 0x08 (T2-Other) it hands over the T1 meters' telegrams."""
    import asyncio
    import os
    import termios

    from smartmeter_readout.link.receivers import (
        AMBER_MODE_T1_METER,
        AMBER_SET_MODE,
        Heard,
        amber_frame,
    )
    from smartmeter_readout.sim.radio import RadioStick

    async def scene() -> tuple[RadioStick, bytes]:
        stick = RadioStick("amb8465", bytes.fromhex(LN666_KEY), link=tmp_path / "tty",
                           interval=0.01)
        side = os.open(stick.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        attributes = termios.tcgetattr(side)
        attributes[4] = attributes[5] = termios.B9600  # the AMB8465's rate
        termios.tcsetattr(side, termios.TCSANOW, attributes)

        async def set_mode(mode: int) -> None:
            os.write(side, amber_frame(AMBER_SET_MODE, bytes((mode,))))
            for _ in range(500):  # until the stick has taken the command
                stick._answer()
                if stick.modes[-1:] == [mode]:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the stick did not take the command")

        try:
            await stick.run(count=3)
            assert (stick.sent, stick.neighbours) == (0, 0)
            await set_mode(AMBER_MODE_T1_METER)
            await stick.run(count=3)
            assert (stick.sent, stick.neighbours) == (0, 0)
            await set_mode(AmberStream().start()[3])
            await stick.run(count=3)
            out = b""
            for _ in range(500):  # until all that was sent has come through the pty
                try:
                    out += os.read(side, 4096)
                except BlockingIOError:
                    if len(_heard(out)) == 3 + stick.neighbours:
                        break
                    await asyncio.sleep(0.01)
            return stick, out
        finally:
            os.close(side)
            stick.close()

    def _heard(out: bytes) -> list[Heard]:
        return [item for item in AmberStream().feed(out) if isinstance(item, Heard)]

    stick, out = asyncio.run(scene())
    assert stick.modes == [0x05, 0x08] and stick.sent == 3
    heard = _heard(out)
    ours = [item for item in heard if item.telegram[4:8] == bytes.fromhex("69873200")]
    assert len(ours) == 3 and len(heard) == 3 + stick.neighbours


def test_each_receiver_at_its_own_rate() -> None:
    """A named stick is opened at its rate (iM871A 57600, CUL 38400, AMB8465 9600), a rate
    given wins, and without a name each receiver's rate is tried in turn."""
    from smartmeter_readout.operators import SerialSettings
    from smartmeter_readout.sources.receiver import ReceiverSearch, for_receiver
    from smartmeter_readout.sources.serial import SerialConnector

    def rates(receiver: str, baud: str = "auto") -> list[int]:
        port = SerialConnector("/dev/null", (SerialSettings(57600),))
        connector = for_receiver(port, receiver, baud)
        if isinstance(connector, ReceiverSearch):
            return [settings.baud for settings in connector.candidates]
        return [settings.baud for settings in connector.settings]

    assert rates("im871a") == [57600] and rates("cul") == [38400]
    assert rates("amb8465") == [9600] and rates("auto") == [57600, 38400, 9600]
    assert rates("cul", "57600") == [57600]  # as given (the preset's settings stay)


def test_the_simulated_meter_keeps_viennas_wall_time(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine that runs in UTC the simulated meter's clock is still Vienna's local
    time (the decoder reads it as such): its telegram's time is now, not an hour off."""
    import asyncio
    import os
    import time
    from datetime import UTC, timedelta

    from smartmeter_readout.sim.radio import RadioStick

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()

    async def scene() -> bytes:
        stick = RadioStick("rtl_wmbus", bytes.fromhex(LN666_KEY), link=tmp_path / "tty",
                           interval=0.01)
        side = os.open(stick.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            await stick.run(count=1)
            out = b""
            for _ in range(500):  # until the line has come through the pty
                try:
                    out += os.read(side, 4096)
                except BlockingIOError:
                    if out.endswith(b"\n") and b"69873200" in out:
                        break
                    await asyncio.sleep(0.01)
            return out
        finally:
            os.close(side)
            stick.close()

    try:
        out = asyncio.run(scene())
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    decoder = WirelessDecoder(LN666_KEY, receiver="rtl_wmbus", meter_id="00328769")
    [reading] = decoder.feed(out, final=True)
    assert reading.meter_time
    assert abs(reading.time - datetime.now(UTC)) < timedelta(minutes=2)


def test_doctor_counts_the_other_meters_over_a_cycle_of_ours() -> None:
    """doctor listens on after our meter's first telegram until its next, so the others
    heard in between are counted (it said "0 other meters" where read counted 2), and one
    is "1 other meter"."""
    import asyncio

    from smartmeter_readout.capture.format import Chunk
    from smartmeter_readout.live.radio_doctor import diagnose_radio
    from smartmeter_readout.operators import SerialSettings

    meter = WirelessMeter(bytes.fromhex(LN666_KEY))

    def line(plain: bytes) -> bytes:
        return frame_for("rtl_wmbus", plain)

    class Air:  # the connector, and the connection it opens
        name = "/dev/ttyRADIO"
        settings = (SerialSettings(57600),)
        readout = None

        def __init__(self, others: list[int]) -> None:
            self.chunks = [line(meter.next(MOMENT))]
            self.chunks += [line(neighbour_telegram(index, MOMENT, 1)) for index in others]
            self.chunks.append(line(meter.next(MOMENT)))

        async def open(self, settings: SerialSettings | None = None) -> Air:
            self.settings = settings  # type: ignore[assignment]  # a connection's: one
            return self

        async def read(self, timeout: float) -> Chunk:
            return Chunk(None, self.chunks.pop(0) if self.chunks else b"")

        def write(self, data: bytes) -> None:
            pass

        async def close(self) -> None:
            pass

    for others, said in (([0, 1], "also hears 2 other meters."),
                         ([1], "also hears 1 other meter.")):
        decoder = WirelessDecoder(LN666_KEY, receiver="rtl_wmbus")
        lines: list[str] = []
        found = asyncio.run(diagnose_radio(Air(others), decoder, timeout=30, say=lines.append))
        assert said in found.sentence, found.sentence
        assert "baud = 57600" in found.config
