"""A session's meter timeline cut into segments on which every tariff restriction is constant.

``build_segments`` validates the samples (:class:`PricingInputError` for anything it cannot
price) and splits the session at every instant where some restriction of the tariff could
switch: the samples themselves (power and current change there), local wall-clock times
(``start_time``/``end_time`` and midnight for dates and weekdays, DST-correct), durations
since the session start (``min_duration``/``max_duration``) and energy since the session start
(``min_kwh``/``max_kwh``, the crossing instant interpolated linearly inside an interval).
Extra cuts are harmless (the engine merges equal neighbours into one charging period); a
missing one would misprice, so candidates are generous.

Every restriction is then evaluated at a segment's *midpoint*. No boundary lies inside a
segment, so the midpoint sees the same state as every other instant of it, and inclusive and
exclusive bounds come out right without comparing boundary instants (``max_kwh`` at exactly
the crossing is already past; ``end_time`` exclusive) and without caring how a crossing instant
was rounded to the microsecond.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from billing.pricing.tariff import Tariff

# A guard, not a business rule: local-time boundaries are enumerated day by day, so an absurd
# span (a typo'd year) would cost minutes. No real session lasts a year.
MAX_SESSION = dt.timedelta(days=366)
# Interpolated registers are kept to a micro-Wh: fine enough for any meter, and a fixed
# quantum makes the periods' energies telescope exactly to the session's total.
ENERGY_QUANTUM = Decimal("0.000001")
_US = dt.timedelta(microseconds=1)
# Guards against hostile input, not business rules: a bigger number would not fit the 60 digits
# the engine computes with (a register of 1e70 Wh to the micro-Wh), and an instant this close
# to datetime's range would overflow when the engine looks a day or a session further.
MAX_VALUE = Decimal(10) ** 18
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC) + dt.timedelta(days=2)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC) - MAX_SESSION - dt.timedelta(days=2)


class PricingInputError(ValueError):
    """The session cannot be priced as given; the message says why."""


@dataclass(frozen=True)
class MeterSample:
    """One meter reading. ``energy_wh`` is the cumulative import register (it never goes
    down); ``power_w`` and ``current_a`` (the sum over all phases, as OCPI's current
    restrictions mean it) are the instantaneous values at ``timestamp`` and hold until the
    next sample."""

    timestamp: dt.datetime
    energy_wh: Decimal
    power_w: Decimal | None = None
    current_a: Decimal | None = None


@dataclass(frozen=True)
class Segment:
    """A stretch of the session on which nothing the tariff looks at changes.

    ``power_kw`` is the sample's power, or the interval's average when the sample has none
    (what the energy register proves was delivered); ``current_a`` is None when unknown.
    ``local``, ``elapsed_s`` and ``session_kwh`` describe the midpoint."""

    start: dt.datetime
    end: dt.datetime
    energy_start_wh: Decimal
    energy_end_wh: Decimal
    charging: bool
    power_kw: Decimal
    current_a: Decimal | None
    local: dt.datetime
    elapsed_s: Decimal
    session_kwh: Decimal

    @property
    def seconds(self) -> Decimal:
        return seconds(self.end - self.start)

    @property
    def energy_wh(self) -> Decimal:
        return self.energy_end_wh - self.energy_start_wh


@dataclass(frozen=True)
class _Interval:
    start: dt.datetime
    end: dt.datetime
    energy_start: Decimal
    energy_end: Decimal
    power_w: Decimal | None
    current_a: Decimal | None

    def energy_at(self, instant: dt.datetime) -> Decimal:
        if instant >= self.end:
            return self.energy_end
        if instant <= self.start:
            return self.energy_start
        fraction = micros(instant - self.start) / micros(self.end - self.start)
        rose = (self.energy_end - self.energy_start) * fraction
        return (self.energy_start + rose).quantize(ENERGY_QUANTUM, ROUND_HALF_EVEN)


def seconds(delta: dt.timedelta) -> Decimal:
    """A timedelta as exact Decimal seconds."""
    return micros(delta) / Decimal(1_000_000)


def micros(delta: dt.timedelta) -> Decimal:
    return Decimal((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _number(value: object, what: str, *, optional: bool = False) -> Decimal | None:
    if value is None and optional:
        return None
    # bool is an int; a float in money code is a bug upstream: both refused, not guessed at.
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise PricingInputError(f"{what} must be a Decimal, got {type(value).__name__}.")
    number = Decimal(value)
    if not number.is_finite():
        raise PricingInputError(f"{what} must be a finite number, got {number}.")
    if abs(number) >= MAX_VALUE:
        raise PricingInputError(f"{what} is too large ({number}): at most {MAX_VALUE}.")
    return number


def _aware_utc(value: object, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise PricingInputError(f"{what} must be a datetime, got {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PricingInputError(f"{what} must be timezone-aware (UTC), got naive {value}.")
    try:
        moment = value.astimezone(dt.UTC)
    except OverflowError:
        moment = None
    if moment is None or not _EARLIEST <= moment <= _LATEST:
        raise PricingInputError(f"{what} is out of range ({value.isoformat()}).")
    return moment


def _clean_samples(samples: Sequence[MeterSample]) -> list[MeterSample]:
    """The samples in UTC with Decimal values, checked; exact duplicates dropped."""
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Iterable):
        raise PricingInputError("samples must be a sequence of MeterSample.")
    cleaned: list[MeterSample] = []
    for index, sample in enumerate(samples):
        what = f"samples[{index}]"
        if not isinstance(sample, MeterSample):
            raise PricingInputError(f"{what} must be a MeterSample, got {type(sample).__name__}.")
        current = MeterSample(
            timestamp=_aware_utc(sample.timestamp, f"{what}.timestamp"),
            energy_wh=_number(sample.energy_wh, f"{what}.energy_wh") or Decimal(0),
            power_w=_number(sample.power_w, f"{what}.power_w", optional=True),
            current_a=_number(sample.current_a, f"{what}.current_a", optional=True),
        )
        if cleaned:
            previous = cleaned[-1]
            if current.timestamp < previous.timestamp:
                raise PricingInputError(
                    f"{what} ({current.timestamp.isoformat()}) is earlier than the sample "
                    f"before it ({previous.timestamp.isoformat()}): samples must be in order."
                )
            if current.energy_wh < previous.energy_wh:
                raise PricingInputError(
                    f"{what}.energy_wh went down ({previous.energy_wh} -> "
                    f"{current.energy_wh}): it is a cumulative register."
                )
            if current.timestamp == previous.timestamp:
                if current.energy_wh != previous.energy_wh:
                    raise PricingInputError(
                        f"{what} has the timestamp of the sample before it but another "
                        "energy_wh: energy cannot rise in no time."
                    )
                continue  # the same reading twice (stations repeat them): one is enough
        cleaned.append(current)
    if not cleaned:
        raise PricingInputError("At least one meter sample is needed.")
    return cleaned


def _intervals(samples: list[MeterSample], start: dt.datetime, end: dt.datetime) -> list[_Interval]:
    """Sample to sample; before the first sample and after the last nothing was metered, so
    the register stands still there (parking), with the last sample's power and current
    holding after it and none known before the first."""
    intervals: list[_Interval] = []
    first = samples[0]
    if start < first.timestamp:
        intervals.append(
            _Interval(start, first.timestamp, first.energy_wh, first.energy_wh, None, None)
        )
    for left, right in itertools.pairwise(samples):
        intervals.append(
            _Interval(
                left.timestamp,
                right.timestamp,
                left.energy_wh,
                right.energy_wh,
                left.power_w,
                left.current_a,
            )
        )
    last = samples[-1]
    if end > last.timestamp or not intervals:
        intervals.append(
            _Interval(
                last.timestamp, end, last.energy_wh, last.energy_wh, last.power_w, last.current_a
            )
        )
    return intervals


def _local_boundaries(
    tariff: Tariff, zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """UTC instants where a wall-clock restriction may switch: each restriction time and
    midnight on every local day of the session, in both folds (an hour that repeats in
    autumn crosses twice), plus the zone's offset changes (a time skipped in spring switches at
    the jump itself)."""
    times = {dt.time(0, 0)}
    for element in tariff.elements:
        restrictions = element.restrictions
        if restrictions is not None:
            times.update(t for t in (restrictions.start_time, restrictions.end_time) if t)
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last_day = end.astimezone(zone).date() + dt.timedelta(days=1)
    found: set[dt.datetime] = set()
    while day <= last_day:
        for time in times:
            for fold in (0, 1):
                local = dt.datetime.combine(day, time, tzinfo=zone).replace(fold=fold)
                found.add(local.astimezone(dt.UTC))
        day += dt.timedelta(days=1)
    ordered = sorted(found)
    for left, right in itertools.pairwise(ordered):
        if left.astimezone(zone).utcoffset() != right.astimezone(zone).utcoffset():
            found.add(_offset_change(zone, left, right))
    return sorted(t for t in found if start < t < end)


def _offset_change(zone: ZoneInfo, left: dt.datetime, right: dt.datetime) -> dt.datetime:
    """The first instant in (left, right] with right's UTC offset, to the microsecond."""
    target = right.astimezone(zone).utcoffset()
    low, high = left, right
    while high - low > _US:
        middle = low + (high - low) / 2  # timedelta / 2 rounds to the microsecond
        if middle.astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high


