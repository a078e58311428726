"""Made-up history from the simulator's value model: for the demo's page and the benchmarks.

Running a year of 1-second pushes through encryption, framing and decoding would take hours,
so the filler runs the value model itself second by second (``ValueModel.advance``) and writes
what the store would have made of those readings: the 1-minute and 15-minute aggregates.
The meter, its values' names and units come from one real simulated push, so the made-up
history joins seamlessly with what the simulator sends afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo

from ..decoder import Decoder
from ..sim.simulator import PROFILES, Sample, Simulator, ValueModel
from .store import HistoryStore

__all__ = ["fill_history"]

_KEY = bytes(range(16))  # only to decode the one push that names the meter's values
_Pick = Callable[[Sample, ValueModel], float]
_BY_NAME: dict[str, _Pick] = {
    "voltage_l1": lambda s, m: s.voltage[0], "voltage_l2": lambda s, m: s.voltage[1],
    "voltage_l3": lambda s, m: s.voltage[2], "current_l1": lambda s, m: s.current[0],
    "current_l2": lambda s, m: s.current[1], "current_l3": lambda s, m: s.current[2],
    "active_power_import": lambda s, m: s.power_import,
    "active_power_export": lambda s, m: s.power_export,
    "reactive_power_import": lambda s, m: s.reactive_import,
    "reactive_power_export": lambda s, m: s.reactive_export,
    "power_factor": lambda s, m: s.power_factor,
    # counters as the simulated meter sends them (whole Wh): a fractional last value of the
    # made-up past would be above the live meter's first one, a counter drop
    "active_energy_import": lambda s, m: round(m.energy_import),
    "active_energy_export": lambda s, m: round(m.energy_export),
    "reactive_energy_import": lambda s, m: round(m.reactive_import),
    "reactive_energy_export": lambda s, m: round(m.reactive_export),
}


def fill_history(store: HistoryStore, start: datetime, end: datetime, *, profile: str = "vkw",
                 resolution: int = 1, seed: int = 1, tz: tzinfo | None = None,
                 model: ValueModel | None = None,
                 minutes_from: datetime | None = None, meter: str | None = None) -> int:
    """Write the aggregates of readings every ``resolution`` seconds from start to end.

    ``model`` is advanced (its counters keep rising), so a simulator given the same model
    afterwards carries on where the made-up past ends; ``minutes_from``
    leaves out the 1-minute rows before it (the demo's page only shows the last hours at that
    step, and a month of them takes seconds to write). ``meter``: the name the history keeps
    it under (a configured meter's name; default: the profile's meter number). Returns the
    number of made-up readings.
    """
    if resolution < 1 or 60 % resolution:
        raise ValueError("resolution must divide a minute: 1, 2, 5, 10, 15, 20, 30 or 60 s")
    simulator = Simulator(profile, key=_KEY, seed=seed)
    tz = tz or simulator.tz
    sample = Decoder(_KEY).feed(simulator.push(start).wire)[0]
    picks = [(obis, value.name, value.unit, _BY_NAME[value.name])
             for obis, value in sample.values.items() if value.name in _BY_NAME]
    meter = meter or sample.meter_key
    first = int(start.timestamp()) // 60 * 60
    last = int(end.timestamp()) // 60 * 60
    if model is None:
        model = ValueModel(seed=seed, pv_peak=PROFILES[profile].pv_peak)
    rows: list[tuple[object, ...]] = []
    quarters: dict[tuple[int, str], list[float]] = {}
    made = 0
    minutes_start = int(minutes_from.timestamp()) if minutes_from else first
    for minute, values in _minutes(model, first, last, resolution, tz, picks):
        made += len(values[0]) if values else 0
        quarter = minute // 900 * 900
        for (obis, name, unit, _), series in zip(picks, values, strict=True):
            count, total = len(series), sum(series)
            low, high = min(series), max(series)
            if minute >= minutes_start:
                rows.append((60, minute, meter, obis, name, unit, count, total, low, high,
                             series[0], series[-1]))
            bucket = quarters.get((quarter, obis))
            if bucket is None:
                quarters[(quarter, obis)] = [count, total, low, high, series[0], series[-1]]
            else:
                bucket[0] += count
                bucket[1] += total
                bucket[2] = min(bucket[2], low)
                bucket[3] = max(bucket[3], high)
                bucket[5] = series[-1]
        if len(rows) >= 50_000:
            store.add_aggregates(rows)
            rows = []
    names = {obis: (name, unit) for obis, name, unit, _ in picks}
    rows += [(900, quarter, meter, obis, *names[obis], *bucket)
             for (quarter, obis), bucket in quarters.items()]
    store.add_aggregates(rows, [(meter, obis, name, unit) for obis, name, unit, _ in picks])
    return made


def _minutes(model: ValueModel, first: int, last: int, resolution: int, tz: tzinfo,
             picks: list[tuple[str, str, str | None, _Pick]],
             ) -> Iterator[tuple[int, list[list[float]]]]:
    offset = _Offset(tz)
    for minute in range(first, last, 60):
        hour0 = offset.local_hour(minute)
        values: list[list[float]] = [[] for _ in picks]
        for second in range(0, 60, resolution):
            sample = model.advance(hour0 + second / 3600, resolution)
            for series, (_, _, _, pick) in zip(values, picks, strict=True):
                series.append(pick(sample, model))
        yield minute, values


class _Offset:
    """Local hour of the day for a Unix minute, asking the time zone once per hour."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._hour = -1
        self._base = 0.0

    def local_hour(self, stamp: int) -> float:
        hour = stamp // 3600
        if hour != self._hour:
            local = datetime.fromtimestamp(hour * 3600, UTC).astimezone(self.tz)
            self._hour, self._base = hour, local.hour + local.minute / 60
        return self._base + (stamp % 3600) / 3600

