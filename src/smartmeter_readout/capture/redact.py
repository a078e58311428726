"""Redact a capture: new system title and meter numbers, still decodable with the same key.

Theory of operation: a ``FrameSplitter`` that tracks where each frame lies in the stream
finds the frames; they are grouped into pushes by their own control bits (M-Bus CI "last",
HDLC segmentation, GBT "last block"). For each push the positions of the APDU's bytes in the
stream are worked out through the framing (M-Bus and HDLC headers, LLC, GBT block headers),
the APDU is decrypted, the identifiers are overwritten with placeholders of the same length,
the APDU is encrypted again under a pseudonymous system title (the maker's letters kept),
written back to the same positions, and the frame checksums are recomputed. Lengths never
change, so the framing stays exactly as the meter made it. A push that cannot be redacted is
left out rather than written with its identifiers. Pure: bytes in, bytes out.

The authentication tag is recomputed with the authentication key when it is given; without
it the redacted capture decodes without ``--auth-key`` only.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..decoder import Decoder
from ..dlms import axdr
from ..dlms.apdu import LLC_HEADERS
from ..dlms.bare import BARE_APDU_PARSERS
from ..dlms.security import encrypt_apdu, parse_ciphered, unprotect
from ..errors import SmartMeterError
from ..i18n import N_
from ..keys import parse_key
from ..link.checksums import crc16_arc, crc16_x25, mbus_checksum
from ..link.frames import DsmrTelegram, HdlcFrame, LinkEvent, MbusSegment, MbusTelegram, RawApdu
from ..link.splitter import FrameSplitter
from ..oms.security import MODE_5, decrypt_mode5, encrypt_mode5, mode5_iv
from .align import ends_push

__all__ = ["Redactor"]

_CIPHERED = (0xDB, 0xDC)
_DIGIT = re.compile(rb"[0-9]")


class Redactor:
    def __init__(self, key: str | bytes | None, auth_key: str | bytes | None = None) -> None:
        self._key = parse_key(key)
        self._auth_key = parse_key(auth_key, what=N_("authentication key"))
        self._splitter = FrameSplitter(track_spans=True, unframed=BARE_APDU_PARSERS)
        self._raw = bytearray()
        self._base = 0  # stream offset of self._raw[0]
        self._push: list[tuple[LinkEvent, int, int]] = []
        self.redacted = 0
        self.left_out = 0

    def feed(self, data: bytes) -> bytes:
        """Redacted bytes that are ready; held bytes follow with later calls or ``flush``."""
        self._raw += data
        self._splitter.feed(data)
        spans = self._splitter.spans
        assert spans is not None
        for frame, start, end in spans:
            if isinstance(frame, MbusSegment | MbusTelegram | HdlcFrame | RawApdu |
                          DsmrTelegram):
                self._push.append((frame, start, end))
                if ends_push(frame):
                    self._redact(self._push)
                    self._push = []
        spans.clear()
        ready = min(self._splitter.held_from,
                    self._push[0][1] if self._push else self._splitter.held_from)
        return self._take(ready)

    def flush(self) -> bytes:
        """The rest; frames of an unfinished push are left out (they carry identifiers)."""
        if self._push:
            self.left_out += 1
            start = self._push[0][1] - self._base
            del self._raw[start:]
            self._push = []
        return self._take(self._base + len(self._raw))

    def _take(self, until: int) -> bytes:
        size = max(0, until - self._base)
        out = bytes(self._raw[:size])
        del self._raw[:size]
        self._base += size
        return out

    # ------------------------------------------------------------ one push

    def _redact(self, push: list[tuple[LinkEvent, int, int]]) -> None:
        try:
            self._rewrite(push)
        except (SmartMeterError, ValueError, IndexError):
            self.left_out += 1  # never keep a push whose identifiers could not be replaced
            for _, start, end in push:
                self._raw[start - self._base : end - self._base] = bytes(end - start)
        else:
            self.redacted += 1

    def _rewrite(self, push: list[tuple[LinkEvent, int, int]]) -> None:
        raw, base = self._raw, self._base
        if isinstance(push[0][0], MbusTelegram):
            _, start, end = push[0]
            raw[start - base : end - base] = self._new_telegram(bytes(raw[start - base :
                                                                         end - base]))
            return
        if isinstance(push[0][0], DsmrTelegram):  # plain text: no crypto, its own CRC
            _, start, end = push[0]
            text = bytes(raw[start - base : end - base])
            raw[start - base : end - base] = _fix_dsmr(_blank(text, self._ids(text)))
            return
        where = [p for frame, start, end in push for p in _payload(frame, start, end, raw, base)]
        apdu_at = _apdu_positions(bytes(raw[p - base] for p in where), where)
        apdu = bytes(raw[p - base] for p in apdu_at)
        wire = bytes(raw[push[0][1] - base : push[-1][2] - base])
        if isinstance(push[-1][0], HdlcFrame):
            wire += b"\x7e"  # the closing flag, which the next frame may share
        new = self._new_apdu(apdu, wire)
        if len(new) != len(apdu):
            raise ValueError("the redacted APDU would change length")
        for position, byte in zip(apdu_at, new, strict=True):
            raw[position - base] = byte
        for frame, start, end in push:
            _reseal(frame, raw, start - base, end - base)

    def _new_apdu(self, apdu: bytes, wire: bytes) -> bytes:
        ids = self._ids(wire)
        if apdu[0] not in _CIPHERED:
            return _blank(apdu, ids)
        ciphered = parse_ciphered(apdu)
        if self._key is None and ciphered.encrypted:
            raise ValueError("the key is needed to redact encrypted pushes")
        cipher = AESGCM(self._key or bytes(16))
        plaintext, _ = unprotect(ciphered, cipher, None)
        plaintext = _fix_dsmr(_blank(plaintext, ids)) if plaintext[:1] == b"/" else \
            _blank(plaintext, ids)
        title = ciphered.system_title
        maker = 3 if title[:3].isalpha() else 0
        pseudonym = title[:maker] + bytes(len(title) - maker - 1) + b"\x01"
        return encrypt_apdu(plaintext, key=self._key or bytes(16), system_title=pseudonym,
                            frame_counter=ciphered.frame_counter,
                            security_control=ciphered.security_control,
                            auth_key=self._auth_key, tag=apdu[0])

    def _new_telegram(self, frame: bytes) -> bytes:
        """An EN 13757-3 telegram under a pseudonymous identification number, encrypted
        again (mode 5's IV holds the number). The AMIS sends zeros there: nothing to do."""
        header = frame[7:19]
        identification = header[0:4]
        if identification == bytes(4):
            return frame
        config = int.from_bytes(header[10:12], "little")
        pseudonym = b"\x01\x00\x00\x00"
        body = frame[19:-2]
        if (config >> 8) & 0x1F == MODE_5:
            if self._key is None:
                raise ValueError("the key is needed to redact encrypted telegrams")
            size = 16 * ((config >> 4) & 0x0F)
            old = mode5_iv(header[4:6], identification, header[6], header[7], header[8])
            new = mode5_iv(header[4:6], pseudonym, header[6], header[7], header[8])
            body = encrypt_mode5(self._key, new, decrypt_mode5(self._key, old, body[:size])) \
                + body[size:]
        rebuilt = bytearray(frame[:7] + pseudonym + header[4:] + body + frame[-2:])
        rebuilt[-2] = mbus_checksum(rebuilt[4:-2])
        return bytes(rebuilt)

    def _ids(self, wire: bytes) -> list[bytes]:
        """The meter number and device name the push carries, as the decoder reads them."""
        readings = Decoder(self._key, self._auth_key).feed(wire, final=True)
        if not readings:
            raise ValueError("the push does not decode")
        meter = readings[0].meter
        return [name.encode() for name in (meter.id, meter.device_name) if name]


def _payload(frame: LinkEvent, start: int, end: int, raw: bytearray, base: int) -> range:
    """Stream positions of the bytes a frame carries for the APDU."""
    if isinstance(frame, MbusSegment):
        return range(start + 9, end - 2)
    if isinstance(frame, HdlcFrame):
        at = start + 3
        for _ in range(2):  # destination and source address: the last byte has bit 0 set
            while not raw[at - base] & 1:
                at += 1
            at += 1
        info = at + 3  # control byte and HCS
        if raw[info - base : info - base + 3] in LLC_HEADERS:
            info += 3
        return range(info, end - 2)
    return range(start, end)


def _apdu_positions(payload: bytes, where: list[int]) -> list[int]:
    """Strip General Block Transfer headers: the positions of the APDU proper."""
    if payload[:1] != b"\xe0":
        return where
    positions: list[int] = []
    at = 0
    while at < len(payload):
        size, data = axdr.read_length(payload, at + 6)
        positions += where[data : data + size]
        at = data + size
    return positions


def _blank(data: bytes, ids: list[bytes]) -> bytes:
    """Every digit of every identifier becomes 0; letters (maker, type) stay."""
    for name in ids:
        data = data.replace(name, _DIGIT.sub(b"0", name))
    return data


def _fix_dsmr(text: bytes) -> bytes:
    """Recompute a DSMR telegram's CRC after its text changed."""
    bang = text.rfind(b"!")
    if bang < 0 or len(text) < bang + 5 or not text[bang + 1 : bang + 5].isalnum():
        return text
    crc = f"{crc16_arc(text[: bang + 1]):04X}".encode()
    return text[: bang + 1] + crc + text[bang + 5 :]


def _reseal(frame: LinkEvent, raw: bytearray, start: int, end: int) -> None:
    if isinstance(frame, MbusSegment):
        raw[end - 2] = mbus_checksum(raw[start + 4 : end - 2])
    elif isinstance(frame, HdlcFrame):
        raw[end - 2 : end] = crc16_x25(raw[start + 1 : end - 2]).to_bytes(2, "little")
