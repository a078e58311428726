"""DLMS security suite 0: AES-128-GCM on ciphered APDUs (Green Book 9.2.7).

    DB|DC  08 <system title 8>  <BER length>  SC  <frame counter 4>  <ciphertext>  [tag 12]

SC (security control): bit 0x10 authentication, 0x20 encryption, low nibble the suite. The IV
is system title || frame counter. Encryption is GCM's counter mode starting at block
IV || 00000002, which is exactly what AES-GCM *encryption* applies to its input: so
``AESGCM.encrypt`` on the ciphertext yields the plaintext (plus a tag we ignore), one fast C
call for the tag-less pushes most meters send. With authentication the 12-byte tag is
GCM's tag truncated, over AAD = SC || AK (and the plaintext itself when not encrypted).
"""

from __future__ import annotations

import hmac
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AuthenticationError, DecodeError, TruncatedError
from ..message import N_
from .axdr import encode_length, read_length

__all__ = [
    "AUTHENTICATED", "ENCRYPTED", "GENERAL_DED_CIPHERING", "GENERAL_GLO_CIPHERING",
    "CipheredApdu", "encrypt_apdu", "parse_ciphered", "unprotect",
]

GENERAL_GLO_CIPHERING = 0xDB
GENERAL_DED_CIPHERING = 0xDC
AUTHENTICATED = 0x10
ENCRYPTED = 0x20
TAG_SIZE = 12
_new = tuple.__new__  # a named tuple without its Python __new__: once per push


class CipheredApdu(NamedTuple):
    """A ciphered APDU's parts (a named tuple: immutable, and made for every push at a
    fraction of a frozen dataclass's cost)."""

    system_title: bytes
    security_control: int
    frame_counter: int
    content: bytes  # ciphertext (or plaintext when only authenticated)
    tag: bytes | None

    @property
    def encrypted(self) -> bool:
        return bool(self.security_control & ENCRYPTED)


def header_length(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int]:
    """Return ``(total APDU length, position of SC)`` of a ciphered APDU at ``pos``."""
    if len(buf) - pos < 2:
        raise TruncatedError(N_("data ends inside the ciphered APDU header"))
    if buf[pos + 1] != 8:
        raise DecodeError(N_("system title of {size} bytes, expected 8"), size=buf[pos + 1])
    size, at = read_length(buf, pos + 10)
    return at - pos + size, at


def parse_ciphered(apdu: bytes) -> CipheredApdu:
    if not apdu or apdu[0] not in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
        raise DecodeError(N_("not a general-glo-ciphering or general-ded-ciphering APDU"))
    # the lengths pushes have (one byte, or 82 and two) without the calls: once per push
    first = apdu[10] if len(apdu) > 13 and apdu[1] == 8 else 0x80
    if first < 0x80:
        total, at = 11 + first, 11
    elif first == 0x82:
        total, at = 13 + (apdu[11] << 8 | apdu[12]), 13
    else:
        total, at = header_length(apdu)
    if total > len(apdu):
        raise TruncatedError(N_("ciphered APDU shorter than its length field"))
    if total < len(apdu):
        raise DecodeError(N_("{count} bytes after the end of the ciphered APDU"),
                          count=len(apdu) - total)
    if total - at < 5:
        raise DecodeError(N_("ciphered APDU too short for security control and frame counter"))
    sc = apdu[at]
    if not sc & (ENCRYPTED | AUTHENTICATED) or sc & 0x0E:
        raise DecodeError(N_("security control 0x{sc:02X} is no suite-0/1 GCM protection"),
                          sc=sc)
    counter = int.from_bytes(apdu[at + 1 : at + 5], "big")
    if sc & AUTHENTICATED:
        if total - at - 5 < TAG_SIZE:
            raise DecodeError(N_("authenticated APDU too short to hold its 12-byte tag"))
        return _new(CipheredApdu, (apdu[2:10], sc, counter, apdu[at + 5 : -TAG_SIZE],
                                   apdu[-TAG_SIZE:]))
    return _new(CipheredApdu, (apdu[2:10], sc, counter, apdu[at + 5 :], None))


def unprotect(apdu: CipheredApdu, cipher: AESGCM, auth_key: bytes | None) -> tuple[bytes, bool]:
    """Return ``(plaintext, tag_verified)``; raise AuthenticationError on a tag mismatch.

    The tag is checked only when an authentication key is given. A wrong *encryption* key is
    not detectable here: the caller checks that the plaintext is a valid APDU.
    """
    iv = apdu.system_title + apdu.frame_counter.to_bytes(4, "big")
    sc = apdu.security_control
    plaintext = cipher.encrypt(iv, apdu.content, None)[:-16] if sc & ENCRYPTED else apdu.content
    if auth_key is None or apdu.tag is None:
        return plaintext, False
    if sc & ENCRYPTED:
        expected = cipher.encrypt(iv, plaintext, bytes((sc,)) + auth_key)[-16:]
    else:
        expected = cipher.encrypt(iv, b"", bytes((sc,)) + auth_key + plaintext)
    if not hmac.compare_digest(expected[:TAG_SIZE], apdu.tag):
        raise AuthenticationError(N_(
            "the authentication tag does not verify: the authentication key is wrong, or the "
            "push was altered on the way"))
    return plaintext, True


def encrypt_apdu(plaintext: bytes, *, key: bytes, system_title: bytes, frame_counter: int,
                 security_control: int = 0x21, auth_key: bytes | None = None,
                 tag: int = GENERAL_GLO_CIPHERING) -> bytes:
    """Protect a plaintext APDU as a meter does (the simulator's half of this module)."""
    if len(system_title) != 8:
        raise ValueError("the system title must be 8 bytes")
    cipher = AESGCM(key)
    iv = system_title + frame_counter.to_bytes(4, "big")
    sc = security_control
    aad_key = auth_key if auth_key is not None else bytes(16)
    if sc & ENCRYPTED:
        sealed = cipher.encrypt(iv, plaintext, bytes((sc,)) + aad_key)
        content = sealed[:-16]
        mac = sealed[-16:]
    else:
        content = plaintext
        mac = cipher.encrypt(iv, b"", bytes((sc,)) + aad_key + plaintext)
    body = bytes((sc,)) + frame_counter.to_bytes(4, "big") + content
    if sc & AUTHENTICATED:
        body += mac[:TAG_SIZE]
    return bytes((tag, 8)) + system_title + encode_length(len(body)) + body
