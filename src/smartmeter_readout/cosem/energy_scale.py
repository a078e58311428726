"""Is an energy counter's unit right? Its rise against the integral of its power, over time.

One push cannot show a wrong energy unit: 8582328 is as plausible in Wh as in 10 Wh. Time
can. Between two pushes that carry a counter, the counter must rise by the integral of the
power that drives it (1.8 with 1.7, 2.8 with 2.7, 3.8 with 3.7, 4.8 with 4.7; a list without
the total counter is judged by the sum of its tariff counters). Swedish and Norwegian Kamstrup
meters send the same list without scalers, one counting Wh and the other 10 Wh: the rise of
one of them is ten times the integral of its power.

The rule (the constants below). The power is integrated by trapezoids between samples; a
sample is a push at least ``MIN_STEP`` (30 s) after the last one, or one of another shape
(Kamstrup's hourly list with the counters among its 10 s lists): a power sampled every few
seconds adds nothing over a quarter hour but time. Samples more than ``MAX_GAP`` (65 min)
apart, or more than four times the previous spacing and over two minutes, break the chain:
what happened in a gap is unknown, and the window starts again at the next push with the
counter. A window is judged at a push with the counter once it spans at least 15 minutes,
the integrated energy is at least 100 Wh, the mean power at least 20 W (a quiet house, its
power rounded to whole watts, gives no verdict) and the counter rose by at least 20 of its
steps (its last digit: the rounding of two readings cannot fake a decade). Its ratio
(counter rise / integrated energy) is clear where it lies within +-30 % of a power of ten
(0.7-1.3, 7-13, 0.07-0.13 ...); an unclear window grows until it is clear or the chain
breaks. Two consecutive clear windows that name the same power of ten other than 1 make a
verdict; two that name 1 take it back.

A verdict is reported once (``implausible_values``, naming the counter and the factor). Where
the reader implied the unit (the body sent no scaler: layouts C and E, the built-in
positional layouts), the physics wins: this meter's energy counters are scaled by the factor
from then on (a counter with a verdict of its own keeps that one), and that decision is the
event's sentence. A scaler the meter sends, or one a user's layout states, is never
overruled. Per push the work is a few float operations per pair and no history is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from ..message import N_, Message
from ..reading import Measurement, MeterIdentity, Reading
from .catalog import CATALOG

__all__ = ["EnergyScale", "units_implied"]

MIN_STEP = 30.0  # s between samples (closer pushes of the same shape are skipped)
MAX_GAP = 3900.0  # s: a longer gap between samples breaks the chain (power sampled hourly)
GAP_FACTOR = 4.0  # a gap this many times the previous spacing breaks it too ...
GAP_FLOOR = 120.0  # ... where it is longer than this (a few lost 10 s pushes do not)
MIN_WINDOW = 900.0  # s: a quarter hour at least
MIN_ENERGY = 100.0  # Wh (varh) integrated from the power
MIN_MEAN_POWER = 20.0  # W (var) over the window
MIN_STEPS = 20  # the counter rose by at least this many of its last digit
TOLERANCE = 0.3  # a clear ratio lies within +-30 % of a power of ten
WINDOWS = 2  # consecutive clear windows that make (or take back) a verdict
_MAX_METERS = 16
_SKIP = timedelta(seconds=MIN_STEP)

#: layouts whose units this reader supplied: no scaler came with the values
_IMPLIED_LAYOUTS = frozenset(("C", "E", *(name for name, *_ in CATALOG)))


def units_implied(reading: Reading) -> bool:
    """Did this reader, not the meter, give the reading's numbers their units? Layouts C and E
    (maker tables of ``implied_units``) and the built-in positional layouts (``catalog``)."""
    return reading.layout in _IMPLIED_LAYOUTS


class _Pair:
    """One counter and its power: the chain of samples and the open window."""

    __slots__ = ("anchor", "anchor_t", "c", "candidate", "energy", "last_dt", "p", "power_key",
                 "step", "streak", "t", "verdict")

    def __init__(self, c: int) -> None:
        self.c = c
        self.power_key = ""
        self.t: float | None = None  # last power sample: seconds since the meter's origin
        self.p = 0.0
        self.last_dt = 0.0
        self.anchor: float | None = None  # counter value where the window opened
        self.anchor_t = 0.0
        self.energy = 0.0  # integrated power since the anchor, in 2 W s (trapezoids)
        self.step = math.inf  # the counter's last digit, as small as seen
        self.candidate = 0  # power of ten the last clear windows named
        self.streak = 0
        self.verdict = 0  # power of ten in force (0: the counter fits its power)


class _Meter:
    __slots__ = ("correcting", "due", "implied", "last", "origin", "own", "pairs", "plan",
                 "scale_of", "size", "verdict")

    def __init__(self, origin: datetime) -> None:
        self.origin = origin
        self.last = origin  # the last moment sampled
        self.due = origin  # the next moment worth a sample
        self.size = -1
        # per shape: (pair, power key or "", energy keys); rebuilt when the shape changes
        self.plan: list[tuple[_Pair, str, tuple[str, ...]]] = []
        self.pairs: dict[int, _Pair] = {}
        self.implied = False
        self.correcting = False
        self.verdict = 0  # the latest verdict: applied to counters without one of their own
        self.own: dict[str, int] = {}  # counter key -> its own verdict (implied units only)
        self.scale_of: dict[str, int] = {}  # key -> power of ten applied (a cache)


def _code(key: str) -> tuple[int, int, int] | None:
    """(C, D, E) of an electricity code ``1.b.C.D.E.f``; None for anything else."""
    parts = key.split(".")
    if len(parts) != 6 or parts[0] != "1" or ":" in key:
        return None
    try:
        return int(parts[2]), int(parts[3]), int(parts[4])
    except ValueError:
        return None


def _plan(meter: _Meter, values: Mapping[str, Measurement]
          ) -> list[tuple[_Pair, str, tuple[str, ...]]]:
    power: dict[int, str] = {}
    totals: dict[int, str] = {}
    tariffs: dict[int, list[str]] = {}
    for key, measurement in values.items():
        code = _code(key)
        if code is None or type(measurement.value) not in (int, float):
            continue
        c, d, e = code
        if c not in (1, 2, 3, 4):
            continue
        if d == 7 and e == 0:
            power.setdefault(c, key)
        elif d == 8 and e == 0:
            totals.setdefault(c, key)
        elif d == 8 and 0 < e < 10:
            tariffs.setdefault(c, []).append(key)
    plan = []
    for c in (1, 2, 3, 4):
        energy = (totals[c],) if c in totals else tuple(tariffs.get(c, ()))
        pair = meter.pairs.get(c)
        if c not in power and (pair is None or pair.t is None):
            continue  # a counter whose power this meter never sent cannot be judged
        if pair is None:
            pair = meter.pairs[c] = _Pair(c)
        if c in power:
            pair.power_key = power[c]
        plan.append((pair, power.get(c, ""), energy))
    return plan


def _resolution(value: float) -> float:
    """The counter's last digit: 10 for 1234560, 1 for 1234567, 0.01 for 1234.56."""
    if isinstance(value, int) or value.is_integer():
        number, step = abs(int(value)), 1.0
        while number and number % 10 == 0 and step < 1000:
            number //= 10
            step *= 10
        return step
    exponent = Decimal(repr(value)).as_tuple().exponent
    return 10.0 ** exponent if isinstance(exponent, int) else 1.0


