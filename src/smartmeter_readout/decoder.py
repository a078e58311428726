"""The core's face: bytes in, Readings out (sans I/O, after h11's model).

``Decoder.feed(data)`` accepts bytes in pieces of any size and returns the readings of the
pushes completed by them; ``feed(data, final=True)`` says the input ends there (a capture, a
file: a live line never ends), so nothing stays held back waiting for bytes that never come.
The path of a push:

    FrameSplitter           bytes -> checked link frames (M-Bus, HDLC, bare APDU, DSMR text)
    reassembly              M-Bus segments by CI, HDLC segments by the S bit, GBT blocks
    security                DB/DC ciphered APDU -> plaintext (tag checked with an auth key)
    apdu / dsmr             data-notification -> A-XDR tree, or a DSMR telegram
    cosem.layouts           tree -> OBIS-keyed, scaled values, clock, meter identity

Nothing on the wire makes ``feed`` raise: problems are counted in ``stats`` and kept as
``Event`` values (``take_events()``). The decoder reads no clock: the caller passes the
receive time, which becomes the reading's time when the meter sends none.
"""

from __future__ import annotations

import functools
import hmac
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .cosem.dsmr import parse_telegram
from .cosem.energy_scale import EnergyScale
from .cosem.layouts import Body, PositionalLayout, interpret, untagged_body
from .cosem.plausibility import PlausibilityCheck
from .cosem.template import BodyTemplate
from .dlms.apdu import (
    DATA_NOTIFICATION,
    GENERAL_BLOCK_TRANSFER,
    LLC_HEADERS,
    body_start,
    following_notifications,
    parse_gbt_block,
    parse_notification,
)
from .dlms.bare import BARE_APDU_PARSERS
from .dlms.cosem_time import decode_datetime
from .dlms.security import (
    AUTHENTICATED,
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
    TAG_SIZE,
    CipheredApdu,
    parse_ciphered,
    unprotect,
)
from .dlms.untagged import looks_untagged, parse_untagged
from .errors import (
    AuthenticationError,
    DecodeError,
    DecryptionError,
    FrameError,
    KeyMissingError,
    LayoutError,
    SmartMeterError,
)
from .events import DecoderStats, Event, EventKind
from .keys import parse_key
from .link.frames import (
    BrokenFrame,
    CutShortFrame,
    DsmrTelegram,
    Garbage,
    HdlcFrame,
    MbusSegment,
    MbusShort,
    MbusTelegram,
    RawApdu,
)
from .link.mbus import PushShape
from .link.splitter import FrameSplitter
from .message import N_, Message
from .oms.records import parse_records
from .oms.security import MODE_5, decrypt_mode5, mode5_iv
from .oms.telegram import parse_header, values_of
from .reading import MeterIdentity, Reading

__all__ = ["Decoder", "decode"]

_DSMR_START = 0x2F
#: a reading is checked against physics when its body shape is new, while checks fail, and
#: else every CHECK_EVERY pushes (the check costs ~3 us, a push ~25 us on the fast path)
CHECK_EVERY = 64


def _plausible(plaintext: bytes) -> bool:
    """Is this decrypted text an APDU at all? A wrong key gives random bytes instead."""
    if not plaintext:
        return False
    first = plaintext[0]
    if first == DATA_NOTIFICATION:
        return len(plaintext) > 6 and plaintext[5] in (0x00, 0x09, 0x0C)
    if first == _DSMR_START:
        return plaintext[1:4].isalpha()
    return False


@functools.lru_cache(maxsize=16)
def _maker(system_title: bytes) -> str | None:
    prefix = system_title[:3]
    if len(prefix) == 3 and all(0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A for byte in prefix):
        return prefix.decode("ascii")
    return None


_new = tuple.__new__  # a named tuple without its Python __new__ (once per push)
_ACK = b"\xe5"  # M-Bus single character acknowledgement
_SND_NKE, _SND_UD = 0x40, 0x53  # control fields without the frame count bit (0x20)

