"""Do a push's numbers fit each other? How an unknown list shows itself.

A meter's values constrain each other: the apparent power of the phases (voltage x current)
is at least the active and reactive power the meter reports, and for an ordinary load not
dozens of times more; a mains voltage lies between 80 and 500 V, a frequency between 45 and
65 Hz, a power factor within +-1; energy counters never run backwards. A list whose units
we guessed wrong breaks one of these by a power of ten, which names the fix.

``PlausibilityCheck.check(values)`` returns ``Finding``s (value, factor that would make it
fit, one sentence). It keeps the per-shape plan (which key is which quantity) and the last
counter values, so the per-push work is a few multiplications.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..message import N_, Message
from ..reading import Measurement, Value

__all__ = ["Finding", "PlausibilityCheck"]

_VOLTAGE_RANGE = (80.0, 500.0)
_FREQUENCY_RANGE = (45.0, 65.0)
# apparent power may exceed |P + jQ| (distortion, rounding, phases that cancel) but not by
# these factors: a tenfold scale error of the currents gives at least ten times more
_RATIO_ONE_PHASE = 25.0
_RATIO_PHASES_CANCEL = 60.0
_SLACK_VA = 150.0  # standby loads with poor power factor, and the rounding of small values


@dataclass(frozen=True, slots=True)
class Finding:
    key: str  # the OBIS code (or the first of a group) that does not fit
    factor: float | None  # multiply the value by this to make it fit, where a power of ten does
    message: str


def _fmt(factor: float | None) -> Message:
    if factor is None:
        return Message(N_("wrong by more than any power of ten explains"))
    if factor >= 1:
        return Message(N_("{factor:g}x too small"), factor=factor)
    return Message(N_("{factor:g}x too large"), factor=1 / factor)


def _decade(ratio: float) -> float | None:
    """The power of ten nearest ``ratio``; None where no power of ten can say it (a value of
    0, infinity or NaN from a damaged body)."""
    if not math.isfinite(ratio) or ratio <= 0:
        return None
    exponent = round(math.log10(ratio))
    return float(10.0**exponent) if -300 < exponent < 300 else None


def _float(value: Value) -> float:
    """A measurement as a float; a number too large for one is infinite (it fails a check),
    text is NaN (the plan leaves text out, see ``check``)."""
    if isinstance(value, str):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf


@dataclass(frozen=True, slots=True)
class _Plan:
    voltages: tuple[tuple[str, str | None], ...]  # per phase: (current key, voltage key)
    power: tuple[str | None, str | None]  # import, export
    reactive: tuple[str | None, str | None]
    phase_power: tuple[tuple[str | None, str | None], ...]
    voltage_keys: tuple[str, ...]
    frequency: str | None
    power_factors: tuple[str, ...]
    counters: tuple[str, ...]


def _plan(values: Mapping[str, Measurement]) -> _Plan:
    by_code: dict[tuple[int, int, int], str] = {}
    counters = []
    for key, measurement in values.items():
        if ":" in key or not isinstance(measurement.value, int | float):
            continue
        parts = key.split(".")
        if len(parts) != 6 or parts[0] != "1":
            continue
        c, d, e = int(parts[2]), int(parts[3]), int(parts[4])
        by_code.setdefault((c, d, e), key)
        if d == 8:
            counters.append(key)
    phases = []
    phase_power = []
    for current_c, voltage_c, power_c in ((31, 32, 21), (51, 52, 41), (71, 72, 61)):
        current = by_code.get((current_c, 7, 0))
        if current is not None:
            phases.append((current, by_code.get((voltage_c, 7, 0))))
            phase_power.append((by_code.get((power_c, 7, 0)), by_code.get((power_c + 1, 7, 0))))
    per_phase_known = all(imp is not None for imp, _ in phase_power) and bool(phase_power)
    return _Plan(
        voltages=tuple(phases),
        power=(by_code.get((1, 7, 0)), by_code.get((2, 7, 0))),
        reactive=(by_code.get((3, 7, 0)), by_code.get((4, 7, 0))),
        phase_power=tuple(phase_power) if per_phase_known else (),
        voltage_keys=tuple(by_code[code] for code in ((12, 7, 0), (32, 7, 0), (52, 7, 0),
                                                      (72, 7, 0)) if code in by_code),
        frequency=by_code.get((14, 7, 0)),
        power_factors=tuple(by_code[code] for code in ((13, 7, 0), (33, 7, 0), (53, 7, 0),
                                                       (73, 7, 0)) if code in by_code),
        counters=tuple(counters),
    )


class PlausibilityCheck:
    """Checks readings of one meter, push after push."""

    __slots__ = ("_counters", "_plan", "_shape")

    def __init__(self) -> None:
        self._shape: tuple[str, ...] = ()
        self._plan: _Plan | None = None
        self._counters: dict[object, dict[str, float]] = {}

    def check(self, values: Mapping[str, Measurement], meter: object = None) -> list[Finding]:
        """Findings for one reading; ``meter`` (any hashable identity) keeps counters apart."""
        # the plan holds numbers only: a value that turned to text (a damaged DSMR line)
        # makes a new shape, so it is never read as a number
        shape = tuple(k for k, m in values.items() if not isinstance(m.value, str))
        if shape != self._shape or self._plan is None:
            self._shape, self._plan = shape, _plan(values)
        plan = self._plan
        findings: list[Finding] = []
        voltages_ok = self._ranges(values, plan, findings)
        if voltages_ok:
            self._power(values, plan, findings)
        self._counters_rise(values, plan, findings, meter)
        return findings

    # -------------------------------------------------------------- single values

    @staticmethod
    def _ranges(values: Mapping[str, Measurement], plan: _Plan, findings: list[Finding]) -> bool:
        ok = True
        low, high = _VOLTAGE_RANGE
        for key in plan.voltage_keys:
            volts = _float(values[key].value)
            if volts and not low <= volts <= high:  # NaN is outside too
                factor = _decade(230.0 / volts)
                findings.append(Finding(key, factor, Message(N_(
                    "voltage {obis} = {volts:g} V is no mains voltage: it looks {how}"),
                    obis=key, volts=volts, how=_fmt(factor))))
                ok = False
        if plan.frequency is not None:
            hertz = _float(values[plan.frequency].value)
            if hertz and not _FREQUENCY_RANGE[0] <= hertz <= _FREQUENCY_RANGE[1]:
                factor = _decade(50.0 / hertz)
                findings.append(Finding(plan.frequency, factor, Message(N_(
                    "frequency = {hertz:g} Hz is no mains frequency: it looks {how}"),
                    hertz=hertz, how=_fmt(factor))))
        for key in plan.power_factors:
            measurement = values[key]
            factor_value = _float(measurement.value)
            if measurement.unit == "%":
                factor_value /= 100
            if not abs(factor_value) <= 1.0005:  # NaN fails too
                factor = _decade(1 / abs(factor_value)) if abs(factor_value) > 5 else 0.1
                findings.append(Finding(key, factor, Message(N_(
                    "power factor {obis} = {value:g} lies outside ±1: it looks {how}"),
                    obis=key, value=_float(measurement.value), how=_fmt(factor))))
        return ok

    # -------------------------------------------------------------- power against U x I

    @staticmethod
    def _power(values: Mapping[str, Measurement], plan: _Plan, findings: list[Finding]) -> None:
        if not plan.voltages:
            return

        def number(key: str | None) -> float:
            return _float(values[key].value) if key is not None else 0.0

        apparent = []
        for current_key, voltage_key in plan.voltages:
            volts = number(voltage_key) if voltage_key is not None else 230.0
            apparent.append(abs(volts * number(current_key)))
        first_current = plan.voltages[0][0]
        if plan.phase_power:
            pairs = [(apparent[i], abs(number(imp) - number(exp)))
                     for i, (imp, exp) in enumerate(plan.phase_power)]
            ratio = _RATIO_ONE_PHASE
        else:
            if plan.power[0] is None:
                return
            active = number(plan.power[0]) - number(plan.power[1])
            reactive = number(plan.reactive[0]) - number(plan.reactive[1])
            pairs = [(sum(apparent), math.hypot(active, reactive))]
            loaded = sum(1 for each in apparent if each > _SLACK_VA)
            ratio = _RATIO_ONE_PHASE if loaded <= 1 else _RATIO_PHASES_CANCEL
        total_apparent = sum(s for s, _ in pairs)
        total_power = sum(p for _, p in pairs)
        for phase_apparent, power in pairs:
            if power > phase_apparent * 1.1 + _SLACK_VA:
                factor = _decade(total_power / total_apparent) if total_apparent else None
                findings.append(Finding(first_current, factor, Message(N_(
                    "the power ({power:g} W, var) is more than voltage x current allows "
                    "({apparent:g} VA): currents look {how} (or power too large)"),
                    power=total_power, apparent=total_apparent,
                    how=_fmt(factor) if factor else Message(N_("missing")))))
                return
            if phase_apparent > power * ratio + _SLACK_VA:
                factor = _decade(max(total_power, 1.0) / total_apparent)
                findings.append(Finding(first_current, factor, Message(N_(
                    "voltage x current ({apparent:g} VA) is far more than the power "
                    "({power:g} W, var): currents look {how}"),
                    apparent=total_apparent, power=total_power, how=_fmt(factor))))
                return

    # -------------------------------------------------------------- counters

    def _counters_rise(self, values: Mapping[str, Measurement], plan: _Plan,
                       findings: list[Finding], meter: object) -> None:
        last = self._counters.get(meter)
        if last is None:
            if len(self._counters) >= 16:  # one stream rarely carries more meters
                self._counters.clear()
            last = self._counters[meter] = {}
        for key in plan.counters:
            value = _float(values[key].value)
            before = last.get(key)
            if before is not None and value < before:
                findings.append(Finding(key, None, Message(N_(
                    "counter {obis} ran backwards from {before:g} to {value:g}"),
                    obis=key, before=before, value=value)))
            last[key] = value