def _energy_crossings(tariff: Tariff, interval: _Interval, baseline: Decimal) -> list[dt.datetime]:
    thresholds: set[Decimal] = set()
    for element in tariff.elements:
        restrictions = element.restrictions
        if restrictions is not None:
            for kwh in (restrictions.min_kwh, restrictions.max_kwh):
                if kwh is not None:
                    thresholds.add(baseline + Decimal(kwh) * 1000)
    found: list[dt.datetime] = []
    rose = interval.energy_end - interval.energy_start
    for threshold in thresholds:
        if interval.energy_start < threshold < interval.energy_end:
            share = (threshold - interval.energy_start) / rose
            offset = (micros(interval.end - interval.start) * share).to_integral_value(
                ROUND_HALF_EVEN
            )
            found.append(interval.start + dt.timedelta(microseconds=int(offset)))
    return found


def _duration_boundaries(tariff: Tariff, start: dt.datetime) -> set[dt.datetime]:
    found: set[dt.datetime] = set()
    for element in tariff.elements:
        restrictions = element.restrictions
        if restrictions is not None:
            for duration in (restrictions.min_duration, restrictions.max_duration):
                if duration is not None and 0 < duration < MAX_SESSION.total_seconds():
                    found.add(start + dt.timedelta(seconds=duration))
    return found


