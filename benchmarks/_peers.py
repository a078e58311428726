"""The peers' side of bench_decode.py: run by the peers' own virtual environment.

    <peers venv>/bin/python benchmarks/_peers.py FRAMES.hex KEY SECONDS

Decodes every push of FRAMES.hex (one push a line, as hex) the way each peer library does it
from the bytes of a push to its values, and prints one JSON object: frames per second per
peer and the values each decoded from the first push (bench_decode.py compares them with
its own, so a peer that decodes nothing cannot look fast). This file imports no
smartmeter-readout code and the project imports none of the peers: dlms-cosem is under the
Business Source License, smartmeter-austria-energy under the MIT licence; both are installed
only into the benchmark's own environment.

- smartmeter-austria-energy: its ``Smartmeter.read()`` splits the stream at the two frame
  heads with ``re.split``, then ``Decrypt`` (fixed offsets of the supplier preset, AES-GCM
  without the tag check, pycryptodome), ``parse_all()`` (a scan for OBIS codes) and
  ``ObisData``. Its ``TINETZ`` preset has the offsets of the Vorarlberg push (frame heads
  68 FA FA 68 / 68 72 72 68, counter at 23, ciphertext from 27).
- dlms-cosem: no M-Bus framing, so the two DLMS segments are cut out at fixed offsets;
  ``GeneralGlobalCipher.from_bytes``, AES-CTR from GCM's counter block 2 with cryptography
  (its ``security.decrypt`` insists on a tag, which a push with SC 0x21 has not),
  ``DataNotification.from_bytes`` and ``utils.parse_as_dlms_data`` (A-XDR to Python).
"""

from __future__ import annotations

import binascii
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any


def smartmeter_austria_energy(key: str) -> Callable[[bytes], Any]:
    from smartmeter_austria_energy.decrypt import Decrypt
    from smartmeter_austria_energy.obisdata import ObisData
    from smartmeter_austria_energy.supplier import SUPPLIERS

    supplier = SUPPLIERS["TINETZ"]
    heads = binascii.unhexlify("28" + supplier.frame1_start_bytes_hex + "7c"
                               + supplier.frame2_start_bytes_hex + "29")

    def decode(stream: bytes) -> Any:
        parts = [part for part in re.split(heads, stream) if part]
        decrypted = Decrypt(supplier, parts[0] + parts[1], parts[2] + parts[3], key)
        decrypted.parse_all()
        return ObisData(decrypted, supplier.supplied_values)

    return decode


def dlms_cosem(key: str) -> Callable[[bytes], Any]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from dlms_cosem.protocol.xdlms import DataNotification, GeneralGlobalCipher
    from dlms_cosem.utils import parse_as_dlms_data

    secret = bytes.fromhex(key)

    def decode(stream: bytes) -> Any:
        first = stream[1] + 6  # 68 L L 68 ... CS 16: two segments, 9-byte heads
        apdu = stream[9 : first - 2] + stream[first + 9 : -2]
        ciphered = GeneralGlobalCipher.from_bytes(apdu)
        iv = (ciphered.system_title + ciphered.invocation_counter.to_bytes(4, "big")
              + b"\x00\x00\x00\x02")
        decryptor = Cipher(algorithms.AES(secret), modes.CTR(iv)).decryptor()
        plaintext = decryptor.update(ciphered.ciphered_text) + decryptor.finalize()
        notification = DataNotification.from_bytes(plaintext)
        return notification.date_time, parse_as_dlms_data(notification.body)

    return decode


def rate(decode: Callable[[bytes], Any], frames: list[bytes], seconds: float) -> float:
    """Pushes per second over at least ``seconds``, after one pass to warm up."""
    for frame in frames:
        decode(frame)
    count = 0
    start = time.perf_counter()
    while True:
        for frame in frames:
            decode(frame)
        count += len(frames)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    path, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(path) as lines:
        frames = [bytes.fromhex(line) for line in lines.read().split()]
    sae = smartmeter_austria_energy(key)
    dc = dlms_cosem(key)
    first = sae(frames[0])
    _clock, tree = dc(frames[0])
    checks = {
        "smartmeter-austria-energy": {"1.0.32.7.0.255": first.VoltageL1.value,
                                      "1.0.1.8.0.255": first.RealEnergyIn.value},
        # the tree's fifth element: [code, value, [scaler, unit]] of voltage L1
        "dlms-cosem": {"1.0.32.7.0.255": tree[4][1] * 10 ** tree[4][2][0],
                       "1.0.1.8.0.255": tree[12][1] * 10 ** tree[12][2][0]},
    }
    rates = {"smartmeter-austria-energy": rate(sae, frames, seconds),
             "dlms-cosem": rate(dc, frames, seconds)}
    print(json.dumps({"rates": rates, "checks": checks}))


if __name__ == "__main__":
    main()
