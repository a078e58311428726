"""Prometheus metrics of a running service, collected when scraped (nothing kept twice).

- ``smartmeter_value{meter, obis, name, unit}``: every numeric value of the last reading;
- ``smartmeter_pushes_total{outcome}``: pushes decoded and pushes lost, by reason
  (``ok``, ``incomplete``, ``key_missing``, ``decryption_failed``, ``tag_mismatch``,
  ``unknown_layout``, ``malformed``), plus ``smartmeter_frames_bad_total``;
- ``smartmeter_reconnects_total``: connections to the meter lost and made again;
- ``smartmeter_last_reading_age_seconds``: how long ago the last reading arrived;
- ``smartmeter_output_backlog{output}``, ``smartmeter_output_delivered_total{output}``,
  ``smartmeter_output_failures_total{output}``, ``smartmeter_output_dropped_total{output}``,
  ``smartmeter_output_up{output}``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..events import EventKind
from .service import Service

__all__ = ["ServiceCollector"]



class ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        values = GaugeMetricFamily("smartmeter_value", "The last reading's values, in base "
                                   "units", labels=["meter", "obis", "name", "unit"])
        reading = service.last_reading
        if reading is not None:
            for obis, measurement in reading.values.items():
                value = measurement.value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values.add_metric([reading.meter_key, obis, measurement.name,
                                       measurement.unit or ""], float(value))
        yield values
        stats = service.reader.decoder.stats
        pushes = CounterMetricFamily("smartmeter_pushes", "Pushes by outcome",
                                     labels=["outcome"])
        for outcome, count in stats.outcomes.items():
            pushes.add_metric([outcome], count)
        yield pushes
        yield CounterMetricFamily("smartmeter_frames_bad", "Link frames with failed checks",
                                  value=stats[EventKind.BAD_FRAME])
        yield CounterMetricFamily("smartmeter_implausible_values", "Readings whose values "
                                  "do not fit each other (units of the list not known?)",
                                  value=stats[EventKind.IMPLAUSIBLE])
        yield CounterMetricFamily("smartmeter_reconnects", "Connections to the meter lost "
                                  "and made again", value=service.reader.reconnects)
        age = (time.monotonic() - service.last_reading_at
               if service.last_reading_at is not None else float("nan"))
        yield GaugeMetricFamily("smartmeter_last_reading_age_seconds", "Seconds since the "
                                "last reading", value=age)
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "backlog": GaugeMetricFamily("smartmeter_output_backlog",
                                         "Readings waiting for an output", labels=["output"]),
            "up": GaugeMetricFamily("smartmeter_output_up", "1 when the output takes "
                                    "readings", labels=["output"]),
            "delivered": CounterMetricFamily("smartmeter_output_delivered", "Readings "
                                             "delivered", labels=["output"]),
            "failures": CounterMetricFamily("smartmeter_output_failures", "Failed "
                                            "deliveries (retried)", labels=["output"]),
            "dropped": CounterMetricFamily("smartmeter_output_dropped", "Readings dropped: "
                                           "queue or outbox full", labels=["output"]),
        }
        for name, state in service.state.items():
            families["backlog"].add_metric([name], service.backlog(name))
            families["up"].add_metric([name], 1.0 if state.healthy else 0.0)
            families["delivered"].add_metric([name], state.delivered)
            families["failures"].add_metric([name], state.failures)
            families["dropped"].add_metric([name], service.dropped(name))
        yield from families.values()
