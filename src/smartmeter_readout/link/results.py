"""Return codes shared by the frame parsers (a parser never raises on wire bytes).

A parser looks at a buffer at one position and answers with ``(status, detail)``:
a positive status is the number of bytes the frame takes (detail: the frame), ``NEED_MORE``
(detail: how many bytes the frame needs in all, or 0 when unknown), ``NOT_A_FRAME`` (the
start byte was noise) or ``BROKEN`` (detail: why a plausible frame fails its checks, and
how long it claimed to be).
"""

from __future__ import annotations

NEED_MORE = 0
NOT_A_FRAME = -1
BROKEN = -2