class Decoder:
    """Incremental decoder of meter pushes.

    ``key`` / ``auth_key``: AES-128 keys as hex in any common spelling, or bytes; ``None``
    for meters that do not encrypt. With ``auth_key`` the GCM tag of every authenticated
    push is verified and a mismatch rejected; without it the tag is not checked (counted as
    ``tag_unchecked``). ``timezone`` reads meter clocks that carry no UTC deviation.
    ``layouts`` adds user-described positional layouts, tried before the built-in ones.
    """

    def __init__(self, key: str | bytes | None = None, auth_key: str | bytes | None = None, *,
                 timezone: str | tzinfo = "Europe/Vienna",
                 layouts: Sequence[PositionalLayout] = (), max_events: int = 256) -> None:
        secret = parse_key(key)
        self._cipher = AESGCM(secret) if secret is not None else None
        self._secret = secret  # AMIS meters encrypt with AES-CBC (oms.security)
        self._to_send = bytearray()
        self._received: datetime | None = None  # when the last bytes were fed
        #: M-Bus link resets seen (an AMIS repeats them until it hears an acknowledgement)
        self.link_resets = 0
        #: the meter's number where its telegrams leave it out and the caller learned it
        #: another way (the AMIS answers it over IEC 62056-21)
        self.meter_number: str | None = None
        self._auth_key = parse_key(auth_key, what=N_("authentication key"))
        self._tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._layouts = tuple(layouts)
        self._splitter = FrameSplitter(unframed=BARE_APDU_PARSERS)
        self._mbus_parts: list[bytes] | None = None
        self._shape: PushShape | None = None  # the M-Bus frames of the last push
        self._title = (b"", "")  # the last system title, as bytes and as hex text
        #: the head (up to the security control) and size of the last ciphered push that the
        #: template decoded: the next one like it takes ``_lane_reading``
        self._lane: tuple[bytes, int] | None = None
        self._hdlc_parts: list[bytes] | None = None
        self._gbt_parts: list[bytes] | None = None
        self._meter: MeterIdentity | None = None
        self._template: BodyTemplate | None = None
        self._events: deque[Event] = deque(maxlen=max_events)
        self._plausibility = PlausibilityCheck()
        #: energy counters against the integral of their power, over time (per meter)
        self._scale = EnergyScale(lambda said: self._note(EventKind.IMPLAUSIBLE, said, None))
        self._until_check = 0
        self._implausible: tuple[str, ...] = ()  # what the last event said
        self._ok = 0  # pushes decoded
        self._counts: Counter[EventKind] = Counter()
        #: what the last intact frame looked like: framing, maker, security control ...
        self.seen: dict[str, object] = {}

    def __repr__(self) -> str:  # never show the keys
        return (f"Decoder(key={'set' if self._cipher else None}, "
                f"auth_key={'set' if self._auth_key else None}, ok={self._ok}, "
                f"events={dict(self._counts)})")

    @property
    def has_key(self) -> bool:
        return self._cipher is not None

    @property
    def stats(self) -> DecoderStats:
        """A frozen snapshot of what this decoder has counted."""
        return DecoderStats(self._ok, dict(self._counts))

    @property
    def pushes_ok(self) -> int:
        """Pushes decoded so far (cheap: the live reader asks after every chunk)."""
        return self._ok

    @property
    def wanted(self) -> int:
        """Bytes the frame under way still lacks by its length field; 0 when none is under
        way or its length is not known yet. A reader of a slow line need not look before
        they can be there (a 2400-baud push arrives in some 80 pieces)."""
        return self._splitter.wanted

    def take_events(self) -> list[Event]:
        """Return and forget the events since the last call (oldest first)."""
        if not self._events:
            return []  # the common answer, asked after every chunk
        events = list(self._events)
        self._events.clear()
        return events

    def data_to_send(self) -> bytes:
        """The bytes the reader must send back to the meter, now (taken, so asked once): an
        AMIS meter wants ``E5`` after each of its frames and stops without. The core writes
        nothing itself; the live reader writes these to the port."""
        if not self._to_send:
            return b""
        out = bytes(self._to_send)
        self._to_send.clear()
        return out

    def feed(self, data: bytes | bytearray | memoryview, *, received: datetime | None = None,
             final: bool = False) -> list[Reading]:
        """The readings of the pushes ``data`` completes, received at ``received``.

        ``final``: the input ends with ``data`` (as in Python's incremental codecs). What
        waited to see the next bytes is judged now: a bare APDU whose last byte might have
        begun the next header is decoded, a frame or push the input cut off is reported
        (``cut_short``). Without ``received`` the end keeps the time of the last bytes fed.
        A live stream needs no end: the next bytes release what is held. A decoder fed after
        its end reads a new input.
        """
        if data:
            self._received = received
            shape = self._shape
            if shape is not None and self._mbus_parts is None:
                apdu = shape.payload(data)
                # a push like the last: the splitter has nothing to do (if it holds nothing)
                if apdu is not None and self._splitter.taken(len(data)):
                    readings = self._push(apdu, "mbus", received, [])
                    return self._scale.follow(readings) if readings else readings
        elif final and received is None:
            received = self._received
        readings = []
        shape_possible = bool(data) and not self._splitter.pending and self._mbus_parts is None
        for frame in self._splitter.feed(data, final=final):
            apdu = None
            match frame:
                case MbusSegment():
                    apdu, framing = self._on_mbus(frame), "mbus"
                case MbusShort(control):
                    if control & 0xDF == _SND_NKE:
                        self._to_send += _ACK
                        self.link_resets += 1
                case MbusTelegram(control):
                    if control & 0xDF == _SND_UD:
                        self._to_send += _ACK
                    reading = self._on_telegram(frame, received)
                    if reading is not None:
                        self._take(reading, "mbus", readings)
                case HdlcFrame():
                    apdu, framing = self._on_hdlc(frame), "hdlc"
                case RawApdu(payload):
                    apdu, framing = payload, "apdu"
                case DsmrTelegram(payload):
                    apdu, framing = payload, "dsmr"
                case Garbage(size):
                    self._interrupted()
                    self._note(EventKind.GARBAGE, Message(N_(
                        "skipped {size} bytes that belong to no frame"), size=size), None, size)
                case CutShortFrame(framing_name, size, at_end):
                    self._interrupted()
                    self._note(EventKind.CUT_SHORT, Message(N_(
                        "{framing} frame cut short after {size} bytes: the input ends inside "
                        "it") if at_end else N_(
                        "{framing} frame cut short after {size} bytes: the next frame began "
                        "inside it"), framing=framing_name, size=size), framing_name)
                case BrokenFrame(framing_name, reason):
                    self._interrupted()
                    self._note(EventKind.BAD_FRAME, Message(N_(
                        "broken {framing} frame: {reason}"), framing=framing_name,
                        reason=reason if isinstance(reason, Message) else Message(reason)),
                        framing_name)
            if type(frame) is not MbusSegment:
                shape_possible = False
            if apdu is not None:
                self._push(apdu, framing, received, readings)
        if shape_possible and readings and not self._splitter.pending:
            # the whole input was one M-Bus push: check the next one against its shape
            self._shape = PushShape.of(data)
        if final and (self._mbus_parts or self._hdlc_parts or self._gbt_parts):
            self._mbus_parts = self._hdlc_parts = self._gbt_parts = None
            self._note(EventKind.CUT_SHORT, Message(N_(
                "the input ends between the segments of a push: push dropped")), None)
        return self._scale.follow(readings) if readings else readings

    def _push(self, apdu: bytes, framing: str, received: datetime | None,
              readings: list[Reading]) -> list[Reading]:
        """The readings of a push's whole APDU, appended to ``readings``; problems noted."""
        self.seen["framing"] = framing
        lane = self._lane
        if lane is not None and len(apdu) == lane[1] and apdu.startswith(lane[0]):
            reading = self._lane_reading(apdu, lane[0], received)
            if reading is not None:
                self._take(reading, framing, readings)
                return readings
        try:
            got = self._on_apdu(apdu, received)
        except SmartMeterError as exc:
            self._note(exc.kind, exc.message, framing)
            return readings
        if got is None:
            return readings
        for one in got if isinstance(got, list) else (got,):
            self._take(one, framing, readings)
        return readings

    def _take(self, reading: Reading, framing: str, readings: list[Reading]) -> None:
        """A decoded push: counted, kept, and checked for plausibility when its turn comes."""
        self._ok += 1
        readings.append(reading)
        self._until_check -= 1
        if self._until_check <= 0:
            self._check(reading, framing)

    def _lane_reading(self, apdu: bytes, head: bytes, received: datetime | None
                      ) -> Reading | None:
        """The reading of a ciphered push whose head (tag, system title, length, security
        control) and size are the last template push's, if its plaintext fits the template:
        ``_on_apdu``'s steps for the pushes of every day, without their general questions
        (the GCM tag is checked as ``dlms.security.unprotect`` checks it). None: the general
        path judges the push (and says what is wrong with it)."""
        template, cipher = self._template, self._cipher
        if template is None or cipher is None:
            return None
        at, sc = len(head), head[-1]
        title, counter = apdu[2:10], apdu[at : at + 4]
        iv = title + counter
        tag = None
        if sc & AUTHENTICATED:
            content, tag = apdu[at + 4 : -TAG_SIZE], apdu[-TAG_SIZE:]
        else:
            content = apdu[at + 4 :]
        plaintext = cipher.encrypt(iv, content, None)[:-16]  # GCM's CTR: see dlms.security
        if tag is not None:
            if self._auth_key is not None:
                expected = cipher.encrypt(iv, plaintext, bytes((sc,)) + self._auth_key)
                if not hmac.compare_digest(expected[-16:][:TAG_SIZE], tag):
                    return None
            elif not self._counts[EventKind.TAG_UNCHECKED]:
                return None  # the general path says once that the tag goes unchecked
        # no _plausible() here: a plaintext the template fits is plausible by construction
        # (its first bytes are the template's constant ones); a wrong key's does not fit
        fast = template.apply(plaintext, self._tz)
        if fast is None:
            return None
        if tag is not None and self._auth_key is None:
            self._counts[EventKind.TAG_UNCHECKED] += 1
        seen = self.seen
        seen["system_title"] = (self._title[1] if title == self._title[0]
                                else self._title_text(title))
        seen["security_control"] = sc
        ciphered = _new(CipheredApdu, (title, sc, int.from_bytes(counter, "big"), content, tag))
        return self._reading(fast[0], fast[1], ciphered, title, received)

    def _on_telegram(self, frame: MbusTelegram, received: datetime | None) -> Reading | None:
        """An EN 13757-3 telegram (Netz OÖ's AMIS): header, OMS mode 5, data records."""
        self.seen["framing"] = "mbus"
        try:
            header, body = parse_header(frame.ci, frame.payload)
            self.seen["maker"] = header.maker
            if header.mode == MODE_5:
                if self._secret is None:
                    raise KeyMissingError(N_("the meter encrypts its data (OMS mode 5): give "
                                             "the key from the Netz OÖ customer portal (--key)"))
                size = 16 * header.blocks
                iv = mode5_iv(header.manufacturer, header.identification, header.version,
                              header.medium, header.access)
                body = decrypt_mode5(self._secret, iv, body[:size]) + body[size:]
            elif header.mode:
                raise DecodeError(N_("OMS security mode {mode} is not supported (mode 5 "
                                     "is, AES-CBC)"), mode=header.mode)
            records = parse_records(body)
            values, clock, _unknown = values_of(records, header.maker, self._tz)
            if not any(code != "0.0.1.0.0.255" for code in values):
                raise LayoutError(N_("the telegram's records hold no value this reader "
                                     "knows: please report it with a capture (record --redact)"))
        except SmartMeterError as exc:
            self._note(exc.kind, exc.message, "mbus")
            return None
        meter = self._meter
        number = header.meter_id or self.meter_number
        if meter is None or meter.manufacturer != header.maker or meter.id != number:
            meter = self._meter = MeterIdentity(None, header.maker, number, None, None)
        return Reading(time=clock or received, received=received, meter=meter,
                       frame_counter=header.access, values=values, layout="G",
                       security="encrypted" if header.mode else "none",
                       meter_time=clock is not None)

    def _check(self, reading: Reading, framing: str) -> None:
        """Check the values against each other; a misfit keeps the values but is reported."""
        findings = self._plausibility.check(reading.values, reading.meter)
        if not findings:
            self._until_check = CHECK_EVERY
            self._implausible = ()
            return
        self._until_check = 0  # check every push until they fit again
        self._template = None  # and decode the long way: a unit calibrated on an odd push
        self._counts[EventKind.IMPLAUSIBLE] += 1
        said = tuple(finding.message for finding in findings)
        if said != self._implausible:
            self._implausible = said
            self._events.append(Event(EventKind.IMPLAUSIBLE, Message(N_(
                "implausible values: {findings}. Please record a push with `record --redact` "
                "and report it."), findings=said), framing))

    # ------------------------------------------------------------ reassembly

    def _interrupted(self) -> None:
        """Noise or a broken frame between the segments of a push: the push is lost.

        The broken frame may have been one of its segments; keeping the others would join
        them with the next push's, and without a tag nothing would notice the mix.
        """
        if self._mbus_parts or self._hdlc_parts or self._gbt_parts:
            self._mbus_parts = self._hdlc_parts = self._gbt_parts = None
            self._note(EventKind.SEGMENT_LOST, Message(N_(
                "noise or a broken frame came between the segments of a push: push dropped")),
                None)

    def _on_mbus(self, segment: MbusSegment) -> bytes | None:
        parts = self._mbus_parts
        if segment.number == 0:
            if parts:
                self._note(EventKind.SEGMENT_LOST, Message(N_(
                    "an M-Bus segment was lost: push dropped")), "mbus")
            parts = self._mbus_parts = [segment.payload]
        elif parts is None or segment.number != len(parts):
            self._mbus_parts = None
            self._note(EventKind.SEGMENT_LOST, Message(N_(
                "M-Bus segment {number} arrived without the ones before it: push dropped"),
                number=segment.number), "mbus")
            return None
        else:
            parts.append(segment.payload)
        if segment.length_overflow:
            self.seen["mbus_length_overflow"] = True
        if not segment.last:
            return None
        self._mbus_parts = None
        return b"".join(parts)

    def _on_hdlc(self, frame: HdlcFrame) -> bytes | None:
        payload = frame.payload
        starts_llc = payload[:3] in LLC_HEADERS
        if self._hdlc_parts is not None and starts_llc:
            self._note(EventKind.SEGMENT_LOST, Message(N_(
                "the last HDLC segment of a push was lost: push dropped")), "hdlc")
            self._hdlc_parts = None
        if self._hdlc_parts is None:
            if starts_llc:
                payload = payload[3:]
            if not frame.segmented:
                return payload
            self._hdlc_parts = [payload]
            return None
        self._hdlc_parts.append(payload)
        if frame.segmented:
            return None
        apdu = b"".join(self._hdlc_parts)
        self._hdlc_parts = None
        return apdu

    def _on_gbt(self, apdu: bytes) -> bytes | None:
        block = parse_gbt_block(apdu)
        if block.number == 1:
            if self._gbt_parts:
                self._note(EventKind.SEGMENT_LOST, Message(N_(
                    "the last block of a General Block Transfer was lost: push dropped")), None)
            self._gbt_parts = [block.data]
        elif self._gbt_parts is None or block.number != len(self._gbt_parts) + 1:
            self._gbt_parts = None
            raise FrameError(N_("General Block Transfer block {number} arrived without the "
                                "ones before it: push dropped"), number=block.number)
        else:
            self._gbt_parts.append(block.data)
        if not block.last:
            return None
        joined = b"".join(self._gbt_parts)
        self._gbt_parts = None
        return joined

    # ------------------------------------------------------------ APDU to Reading

    def _on_apdu(self, apdu: bytes,
                 received: datetime | None) -> Reading | list[Reading] | None:
        """The reading of a push's APDU; a list where it holds several notifications."""
        if not apdu:
            raise DecodeError(N_("empty APDU"))
        if apdu[0] == GENERAL_BLOCK_TRANSFER:
            joined = self._on_gbt(apdu)
            if joined is None:
                return None
            self.seen["block_transfer"] = True
            apdu = joined
            lane = self._lane  # the blocks joined: the lane as for a push in one frame
            if lane is not None and len(apdu) == lane[1] and apdu.startswith(lane[0]):
                reading = self._lane_reading(apdu, lane[0], received)
                if reading is not None:
                    return reading
        ciphered = None
        raw = apdu
        if apdu[0] in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
            ciphered = parse_ciphered(apdu)
            apdu = self._unprotect(ciphered)
        if not apdu:
            raise DecodeError(N_("empty APDU"))
        first = apdu[0]
        if first == DATA_NOTIFICATION:
            title = ciphered.system_title if ciphered else b""
            template = self._template
            fast = template.apply(apdu, self._tz) if template is not None else None
            if fast is not None:
                body, clock = fast
                if ciphered is not None and ciphered.encrypted:
                    # the next push with this head takes the lane (_lane_reading)
                    tail = 4 + len(ciphered.content) + (TAG_SIZE if ciphered.tag else 0)
                    self._lane = (raw[: len(raw) - tail], len(raw))
            else:
                decoded = self._notification(apdu, _maker(title))
                if isinstance(decoded, list):  # several in one frame, each its own reading
                    return [self._reading(body, clock, ciphered, title, received)
                            for body, clock in decoded]
                body, clock = decoded
        elif first == _DSMR_START:
            title = ciphered.system_title if ciphered else b""
            body = parse_telegram(apdu, self._tz)
            clock = None
        else:
            raise DecodeError(N_("APDU type 0x{type:02X} is no push this reader understands"),
                              type=first)
        return self._reading(body, clock, ciphered, title, received)

    def _notification(self, apdu: bytes, maker: str | None
                      ) -> tuple[Body, datetime | None] | list[tuple[Body, datetime | None]]:
        """The long way: parse, recognise the layout, and keep a template for the next.

        Where whole notifications follow the first (a Swiss L+G E450 sends three a minute
        apart in one HDLC frame), each is decoded on its own, in order: a list."""
        try:
            notification, end = parse_notification(apdu)
        except DecodeError:
            start = body_start(apdu)
            if not looks_untagged(apdu, start):
                raise
            entries, _ = parse_untagged(apdu, start)
            clock = decode_datetime(apdu[6:18], self._tz) if start > 6 else None
            return untagged_body(entries, maker=maker, tz=self._tz), clock
        if end != len(apdu):
            parts = following_notifications(apdu, end)
            if parts is None:
                raise DecodeError(N_("{count} unexpected bytes after the notification"),
                                  count=len(apdu) - end)
            return [self._one_notification(part, maker) for part in (apdu[:end], *parts)]
        body = interpret(notification.body, maker=maker, tz=self._tz, custom=self._layouts)
        clock = (decode_datetime(notification.date_time, self._tz)
                 if notification.date_time else None)
        self._template = BodyTemplate.build(apdu, notification, body, notification.body_offset)
        self._until_check = 0  # a new shape: check its first reading
        return body, clock

    def _one_notification(self, apdu: bytes, maker: str | None) -> tuple[Body, datetime | None]:
        """One of several notifications of a frame: the fast path, else the long way."""
        template = self._template
        fast = template.apply(apdu, self._tz) if template is not None else None
        if fast is not None:
            return fast
        decoded = self._notification(apdu, maker)
        if isinstance(decoded, list):  # cannot be: the part was parsed whole
            raise DecodeError(N_("{count} unexpected bytes after the notification"),
                              count=0)
        return decoded

    def _title_text(self, title: bytes) -> str:
        """The system title as hex text, written once while it stays the same."""
        if title != self._title[0]:
            self._title = (title, title.hex().upper())
        return self._title[1]

    def _unprotect(self, ciphered: CipheredApdu) -> bytes:
        seen = self.seen
        title = ciphered.system_title
        seen["system_title"] = (self._title[1] if title == self._title[0]
                                else self._title_text(title))
        seen["security_control"] = ciphered.security_control
        if self._cipher is None and ciphered.encrypted:
            raise KeyMissingError(N_(
                "the push is encrypted and no key was given: pass --key (or set SMARTMETER_KEY)"
                " with the key your grid operator gave you"))
        cipher = self._cipher or AESGCM(bytes(16))
        try:
            plaintext, verified = unprotect(ciphered, cipher, self._auth_key)
        except AuthenticationError:
            plaintext, _ = unprotect(ciphered, cipher, None)
            if _plausible(plaintext):
                raise
            raise DecryptionError(self._wrong_key_message()) from None
        if not _plausible(plaintext):
            raise DecryptionError(self._wrong_key_message())
        if ciphered.tag is not None and not verified:
            if self._counts[EventKind.TAG_UNCHECKED] == 0:
                self._note(EventKind.TAG_UNCHECKED, Message(N_(
                    "the push carries an authentication tag that is not checked: give the "
                    "authentication key (--auth-key) to verify it")), None)
            else:
                self._counts[EventKind.TAG_UNCHECKED] += 1
        return plaintext

    @staticmethod
    def _wrong_key_message() -> str:
        return N_("decryption gives no valid data: the key is wrong (check it against the one "
                  "from your grid operator's portal or letter)")

    def _reading(self, body: Body, clock: datetime | None, ciphered: CipheredApdu | None,
                 title: bytes, received: datetime | None) -> Reading:
        meter = self._meter
        system_title = (self._title[1] if title == self._title[0] else
                        self._title_text(title)) if title else None
        if (meter is None or meter.system_title != system_title or meter.id != body.meter_id
                or meter.device_name != body.device_name or meter.list_id != body.list_id):
            meter = self._meter = MeterIdentity(system_title, _maker(title), body.meter_id,
                                                body.device_name, body.list_id)
        moment = clock or body.clock
        security = "none"
        if ciphered is not None:
            security = "authenticated" if ciphered.tag and self._auth_key else "encrypted"
        # time, received, meter, frame counter, values, layout, security, meter time
        return Reading(moment or received, received, meter,
                       ciphered.frame_counter if ciphered else None, body.values, body.layout,
                       security, moment is not None)

    def _note(self, kind: EventKind, message: Message, framing: str | None,
              amount: int = 1) -> None:
        self._counts[kind] += amount
        self._events.append(Event(kind, message, framing))


def decode(data: bytes | bytearray | memoryview, key: str | bytes | None = None,
           auth_key: str | bytes | None = None, *, timezone: str | tzinfo = "Europe/Vienna",
           layouts: Sequence[PositionalLayout] = (), max_events: int = 256) -> list[Reading]:
    """Decode every push in ``data`` at once (a one-shot ``Decoder``, whose options these
    are): ``data`` is the whole input, so its last push is never held back."""
    return Decoder(key, auth_key, timezone=timezone, layouts=layouts,
                   max_events=max_events).feed(data, final=True)
