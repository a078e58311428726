"""Keep reading a meter: what programs that embed the reader use (the Home Assistant
integration): ``LiveReader`` yields readings from a connector (``sources.address.
connector_for``), ``diagnose`` finds the serial settings and judges the first push as
``doctor`` does."""

from .doctor import Diagnosis, Verdict, diagnose, implausible_verdict
from .reader import KeyRejected, LiveOptions, LiveReader, SourceState, SourceStatus

__all__ = ["Diagnosis", "KeyRejected", "LiveOptions", "LiveReader", "SourceState",
           "SourceStatus", "Verdict", "diagnose", "implausible_verdict"]
