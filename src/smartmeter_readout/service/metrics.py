"""Prometheus metrics of a running service, collected when scraped (nothing kept twice).

- ``smartmeter_value{meter, obis, name, unit}``: every numeric value of the last reading;
- ``smartmeter_pushes_total{outcome}``: pushes decoded and pushes lost, by reason
  (``ok``, ``incomplete``, ``key_missing``, ``decryption_failed``, ``tag_mismatch``,
  ``unknown_layout``, ``malformed``), plus ``smartmeter_frames_bad_total``;
- ``smartmeter_reconnects_total``: connections to the meter lost and made again;
- ``smartmeter_last_reading_age_seconds``: how long ago the last reading arrived;
- ``smartmeter_output_backlog{output}``, ``smartmeter_output_delivered_total{output}``,
  ``smartmeter_output_failures_total{output}``, ``smartmeter_output_dropped_total{output}``,
  ``smartmeter_output_up{output}``;
- from the history's summary (``SummaryCollector``): ``smartmeter_energy_today_wh`` and
  ``smartmeter_energy_month_wh`` ``{direction}``, ``smartmeter_peak_month_watts``, and with a
  tariff ``smartmeter_cost_today`` and ``smartmeter_cost_month`` ``{currency}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..events import EventKind
from .service import Service

__all__ = ["ServiceCollector", "SummaryCollector"]



class ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        status = self.service.status()
        values = GaugeMetricFamily("smartmeter_value", "The last reading's values, in base "
                                   "units", labels=["meter", "obis", "name", "unit"])
        reading = status.last_reading
        if reading is not None:
            for obis, measurement in reading.values.items():
                value = measurement.value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values.add_metric([reading.meter_key, obis, measurement.name,
                                       measurement.unit or ""], float(value))
        yield values
        stats = status.decoder
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
                                  "and made again", value=status.source.reconnects)
        age = status.last_reading_age
        yield GaugeMetricFamily("smartmeter_last_reading_age_seconds", "Seconds since the "
                                "last reading", value=float("nan") if age is None else age)
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
        for output in status.outputs:
            families["backlog"].add_metric([output.name], output.backlog)
            families["up"].add_metric([output.name], 1.0 if output.up else 0.0)
            families["delivered"].add_metric([output.name], output.delivered)
            families["failures"].add_metric([output.name], output.failures)
            families["dropped"].add_metric([output.name], output.dropped)
        yield from families.values()


class SummaryCollector(Collector):
    """The household's figures of today and this month, from a summary kept fresh by its
    owner (reading SQLite is not done inside a scrape)."""

    def __init__(self, summary: Callable[[], Mapping[str, Any] | None]) -> None:
        self.summary = summary

    def collect(self) -> Iterator[Metric]:
        data = self.summary()
        if not data or not data.get("meter"):
            return
        periods = data["periods"]
        for name, period in (("today", periods["today"]), ("month", periods["this_month"])):
            energy = GaugeMetricFamily(f"smartmeter_energy_{name}_wh",
                                       f"Energy of {name.replace('month', 'this month')} from "
                                       "the counters", labels=["direction"])
            for direction in ("import", "export"):
                value = period[f"{direction}_wh"]
                if value is not None:
                    energy.add_metric([direction], value)
            yield energy
            cost = period.get("cost")
            if cost:
                family = GaugeMetricFamily(f"smartmeter_cost_{name}", "Cost so far (energy, "
                                           "grid, fees, minus feed-in)", labels=["currency"])
                family.add_metric([cost["currency"]], cost["total"])
                yield family
        peak = periods["this_month"]["peak"]
        if peak:
            yield GaugeMetricFamily("smartmeter_peak_month_watts", "The month's highest "
                                    "quarter hour of import, as average power",
                                    value=peak["w"])
