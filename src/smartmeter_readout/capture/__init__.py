"""Captures for record/replay and bug reports: the capture file format and redaction."""