def _scaled(value: float, power: int) -> float:
    """``value x 10**power``, exact in decimal (2360 x 10**-1 is 236, 23.6 x 10 is 236.0)."""
    if isinstance(value, int) and power >= 0:
        return value * int(10**power)
    if isinstance(value, int):
        divisor = int(10**-power)
        return value // divisor if value % divisor == 0 else value / divisor
    return float(Decimal(repr(value)).scaleb(power))


def _how(power: int) -> Message:
    if power > 0:
        return Message(N_("{factor:g}x too large"), factor=10.0**power)
    return Message(N_("{factor:g}x too small"), factor=10.0**-power)


class EnergyScale:
    """Follows the counters of the meters of one decoder; ``report`` receives the sentences."""

    __slots__ = ("_last", "_last_meter", "_meters", "_report")

    def __init__(self, report: Callable[[Message], None]) -> None:
        self._report = report
        self._meters: dict[object, _Meter] = {}
        self._last_meter: MeterIdentity | None = None
        self._last: _Meter | None = None

    def follow(self, readings: list[Reading]) -> list[Reading]:
        """Judge each reading, and scale the counters of a meter whose unit physics fixed
        (the list is changed in place and returned)."""
        for index, reading in enumerate(readings):
            moment = reading.time if reading.meter_time else reading.received
            if moment is None:
                continue
            meter = self._last
            if reading.meter is not self._last_meter or meter is None:
                meter = self._meter(reading, moment)
            if not meter.last <= moment < meter.due or len(reading.values) != meter.size:
                try:
                    self._sample(meter, reading, moment)
                except (ArithmeticError, TypeError, ValueError):  # a damaged value: no sample,
                    meter.size = -1  # and a new plan at the next push
            if meter.correcting:
                readings[index] = self._corrected(meter, reading)
        return readings

    def _meter(self, reading: Reading, moment: datetime) -> _Meter:
        identity = reading.meter
        key = identity.id or identity.system_title
        meter = self._meters.get(key)
        if meter is None:
            if len(self._meters) >= _MAX_METERS:
                self._meters.clear()
            meter = self._meters[key] = _Meter(moment)
        self._last_meter, self._last = identity, meter
        return meter

    def _sample(self, meter: _Meter, reading: Reading, moment: datetime) -> None:
        """One sample: integrate each power since its last sample, judge the counters. This
        runs for a busy decoder's pushes: calls and lookups are kept few on purpose."""
        values = reading.values
        if len(values) != meter.size:
            meter.size = len(values)
            meter.plan = _plan(meter, values)
            meter.implied = units_implied(reading)
        meter.last, meter.due = moment, moment + _SKIP
        now = (moment - meter.origin).total_seconds()
        for pair, power_key, energy_keys in meter.plan:
            if power_key:
                measurement = values.get(power_key)
                if measurement is not None:
                    power = float(measurement.value)
                    last = pair.t
                    dt = now - last if last is not None else 0.0
                    if dt > 0:
                        if dt > MAX_GAP or (dt > GAP_FLOOR and 0 < GAP_FACTOR * pair.last_dt < dt):
                            pair.anchor = None  # a gap: what happened in it is unknown
                        else:
                            pair.energy += (pair.p + power) * dt  # trapezoids, in 2 W s
                        pair.last_dt = dt
                        pair.t, pair.p = now, power
                    elif dt < 0 or last is None:  # the clock went back, or a first sample
                        pair.anchor = None
                        pair.t, pair.p = now, power
            if energy_keys:
                if len(energy_keys) == 1:
                    counter = values.get(energy_keys[0])
                    number = counter.value if counter is not None else None
                else:
                    number = self._sum(values, energy_keys)
                if number is None or isinstance(number, str):
                    continue
                anchor = pair.anchor
                if anchor is None or number < anchor or now - pair.anchor_t >= MIN_WINDOW:
                    self._counter(meter, pair, number, energy_keys, now)

    @staticmethod
    def _sum(values: Mapping[str, Measurement], keys: tuple[str, ...]) -> float | None:
        """The total of a list that sends only tariff counters."""
        total = 0.0
        for key in keys:
            counter = values.get(key)
            number = counter.value if counter is not None else None
            if number is None or isinstance(number, str):
                return None
            total += number
        return total

    def _counter(self, meter: _Meter, pair: _Pair, value: float, keys: tuple[str, ...],
                 now: float) -> None:
        anchor = pair.anchor
        if anchor is None or pair.t is None or value < anchor:  # no window yet, or a reset
            pair.anchor, pair.anchor_t, pair.energy = value, now, 0.0
            pair.step = min(pair.step, _resolution(value))
            return
        span = now - pair.anchor_t
        energy = pair.energy / 7200.0  # Wh
        if (span < MIN_WINDOW or not MIN_ENERGY <= energy < math.inf
                or energy * 3600.0 < MIN_MEAN_POWER * span):
            return
        rise = value - anchor
        pair.step = step = min(pair.step, _resolution(value))
        if not MIN_STEPS * step <= rise < math.inf:
            return
        ratio = rise / energy
        power = round(math.log10(ratio))
        if abs(ratio / 10.0**power - 1.0) > TOLERANCE:
            return  # not clear yet: the window grows
        pair.anchor, pair.anchor_t, pair.energy = value, now, 0.0
        if power != pair.candidate:
            pair.candidate, pair.streak = power, 0
        pair.streak += 1
        if pair.streak >= WINDOWS and power != pair.verdict:
            pair.verdict = power
            self._decide(meter, pair, keys, rise, energy, span)

    def _decide(self, meter: _Meter, pair: _Pair, keys: tuple[str, ...], rise: float,
                energy: float, span: float) -> None:
        counter = keys[0] if len(keys) == 1 else "+".join(keys)
        unit = "kvarh" if pair.c in (3, 4) else "kWh"
        facts = {"obis": counter, "rise": rise / 1000, "energy": energy / 1000, "unit": unit,
                 "hours": span / 3600, "power": pair.power_key}
        verdict = pair.verdict
        if not meter.implied:
            if verdict:
                self._report(Message(N_(
                    "energy counter {obis} rose {rise:.2f} {unit} in {hours:.1f} h while its "
                    "power {power} adds up to {energy:.2f} {unit}: the counter looks {how}. "
                    "The meter sends its own scaler, so its values are kept; please record "
                    "pushes with `record --redact` and report it."), how=_how(verdict), **facts))
            return
        for key in keys:
            meter.own[key] = verdict
        meter.verdict = verdict  # every energy counter of a list shares the table's unit
        meter.scale_of.clear()
        meter.correcting = bool(verdict) or any(meter.own.values())
        if verdict:
            self._report(Message(N_(
                "energy counter {obis} rose {rise:.2f} {unit} in {hours:.1f} h while its power "
                "{power} adds up to {energy:.2f} {unit}: the counter looks {how}. The meter "
                "sends no unit for it, so this reader takes the one the power says: this "
                "meter's energy counters are multiplied by {factor:g} from now on."),
                how=_how(verdict), factor=10.0**-verdict, **facts))
        else:
            self._report(Message(N_(
                "energy counter {obis} fits its power {power} again ({rise:.2f} {unit} "
                "against {energy:.2f} {unit} in {hours:.1f} h): its values are taken as "
                "sent from now on."), **facts))

    @staticmethod
    def _corrected(meter: _Meter, reading: Reading) -> Reading:
        values = reading.values
        scale_of = meter.scale_of
        changed: dict[str, Measurement] = {}
        for key, measurement in values.items():
            power = scale_of.get(key)
            if power is None:
                code = _code(key)
                power = scale_of[key] = (meter.own.get(key, meter.verdict)
                                         if code is not None and code[1] == 8 else 0)
            number = measurement.value
            if power and not isinstance(number, str):
                changed[key] = measurement._replace(value=_scaled(number, -power))
        if not changed:
            return reading
        return replace(reading, values={**values, **changed})
