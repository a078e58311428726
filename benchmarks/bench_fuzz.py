"""Body fuzzing at scale: mutated plaintexts, sealed and framed, through Decoder.feed.

The inputs of ``tests/fuzzkit.py`` (types, lengths, scalers, element counts and nesting of
real and simulated push bodies changed, then encrypted, tagged and framed as M-Bus, HDLC or
bare APDUs; one in ten an AMIS telegram whose M-Bus record set was damaged and sealed again
under AES-CBC) under an address-space cap. Prints inputs/s, the exceptions that escaped (must be
0) and the peak resident memory.

    python benchmarks/bench_fuzz.py [--inputs 1000000] [--memory-mb 768] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzzkit  # the test kit, found through the path above


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--memory-mb", type=int, default=768)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    report = fuzzkit.run(args.inputs, memory_mb=args.memory_mb, seed=args.seed)
    for text in report["exceptions"][:3]:
        print(text, file=sys.stderr)
    rate = report["inputs"] / report["seconds"]
    print(f"body fuzzing: {report['inputs']:,} inputs in {report['seconds']:.1f} s "
          f"({rate:,.0f} inputs/s), {report['readings']:,} decoded to a reading")
    print(f"exceptions: {len(report['exceptions'])}")
    print(f"peak RSS: {report['peak_rss_mb']:.1f} MB (address space capped at "
          f"{args.memory_mb} MB)")
    return 1 if report["exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
