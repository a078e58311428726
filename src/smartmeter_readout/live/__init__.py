"""Keep reading a meter: what programs that embed the reader use (the Home Assistant
integration): ``LiveReader`` yields readings from a connector (``sources.address.
connector_for``), ``diagnose`` finds the serial settings and judges the first push as
``doctor`` does, ``ask_meter_number`` asks a meter whose pushes lack it (the AMIS)."""

from .doctor import Diagnosis, Verdict, diagnose, implausible_verdict
from .identify import MeterAnswer, ask_meter_number
from .reader import KeyRejected, LiveOptions, LiveReader, SourceState, SourceStatus

__all__ = ["Diagnosis", "KeyRejected", "LiveOptions", "LiveReader", "MeterAnswer",
           "SourceState", "SourceStatus", "Verdict", "ask_meter_number", "diagnose",
           "implausible_verdict"]
