"""InfluxDB: line protocol over HTTP, batched; v1 ``/write`` or v2/v3 ``/api/v2/write``.

One point per reading: measurement ``[influxdb] measurement`` (default ``smartmeter``), tag
``meter`` (its number, else its system title), one field per numeric value named as in the
OBIS registry (``voltage_l1``, ``active_energy_import`` …) in base units, the reading's time
with millisecond precision. Fields are always floats, so a value that happens to be whole
never clashes with its earlier fractional self.

v1 (``database``) creates its database on start; v2/v3 is chosen when ``token`` or ``bucket``
is set. HTTP runs in a worker thread (urllib), so the event loop never waits on the network.
A batch the server rejects as malformed (HTTP 400) is logged and skipped rather than retried
for ever; connection errors and 5xx are retried from the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from ..i18n import _
from ..masking import hide_secrets
from ..reading import Reading
from .base import SinkBase, SinkError

__all__ = ["InfluxSink", "line_protocol"]

_TIMEOUT = 10.0
logger = logging.getLogger("smartmeter_readout")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def line_protocol(readings: Sequence[Reading], measurement: str) -> bytes:
    lines = []
    name = _escape(measurement)
    for reading in readings:
        fields = ",".join(
            f"{_escape(m.name)}={float(m.value)!r}" for m in reading.values.values()
            if isinstance(m.value, int | float) and not isinstance(m.value, bool))
        if not fields:
            continue
        moment = reading.time or reading.received
        stamp = f" {round(moment.timestamp() * 1000)}" if moment else ""
        lines.append(f"{name},meter={_escape(reading.meter_key)} {fields}{stamp}")
    return ("\n".join(lines) + "\n").encode()


class InfluxSink(SinkBase):
    durable = True

    def __init__(self, settings: Mapping[str, Any], log: logging.Logger = logger) -> None:
        self.name = "influxdb"
        self.settings = dict(settings)
        self.log = log
        base = settings["url"].rstrip("/")
        self.v2 = bool(settings["token"] or settings["bucket"])
        if self.v2:
            query = urllib.parse.urlencode({"org": settings["org"], "bucket": settings["bucket"],
                                            "precision": "ms"})
            self.write_url = f"{base}/api/v2/write?{query}"
        else:
            query = urllib.parse.urlencode({"db": settings["database"], "precision": "ms"})
            self.write_url = f"{base}/write?{query}"
        self.base = base
        self.shown = hide_secrets(base)  # an address with user:password@ in errors

    async def start(self) -> None:
        if not self.v2:
            statement = f'CREATE DATABASE "{self.settings["database"]}"'
            url = f"{self.base}/query?" + urllib.parse.urlencode({"q": statement})
            await asyncio.to_thread(self._post, url, b"")

    async def write(self, readings: Sequence[Reading]) -> None:
        body = line_protocol(readings, self.settings["measurement"])
        if body.strip():
            await asyncio.to_thread(self._post, self.write_url, body)

    def _post(self, url: str, body: bytes) -> None:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "text/plain; charset=utf-8")
        if self.settings["token"]:
            request.add_header("Authorization", f"Token {self.settings['token']}")
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            if exc.code == 400:
                self.log.warning(_("influxdb: the server rejected a batch (%s); skipped"),
                                 detail)
                return
            hint = _(" (is the token right?)") if exc.code in (401, 403) else ""
            raise SinkError(_("InfluxDB at {url}: HTTP {code} {detail}{hint}", url=self.shown,
                              code=exc.code, detail=detail, hint=hint)) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SinkError(_("InfluxDB at {url}: {reason} (is it running?)", url=self.shown,
                              reason=reason)) from None

    async def close(self) -> None:
        pass
