"""OMS security mode 5: AES-128-CBC over whole blocks, the IV from the telegram's header.

    IV = manufacturer (2, as sent) | identification (4) | version | medium | access number x 8

The configuration word names the mode (bits 8-12) and how many 16-byte blocks are encrypted
(bits 4-7). A decryption that does not start with the ``2F 2F`` filler means the key is
wrong: CBC has no tag, the filler is the check the standard provides.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import DecodeError, DecryptionError
from ..message import N_

__all__ = ["MODE_5", "decrypt_mode5", "encrypt_mode5", "mode5_iv"]

MODE_5 = 5
_BLOCK = 16
_CHECK = b"\x2f\x2f"


def mode5_iv(manufacturer: bytes, identification: bytes, version: int, medium: int,
             access: int) -> bytes:
    return manufacturer + identification + bytes((version, medium)) + bytes((access,)) * 8


def decrypt_mode5(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if len(ciphertext) % _BLOCK:
        raise DecodeError(N_("{count} encrypted bytes are not whole AES blocks"),
                          count=len(ciphertext))
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    if not plain.startswith(_CHECK):
        raise DecryptionError(N_("the key does not decrypt this meter's telegram (no 2F 2F at "
                                 "its start): check the key from the Netz OÖ customer portal"))
    return plain


def encrypt_mode5(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """What the meter does (the simulator and redaction): ``plaintext`` padded with the
    ``2F`` filler to whole blocks."""
    padded = plaintext + b"\x2f" * (-len(plaintext) % _BLOCK)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()