def build_segments(
    *,
    tariff: Tariff,
    samples: Sequence[MeterSample],
    zone: ZoneInfo,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> tuple[dt.datetime, dt.datetime, Decimal, list[Segment]]:
    """(session start, session end, session energy in Wh, segments in time order).

    A session of no duration (one sample, or start == end) is one empty segment, so that a
    FLAT fee still sees a period to apply to."""
    cleaned = _clean_samples(samples)
    first, last = cleaned[0], cleaned[-1]
    session_start = first.timestamp if start is None else _aware_utc(start, "start")
    session_end = last.timestamp if end is None else _aware_utc(end, "end")
    if session_start > first.timestamp:
        raise PricingInputError("start is after the first sample: the samples must lie within it.")
    if session_end < last.timestamp:
        raise PricingInputError("end is before the last sample: the samples must lie within it.")
    if session_end - session_start > MAX_SESSION:
        raise PricingInputError(f"A session may last at most {MAX_SESSION.days} days.")
    baseline = first.energy_wh
    cuts = sorted(
        set(_local_boundaries(tariff, zone, session_start, session_end))
        | _duration_boundaries(tariff, session_start)
    )
    segments: list[Segment] = []
    for interval in _intervals(cleaned, session_start, session_end):
        # by bisection: scanning every cut for every interval is quadratic (10,000 samples
        # over a month of a tariff with many time windows took seconds)
        inside = set(
            cuts[bisect.bisect_right(cuts, interval.start) : bisect.bisect_left(cuts, interval.end)]
        )
        inside.update(_energy_crossings(tariff, interval, baseline))
        # A crossing rounded onto the interval's own end is no cut.
        inside = {t for t in inside if interval.start < t < interval.end}
        points = [interval.start, *sorted(inside), interval.end]
        charging = interval.energy_end > interval.energy_start
        length = seconds(interval.end - interval.start)
        if interval.power_w is not None:
            power_kw = interval.power_w / 1000
        elif length:
            power_kw = (interval.energy_end - interval.energy_start) / 1000 / (length / 3600)
        else:
            power_kw = Decimal(0)
        for left, right in itertools.pairwise(points):
            middle = left + (right - left) // 2
            exact_middle = interval.energy_start + (
                (interval.energy_end - interval.energy_start)
                * (micros(middle - interval.start) / micros(interval.end - interval.start))
                if interval.end > interval.start
                else 0
            )
            segments.append(
                Segment(
                    start=left,
                    end=right,
                    energy_start_wh=interval.energy_at(left),
                    energy_end_wh=interval.energy_at(right),
                    charging=charging,
                    power_kw=power_kw,
                    current_a=interval.current_a,
                    local=middle.astimezone(zone),
                    elapsed_s=seconds(middle - session_start),
                    session_kwh=(exact_middle - baseline) / 1000,
                )
            )
    return session_start, session_end, last.energy_wh - baseline, segments
