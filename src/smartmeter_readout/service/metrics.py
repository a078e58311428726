"""Prometheus metrics of a running service, collected when scraped (nothing kept twice).

- ``smartmeter_value{meter, obis, name, unit}``: every numeric value of the last reading;
- ``smartmeter_pushes_total{outcome}``: pushes decoded and pushes lost, by reason
  (``ok``, ``incomplete``, ``key_missing``, ``decryption_failed``, ``tag_mismatch``,
  ``unknown_layout``, ``malformed``), plus ``smartmeter_frames_bad_total``;
- ``smartmeter_reconnects_total``: connections to the meter lost and made again;
- ``smartmeter_last_reading_age_seconds``: how long ago the last reading arrived;
- with ``[[meters]]`` (or one meter given a name), the reader's counters above carry a
  ``meter`` label (its name) too;
- ``smartmeter_output_backlog{output}``, ``smartmeter_output_delivered_total{output}``,
  ``smartmeter_output_failures_total{output}``, ``smartmeter_output_dropped_total{output}``,
  ``smartmeter_output_up{output}``;
- from the history's summary (``SummaryCollector``): ``smartmeter_energy_today_wh`` and
  ``smartmeter_energy_month_wh`` ``{direction}``, ``smartmeter_peak_month_watts``, and with a
  tariff ``smartmeter_cost_today`` and ``smartmeter_cost_month`` ``{currency}``; each
  meter's, labelled ``meter`` as the counters are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..events import EventKind
from ..reading import Reading
from .service import Service, ServiceStatus

__all__ = ["ServiceCollector", "SummaryCollector"]



class ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        status = self.service.status()
        values = GaugeMetricFamily("smartmeter_value", "The last reading's values, in base "
                                   "units", labels=["meter", "obis", "name", "unit"])
        reading = status.meters[0].last_reading if len(status.meters) > 1 \
            else status.last_reading
        if reading is not None:
            _add_values(values, reading)
        if len(status.meters) > 1:
            for meter in status.meters[1:]:  # the first meter's went in above, if any
                if meter.last_reading is not None and meter.last_reading is not reading:
                    _add_values(values, meter.last_reading)
        yield values
        yield from _per_meter(status)
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


def _add_values(family: GaugeMetricFamily, reading: Reading) -> None:
    for obis, measurement in reading.values.items():
        value = measurement.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            family.add_metric([reading.meter_key, obis, measurement.name,
                               measurement.unit or ""], float(value))


def _named(names: Iterable[str]) -> bool:
    """Do a service's per-meter series carry a ``meter`` label? With ``[[meters]]``, or one
    meter given a name; one meter without a name keeps the series it always had."""
    return any(names)


def _per_meter(status: ServiceStatus) -> Iterator[Metric]:
    """The reader's counters: as they were for one meter without a name; else each
    labelled with its meter's name."""
    named = _named(m.name for m in status.meters)
    meters = status.meters if named else ()
    by = ["meter"] if named else []
    pushes = CounterMetricFamily("smartmeter_pushes", "Pushes by outcome",
                                 labels=[*by, "outcome"])
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
        "bad": CounterMetricFamily("smartmeter_frames_bad", "Link frames with failed checks",
                                   labels=by),
        "implausible": CounterMetricFamily("smartmeter_implausible_values", "Readings whose "
                                           "values do not fit each other (units of the list "
                                           "not known?)", labels=by),
        "reconnects": CounterMetricFamily("smartmeter_reconnects", "Connections to the meter "
                                          "lost and made again", labels=by),
        "age": GaugeMetricFamily("smartmeter_last_reading_age_seconds", "Seconds since the "
                                 "last reading", labels=by),
    }
    rows = [([m.name], m.decoder, m.source.reconnects, m.last_reading_age) for m in meters] \
        or [([], status.decoder, status.source.reconnects, status.last_reading_age)]
    for labels, stats, reconnects, age in rows:
        for outcome, count in stats.outcomes.items():
            pushes.add_metric([*labels, outcome], count)
        families["bad"].add_metric(labels, stats[EventKind.BAD_FRAME]  # and those cut short
                                   + stats[EventKind.CUT_SHORT])
        families["implausible"].add_metric(labels, stats[EventKind.IMPLAUSIBLE])
        families["reconnects"].add_metric(labels, reconnects)
        families["age"].add_metric(labels, float("nan") if age is None else age)
    yield pushes
    yield from families.values()


class SummaryCollector(Collector):
    """The household's figures of today and this month, each meter's, from summaries kept
    fresh by their owner (reading SQLite is not done inside a scrape): ``summaries`` gives
    them by meter name ("" for the one meter of a config that names none)."""

    def __init__(self, summaries: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self.summaries = summaries

    def collect(self) -> Iterator[Metric]:
        found = {name: data for name, data in self.summaries().items()
                 if data and data.get("meter")}
        if not found:
            return
        by = ["meter"] if _named(found) else []
        families: dict[str, GaugeMetricFamily] = {}

        def family(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
            if name not in families:
                families[name] = GaugeMetricFamily(name, text, labels=[*by, *labels])
            return families[name]

        for meter, data in found.items():
            mine = [meter] if by else []
            periods = data["periods"]
            for name, period in (("today", periods["today"]),
                                 ("month", periods["this_month"])):
                energy = family(f"smartmeter_energy_{name}_wh", "Energy of "
                                f"{name.replace('month', 'this month')} from the counters",
                                ["direction"])
                for direction in ("import", "export"):
                    value = period[f"{direction}_wh"]
                    if value is not None:
                        energy.add_metric([*mine, direction], value)
                cost = period.get("cost")
                if cost:
                    family(f"smartmeter_cost_{name}", "Cost so far (energy, grid, fees, "
                           "minus feed-in)", ["currency"]).add_metric(
                               [*mine, cost["currency"]], cost["total"])
            peak = periods["this_month"]["peak"]
            if peak:
                family("smartmeter_peak_month_watts", "The month's highest quarter hour of "
                       "import, as average power", []).add_metric(mine, peak["w"])
        yield from families.values()
