"""Fuzzing every parser of the core at scale: mutated inputs, each shaped to reach its parser.

The inputs of ``tests/fuzzkit.py``, shared out evenly over the parsers: push bodies (types,
lengths, scalers, element counts and nesting changed) sealed and framed as M-Bus long frames,
HDLC or bare APDUs; DSMR text telegrams with their CRC made right again, plain and inside GCM;
M-Bus record sets of the AMIS sealed under AES-CBC or plain; IEC 62056-21 identifications and
readouts with their BCC made right again. Runs under an address-space cap and prints, per
parser and in all, inputs/s, the exceptions that escaped (must be 0) and the peak resident
memory.

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
        print(text[:3000], file=sys.stderr)
    print(f"{'parser':<12} {'inputs':>9} {'readings':>9} {'exceptions':>10} {'inputs/s':>9} "
          f"{'parsing/s':>9}  what reaches it")
    for name, figures in report["parsers"].items():
        print(f"{name:<12} {figures['inputs']:>9,} {figures['readings']:>9,} "
              f"{figures['exceptions']:>10} {figures['inputs'] / figures['seconds']:>9,.0f} "
              f"{figures['inputs'] / figures['parse_seconds']:>9,.0f}  "
              f"{fuzzkit.PARSERS[name]}")
    rate = report["inputs"] / report["seconds"]
    print(f"in all: {report['inputs']:,} inputs in {report['seconds']:.1f} s "
          f"({rate:,.0f} inputs/s, making them included), {report['readings']:,} decoded "
          f"to a reading (or a meter number)")
    print(f"exceptions: {len(report['exceptions'])}")
    print(f"peak RSS: {report['peak_rss_mb']:.1f} MB (address space capped at "
          f"{args.memory_mb} MB)")
    return 1 if report["exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
