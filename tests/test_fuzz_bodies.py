"""100,000 mutated push bodies, sealed and framed correctly: no exception, no hang, bounded memory.

Runs in a child process whose address space is capped (``resource.setrlimit``), so a parser
that allocates from a length field before the bytes arrived fails this test instead of the
machine. ``benchmarks/bench_fuzz.py`` runs the same inputs by the million.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_100k_mutated_bodies_raise_nothing_under_a_memory_cap() -> None:
    child = subprocess.run([sys.executable, str(HERE / "fuzzkit.py"), "100000", "768"],
                           check=False, capture_output=True, text=True, cwd=HERE, timeout=900)
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["exceptions"] == 0, child.stderr[-4000:]
    assert report["inputs"] == 100_000
    assert report["readings"] > 0  # some mutations still make sense: the bodies reach layouts
