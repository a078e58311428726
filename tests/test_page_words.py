"""The page says every source state the reader can be in, and every problem the decoder
reports, in its own words: a state without a label would show as a raw machine word
("cut_short") on the status card."""

from __future__ import annotations

import re
from pathlib import Path

from smartmeter_readout.events import EventKind
from smartmeter_readout.live.reader import SourceState

STATUS_JS = (Path(__file__).resolve().parent.parent / "src" / "smartmeter_readout" / "web" /
             "static" / "status.js").read_text()


def labels(table: str) -> set[str]:
    body = re.search(rf"const {table} = \(\) => \(\{{(.*?)\}}\);", STATUS_JS, re.S)
    assert body, table
    return set(re.findall(r"^\s*(\w+): t\(", body.group(1), re.M))


def test_every_source_state_has_a_label() -> None:
    assert {state.value for state in SourceState} <= labels("SOURCE_STATES")


def test_every_problem_event_has_a_label() -> None:
    problems = {kind.value for kind in EventKind if kind.ends_push or kind in
                (EventKind.BAD_FRAME, EventKind.SEGMENT_LOST, EventKind.CUT_SHORT,
                 EventKind.IMPLAUSIBLE)}
    assert problems <= labels("PROBLEMS") | {"push_ok"}
