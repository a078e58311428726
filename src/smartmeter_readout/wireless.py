"""The decoder for wireless M-Bus (LINZ NETZ): a receiver's bytes in, Readings out (sans I/O).

    receiver stream      the stick's framing (iM871A HCI, culfw lines, rtl_wmbus lines, bare)
      link.wmbus         L C M A, CRCs of format A or B checked and removed
        oms.telegram     CI 0x7A short / 0x72 long transport header
          oms.security   OMS mode 5 (AES-128-CBC); mode 7, ELL and AFL are refused
            oms.records  EN 13757-3 data records -> OBIS-keyed values

A receiver hears every meter around. With ``meter_id`` only that meter is read; without,
the first electricity meter whose telegrams the key opens is taken as ours. Either way the
others are counted (``others``), never decoded or reported as wrong keys. Without
``meter_id`` a telegram the key does not open may be a neighbour's heard before ours: no
wrong-key verdict until one of the electricity meters heard has sent ``VERDICT_AFTER``
telegrams (that many cycles of 5 s) and none opened, and then it names them all (or at the
end of a one-shot input).

Two faults of real meters are caught here (LINZ NETZ's document LN-666 specifies the energy
counters in Wh): an energy record sent with another exponent (VIF ``0E07``, x10,000, from
one telegram to the next while the digits keep counting) is read with the exponent the
meter normally uses, and reported; a telegram whose energy counters are all zero, or one
of them zero after it counted, is dropped and reported.

A subclass of ``Decoder``: the same face (``feed``, ``take_events``, ``stats``,
``data_to_send`` for the stick's set-up commands) for the live reader and the commands.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from .decoder import Decoder
from .errors import DecodeError, DecryptionError, KeyMissingError, LayoutError, SmartMeterError
from .events import EventKind
from .link.frames import BrokenFrame, Garbage
from .link.receivers import Heard, ReceiverStream, make_stream
from .link.wmbus import WmbusError, WmbusFrame, parse_wmbus, strip_crcs
from .message import N_, Message
from .oms.records import Record, RecordError, parse_records
from .oms.security import MODE_5, decrypt_mode5, mode5_iv
from .oms.telegram import (
    EXTENDED_LAYERS,
    NO_HEADER,
    SHORT,
    Header,
    parse_header,
    short_header,
    values_of,
)
from .reading import Measurement, MeterIdentity, Reading

__all__ = ["VERDICT_AFTER", "WIRED_MAKERS_WH", "WirelessDecoder", "looks_like_telegram"]

ELECTRICITY = 0x02
MODE_7 = 7
#: makers whose interface description fixes the energy unit to Wh (LN-666: DEV)
WIRED_MAKERS_WH = frozenset(("DEV",))
_SEND_CONTROLS = frozenset((0x44, 0x46, 0x08, 0x06))  # SND_NR, SND_IR, RSP_UD, ...
_ENERGY = ("1.0.1.8.0.255", "1.0.2.8.0.255")
_MAX_OTHERS = 256
#: telegrams of one electricity meter the key does not open, heard before a wrong-key verdict
#: without a radio id (ours sends in each of these cycles, unless it is not heard at all)
VERDICT_AFTER = 3
_IDS_SAID = 6  # meters named in the verdict


def looks_like_telegram(data: bytes) -> bool:
    """Is ``data`` one wireless M-Bus telegram (a hex string given to ``decode``)?"""
    if len(data) < 12 or data[1] not in _SEND_CONTROLS:
        return False
    try:
        _plain, form, extra = strip_crcs(data)
    except WmbusError:
        return False
    return form != "plain" or extra <= 2


class WirelessDecoder(Decoder):
    """Incremental decoder of a wireless M-Bus receiver's output (see the module)."""

    def __init__(self, key: str | bytes | None = None, *, receiver: str = "telegram",
                 meter_id: str | None = None, timezone: str | tzinfo = "Europe/Vienna",
                 max_events: int = 256) -> None:
        super().__init__(key, None, timezone=timezone, max_events=max_events)
        self._stream: ReceiverStream = make_stream(receiver)
        self.receiver = receiver
        self._setup_sent = False
        self._fed = False  # bytes fed since data_to_send was last asked
        self.meter_id = meter_id.strip().upper().zfill(8) if meter_id else None
        self._ours: str | None = self.meter_id
        #: telegrams of the other meters heard, by their identification number
        self.others: dict[str, int] = {}
        self._meters: dict[str, MeterIdentity] = {}
        self._exponents: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._said: set[str] = set()
        #: electricity meters the key did not open (no radio id, none decoded yet): telegrams
        self.refused: dict[str, int] = {}

    @classmethod
    def like(cls, decoder: Decoder, *, receiver: str = "telegram",
             meter_id: str | None = None) -> WirelessDecoder:
        """A wireless decoder with the key and time zone ``decoder`` was made with."""
        made = cls(None, receiver=receiver, meter_id=meter_id, timezone=decoder._tz)
        made._secret = decoder._secret
        return made

    @property
    def has_key(self) -> bool:
        return self._secret is not None

    def data_to_send(self) -> bytes:
        """The stick's set-up (mode T1): first, and again when asked twice with no bytes fed
        in between (the reader asks as it opens the port: a replugged stick forgot its
        mode); with ``auto`` once the stick is known. Else nothing: a meter is never asked."""
        opened = not self._fed
        self._fed = False
        if self._setup_sent and not opened:
            return b""
        out = self._stream.start()
        self._setup_sent = self.receiver != "auto" or self.detected_receiver is not None
        return out

    @property
    def detected_receiver(self) -> str | None:
        """The receiver named, or the one ``auto`` recognised (None: not yet)."""
        return getattr(self._stream, "detected", self.receiver)

    def feed(self, data: bytes | bytearray | memoryview, *, received: datetime | None = None,
             final: bool = False) -> list[Reading]:
        readings: list[Reading] = []
        self._fed = self._fed or bool(data)
        for item in self._stream.feed(bytes(data), final):
            match item:
                case Heard():
                    reading = self._telegram(item, received)
                    if reading is not None:
                        self._ok += 1
                        readings.append(reading)
                case Garbage(size):
                    self._note(EventKind.GARBAGE, Message(N_(
                        "skipped 1 byte that belongs to no frame") if size == 1 else N_(
                        "skipped {size} bytes that belong to no frame"), size=size), None, size)
                case BrokenFrame(framing, reason):
                    self._note(EventKind.BAD_FRAME, Message(N_(
                        "broken {framing} frame: {reason}"), framing=framing,
                        reason=Message(reason)), framing)
        if final and self.refused and self._ours is None and \
                max(self.refused.values()) < VERDICT_AFTER:  # a one-shot input: no more cycles
            self._refused_verdict()
        return readings

    @property
    def other_meters(self) -> int:
        return len(self.others)

    # ------------------------------------------------------------ one telegram

    def _telegram(self, heard: Heard, received: datetime | None) -> Reading | None:
        try:
            frame = parse_wmbus(heard.telegram)
        except WmbusError as exc:
            self._note(EventKind.BAD_FRAME, Message(N_("broken {framing} frame: {reason}"),
                                                    framing="wmbus", reason=exc.message),
                       "wmbus")
            return None
        ident = frame.meter_id
        if self._ours is not None and ident != self._ours:
            self._other(ident)
            return None
        if self._ours is None and frame.medium != ELECTRICITY:
            self._other(ident)
            return None
        seen = self.seen
        seen["framing"] = "wmbus"
        seen["receiver"] = self.detected_receiver
        if heard.rssi is not None:
            seen["rssi"] = heard.rssi
        if frame.extra:
            self._note(EventKind.GARBAGE, Message(N_(
                "the telegram carries 1 byte more than its L field says: ignored")
                if frame.extra == 1 else N_(
                "the telegram carries {count} bytes more than its L field says: ignored"),
                count=frame.extra), "wmbus", frame.extra)
        try:
            header, records = self._open(frame)
        except DecryptionError as exc:
            if self._ours is None:  # ours, or a neighbour's heard before ours: wait and see
                self._refuse(ident)
                return None
            self._note(exc.kind, exc.message, "wmbus")
            return None
        except SmartMeterError as exc:
            self._note(exc.kind, exc.message, "wmbus")
            return None
        self._ours = ident
        for refused in self.refused:  # the key opens ours: those were the neighbours'
            self._other(refused)
        self.refused.clear()
        seen["maker"] = frame.maker
        seen["meter_id"] = ident
        return self._wireless_reading(frame, header, records, received)

    def _refuse(self, ident: str) -> None:
        """A telegram the key does not open, without a radio id: a verdict once a meter has
        sent a few, and at each telegram after (the live reader counts key failures)."""
        refused = self.refused
        if ident in refused or len(refused) < _MAX_OTHERS:
            refused[ident] = refused.get(ident, 0) + 1
        if max(refused.values()) >= VERDICT_AFTER:
            self._refused_verdict()

    def _refused_verdict(self) -> None:
        ids = sorted(self.refused, key=lambda ident: -self.refused[ident])
        named = ", ".join(ids[:_IDS_SAID]) + (", ..." if len(ids) > _IDS_SAID else "")
        if len(ids) == 1:
            message = Message(N_(
                "the key does not open the one electricity meter heard ({ids}): if it is "
                "yours, check the key (LINZ NETZ: the access code in the customer portal, once "
                "the customer interface is switched on); if not, yours is not heard. Give "
                "--radio-id from the meter's label to tell"), ids=named)
        else:
            message = Message(N_(
                "the key opens none of the {count} electricity meters heard ({ids}): give "
                "--radio-id from your meter's label; if yours is among them, check the key "
                "(LINZ NETZ: the access code in the customer portal, once the customer "
                "interface is switched on)"), count=len(ids), ids=named)
        self._note(EventKind.WRONG_KEY, message, "wmbus")

    def _other(self, ident: str) -> None:
        others = self.others
        if ident in others or len(others) < _MAX_OTHERS:
            others[ident] = others.get(ident, 0) + 1

    def _open(self, frame: WmbusFrame) -> tuple[Header, list[Record]]:
        """Transport header, decryption and records of one telegram."""
        ci = frame.ci
        if ci == SHORT:
            header, body = short_header(frame.payload, frame.manufacturer, frame.identification,
                                        frame.version, frame.medium)
        elif ci in (0x72, 0x5B):
            header, body = parse_header(ci, frame.payload)
        elif ci == NO_HEADER:
            header = Header(frame.identification, frame.manufacturer, frame.version,
                            frame.medium, 0, 0, 0)
            body = frame.payload
        elif ci in EXTENDED_LAYERS:
            raise DecodeError(N_("the telegram has an {layer} (CI 0x{ci:02X}): not read; "
                                 "LINZ NETZ's meters send none"), layer=EXTENDED_LAYERS[ci],
                              ci=ci)
        else:
            raise DecodeError(N_("wireless M-Bus CI 0x{ci:02X} carries no data records this "
                                 "reader reads (0x7A, 0x72 and 0x78 are read)"), ci=ci)
        tail = b""
        if header.mode == MODE_5:
            if self._secret is None:
                raise KeyMissingError(N_(
                    "the meter encrypts its data (OMS mode 5): give its key (--key; LINZ NETZ: "
                    "the access code of the customer portal)"))
            size = 16 * header.blocks if header.blocks else len(body) - len(body) % 16
            iv = mode5_iv(header.manufacturer, header.identification, header.version,
                          header.medium, header.access)
            try:
                plain = decrypt_mode5(self._secret, iv, body[:size])
            except DecryptionError:
                raise DecryptionError(N_(
                    "the key does not open meter {meter}'s telegrams (no 2F 2F after "
                    "decryption): check the key (LINZ NETZ: the access code in the customer "
                    "portal, once the customer interface is switched on)"),
                    meter=frame.meter_id) from None
            body, tail = plain, body[size:]
        elif header.mode == MODE_7:
            raise DecodeError(N_("OMS security mode 7 (AES-CBC with a derived key) is not "
                                 "read: LINZ NETZ's meters use mode 5"))
        elif header.mode:
            raise DecodeError(N_("OMS security mode {mode} is not supported (mode 5 is, "
                                 "AES-CBC)"), mode=header.mode)
        records = parse_records(body)
        if tail:
            try:
                records += parse_records(tail)
            except RecordError:
                self._note(EventKind.GARBAGE, Message(N_(
                    "1 byte after the encrypted part is no data record: ignored")
                    if len(tail) == 1 else N_(
                    "{count} bytes after the encrypted part are no data records: ignored"),
                    count=len(tail)), "wmbus", len(tail))
        return header, records

    def _wireless_reading(self, frame: WmbusFrame, header: Header, records: list[Record],
                 received: datetime | None) -> Reading | None:
        maker = frame.maker
        records = [self._exponent(record, maker, frame.meter_id) for record in records]
        values, clock, _unknown = values_of(records, maker, self._tz)
        try:
            if not any(code != "0.0.1.0.0.255" for code in values):
                raise LayoutError(N_("the telegram's records hold no value this reader "
                                     "knows: please report it with a capture (record --redact)"))
            self._counters(values, frame.meter_id)
        except SmartMeterError as exc:
            self._note(exc.kind, exc.message, "wmbus")
            return None
        meter = self._meters.get(frame.meter_id)
        if meter is None:
            meter = MeterIdentity(frame.address.hex().upper(), maker, frame.meter_id)
            if len(self._meters) < _MAX_OTHERS:
                self._meters[frame.meter_id] = meter
        return Reading(time=clock or received, received=received, meter=meter,
                       frame_counter=header.access, values=values, layout="G",
                       security="encrypted" if header.mode else "none",
                       meter_time=clock is not None)

    def _exponent(self, record: Record, maker: str, ident: str) -> Record:
        """An energy counter whose exponent jumped: read with the usual one, and say so."""
        if record.quantity != "energy" or record.unit != "Wh" or record.function != \
                "instantaneous":
            return record
        slot = f"{ident}/{int(record.backward)}/{record.tariff}/{record.storage}"
        usual = 0 if maker in WIRED_MAKERS_WH else self._exponents.setdefault(slot,
                                                                             record.exponent)
        if record.exponent == usual:
            return record
        said = f"{slot}/{record.exponent}"
        if said not in self._said:  # said once for each wrong exponent, counted always
            self._said.add(said)
            self._note(EventKind.IMPLAUSIBLE, Message(N_(
                "meter {meter} sent an energy counter as 10^{got} Wh (VIF 0x{vif}) where it "
                "counts in 10^{usual} Wh: read in 10^{usual} Wh"), meter=ident,
                got=record.exponent, vif=record.vif.hex().upper(), usual=usual), "wmbus")
        else:
            self._counts[EventKind.IMPLAUSIBLE] += 1
        return replace(record, exponent=usual)

    def _counters(self, values: dict[str, Measurement], ident: str) -> None:
        """All-zero energy counters, or one that fell to zero: the telegram is dropped. (A
        counter that falls otherwise is kept: a replaced meter does that, and the history
        tells it apart; a zero is what the faulty telegrams carry.)"""
        present = [code for code in _ENERGY if code in values]
        numbers = {code: values[code].value for code in present}
        if present and all(numbers[code] == 0 for code in present):
            raise _Implausible(N_("meter {meter} sent all its energy counters as zero: "
                                  "telegram dropped"), meter=ident)
        for code in present:
            last = self._last.get(f"{ident}/{code}")
            if numbers[code] == 0 and last:
                raise _Implausible(N_("meter {meter}'s counter {code} fell from {last} to "
                                      "{value}: telegram dropped"), meter=ident, code=code,
                                   last=last, value=0)
        for code in present:
            value = numbers[code]
            if isinstance(value, int | float):
                self._last[f"{ident}/{code}"] = value


class _Implausible(SmartMeterError):
    kind = EventKind.IMPLAUSIBLE

