"""Frames per second, bytes -> Reading, for the 376-byte Vorarlberg-shaped capture.

Decodes ``at_vkw_kaifa_ma309_seed_synthetic`` (two M-Bus frames, SC 0x21, layout A) through
``Decoder.feed`` with every check on (checksums, decryption plausibility, A-XDR bounds), on
one core, and in the same run the original script's method: fixed offsets, AES, Gurux's
translator to XML, BeautifulSoup over the XML. Prints both figures and their ratio.

    python benchmarks/bench_decode.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from smartmeter_readout import Decoder

ROOT = Path(__file__).resolve().parent.parent
VECTOR_ID = "at_vkw_kaifa_ma309_seed_synthetic"


def load() -> tuple[bytes, str]:
    vectors = json.loads((ROOT.parent / "shared" / "vectors" / "vectors.json").read_text())
    vector = next(v for v in vectors if v["id"] == VECTOR_ID)
    return bytes.fromhex(vector["hex"]), vector["key"]


def rate(work, seconds: float) -> tuple[float, int]:
    """Calls per second of ``work`` over at least ``seconds`` (after a warm-up)."""
    for _ in range(50):
        work()
    count = 0
    batch = 100
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            work()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def ours(frame: bytes, key: str):
    decoder = Decoder(key)

    def work() -> None:
        readings = decoder.feed(frame)
        assert len(readings) == 1

    return work, decoder


def ours_changing(key: str):
    """Same shape, different values every push (simulated VKW pushes, 1,000 distinct)."""
    from datetime import UTC, datetime, timedelta

    from smartmeter_readout.sim.simulator import Simulator

    simulator = Simulator("vkw", key=bytes.fromhex(key))
    start = datetime(2024, 6, 1, tzinfo=UTC)
    frames = [simulator.push(start + timedelta(seconds=5 * i)).wire for i in range(1000)]
    decoder = Decoder(key)
    index = 0

    def work() -> None:
        nonlocal index
        readings = decoder.feed(frames[index % 1000])
        index += 1
        assert len(readings) == 1

    return work


def original_method(frame: bytes, key: str):
    """The first script's approach, kept faithful in its costs (not its code)."""
    from bs4 import BeautifulSoup
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from gurux_dlms.enums import TranslatorOutputType
    from gurux_dlms.GXByteBuffer import GXByteBuffer
    from gurux_dlms.GXDLMSTranslator import GXDLMSTranslator

    translator = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    secret = bytes.fromhex(key)

    def work() -> None:
        # fixed offsets of the VKW frame: 2 M-Bus headers of 9 bytes, trailers of 2
        first_len = frame[1] + 6
        payload = frame[9 : first_len - 2] + frame[first_len + 9 : -2]
        title = payload[2:10]
        counter = payload[14:18]
        ciphertext = payload[18:]
        decryptor = Cipher(algorithms.AES(secret),
                           modes.CTR(title + counter + b"\x00\x00\x00\x02")).decryptor()
        plaintext = decryptor.update(ciphertext) + decryptor.finalize()
        xml = translator.pduToXml(GXByteBuffer(plaintext))
        soup = BeautifulSoup(xml, "lxml")
        values = [tag["value"] for tag in soup.find_all(["uint16", "uint32"])]
        assert len(values) == 12, len(values)

    return work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    frame, key = load()
    work, decoder = ours(frame, key)
    fast, count = rate(work, args.seconds)
    assert decoder.stats.ok == count + 50
    print(f"smartmeter-readout Decoder.feed: {fast:,.0f} frames/s "
          f"({1e6 / fast:.1f} us per {len(frame)}-byte frame, {count:,} frames)")
    changing, count = rate(ours_changing(key), args.seconds)
    print(f"smartmeter-readout, values changing every push: {changing:,.0f} frames/s "
          f"({1e6 / changing:.1f} us per frame, {count:,} frames)")
    slow, count = rate(original_method(frame, key), args.seconds)
    print(f"original method (Gurux XML + BeautifulSoup): {slow:,.0f} frames/s "
          f"({1e6 / slow:.0f} us per frame, {count:,} frames)")
    print(f"speed-up: {fast / slow:,.0f}x (same capture), {changing / slow:,.0f}x (changing "
          "values)")


if __name__ == "__main__":
    main()
