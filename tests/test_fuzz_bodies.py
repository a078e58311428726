"""100,000 mutated inputs through every parser of the core, each shaped so it reaches its
parser (bodies sealed and framed, DSMR and readouts with their checksums made right): no
exception, no hang, bounded memory.

Runs in a child process whose address space is capped (``resource.setrlimit``), so a parser
that allocates from a length field before the bytes arrived fails this test instead of the
machine. ``benchmarks/bench_fuzz.py`` runs the same inputs by the million.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fuzzkit

HERE = Path(__file__).resolve().parent


def test_100k_mutated_inputs_raise_nothing_in_any_parser_under_a_memory_cap() -> None:
    child = subprocess.run([sys.executable, str(HERE / "fuzzkit.py"), "100000", "768"],
                           check=False, capture_output=True, text=True, cwd=HERE, timeout=900)
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["exceptions"] == 0, child.stderr[-4000:]
    assert report["inputs"] == 100_000
    assert set(report["parsers"]) == set(fuzzkit.PARSERS)
    for name, figures in report["parsers"].items():
        assert figures["exceptions"] == 0, (name, child.stderr[-4000:])
        assert figures["inputs"] >= 100_000 // len(fuzzkit.PARSERS), name
        # some mutations still make sense: the inputs reach the parser and get through it
        assert figures["readings"] > 0, name


def test_the_mutations_reach_each_parser() -> None:
    """Each stream's seeds decode as they are; mutated, they still reach their parser (the
    checksum, tag or BCC around the damage was made right), not only the link's checks."""
    from smartmeter_readout import Decoder
    from smartmeter_readout.events import EventKind

    decoder = Decoder(fuzzkit.KEY, fuzzkit.AUTH)
    telegrams = fuzzkit.dsmr_seeds()
    assert len(telegrams) > 5 and all(decoder.feed(t) for t in telegrams[:2])
    stats = Decoder(fuzzkit.KEY, fuzzkit.AUTH)
    for wire in fuzzkit.dsmr_inputs(500):
        stats.feed(wire)
    # the link let them through: a CRC mismatch is rare, parse errors are the parser's
    assert stats.stats.complete > 100
    assert stats.stats[EventKind.BAD_FRAME] < 100
    assert any(fuzzkit.parse_iec(text) for text in fuzzkit.iec_seeds())
    assert sum(map(fuzzkit.parse_iec, fuzzkit.iec_inputs(500))) > 50
