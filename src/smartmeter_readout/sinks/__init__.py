"""Where readings go: one module per output, all behind the small ``Sink`` contract."""

from .base import Sink, SinkError

__all__ = ["Sink", "SinkError"]
