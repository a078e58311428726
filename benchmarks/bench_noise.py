"""Time and memory of ``decode`` on floods of noise, by size: both must grow linearly.

A run of ``68`` bytes reads as an M-Bus head at every position; it once made an event per
byte (5 MB: 63 s and 395 MB). Runs ``smartmeter-readout decode`` as a user would, on 1, 2
and 4 MB of raw ``68`` bytes and of the same as hex text, and prints seconds, µs per input
byte and peak RSS (from the child's rusage).

    python benchmarks/bench_noise.py [--sizes 1,2,4]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "000102030405060708090A0B0C0D0E0F"


def run(path: Path) -> tuple[float, float]:
    """Seconds and the peak RSS in MB of one decode of ``path`` (in a child process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "smartmeter_readout", "decode", str(path), "--key",
                    KEY], capture_output=True, check=False)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4", help="MB of noise, comma-separated")
    args = parser.parse_args()
    print(f"{'input':<14} {'MB':>4} {'s':>7} {'us/byte':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(text) for text in args.sizes.split(",")):
            raw = Path(folder) / f"raw{size}.bin"
            raw.write_bytes(b"\x68" * (size << 20))
            text = Path(folder) / f"hex{size}.txt"
            text.write_text("68" * (size << 20))
            for name, path in (("68 bytes", raw), ("68 as hex", text)):
                seconds, peak = run(path)
                print(f"{name:<14} {size:>4} {seconds:>7.2f} {seconds / (size << 20) * 1e6:>8.2f}"
                      f" {peak:>12.0f}")
    print("(peak RSS is the largest child so far: it can only rise down the table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
