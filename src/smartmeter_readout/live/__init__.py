"""Keep reading a meter: what programs that embed the reader use (the Home Assistant
integration): ``LiveReader`` yields readings from a connector (``sources.address.
connector_for``), ``diagnose`` finds the serial settings and judges the first push as
``doctor`` does, ``ask_meter_number`` asks a meter whose pushes lack it (the AMIS).

The names are loaded when first asked for: ``read`` and ``run`` import ``live.reader``,
which should not pay for ``doctor`` at every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .doctor import Diagnosis, Verdict, diagnose, implausible_verdict
    from .identify import MeterAnswer, ask_meter_number
    from .reader import KeyRejected, LiveOptions, LiveReader, SourceState, SourceStatus

__all__ = ["Diagnosis", "KeyRejected", "LiveOptions", "LiveReader", "MeterAnswer",
           "SourceState", "SourceStatus", "Verdict", "ask_meter_number", "diagnose",
           "implausible_verdict"]

_MODULE = {"Diagnosis": "doctor", "Verdict": "doctor", "diagnose": "doctor",
           "implausible_verdict": "doctor", "MeterAnswer": "identify",
           "ask_meter_number": "identify", "KeyRejected": "reader", "LiveOptions": "reader",
           "LiveReader": "reader", "SourceState": "reader", "SourceStatus": "reader"}


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE[name]}", __name__), name)
