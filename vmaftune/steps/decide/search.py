"""The setting search for one shot (the `decide` step), as pure functions of the probes
measured so far: replaying the same probes gives the same next setting, which is what
lets an interrupted run resume without redoing an encode.

Settings run from high quality (low CRF/CQ) to low quality (high); VMAF falls as the
setting rises. The answer is the highest setting whose pooled VMAF is at least the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vmaftune.encoders import QualityKnob
from vmaftune.errors import UsageError
from vmaftune.steps.decide.verdict import Verdict
from vmaftune.steps.score import POOL_ALIASES, POOLS

METHODS = ("interpolate", "bisect")
MAX_PROBES = 10
CEILING = 100.5  # a little above VMAF's ceiling, so the log stays finite at 100
_EPS = 1e-9


@dataclass(frozen=True)
class Target:
    vmaf: float
    tolerance: float = 0.5
    pool: str = "mean"
    method: str = "interpolate"

    def checked(self) -> Target:
        if not 0 <= self.vmaf <= 100:
            raise UsageError(f"--target-vmaf {self.vmaf:g} is outside 0..100")
        if not 0 < self.tolerance <= 20:
            raise UsageError(f"--tolerance {self.tolerance:g} must be above 0 and at most 20")
        if self.pool not in POOLS and self.pool not in POOL_ALIASES:
            names = ", ".join([*POOLS, *POOL_ALIASES])
            raise UsageError(f"unknown --pool {self.pool!r}; choose from {names}")
        if self.method not in METHODS:
            raise UsageError(f"unknown --search {self.method!r}; choose from {', '.join(METHODS)}")
        return self


@dataclass(frozen=True)
class Point:
    setting: float
    score: float  # the pooled VMAF the target is checked against


def _passes(p: Point, target: Target) -> bool:
    return p.score >= target.vmaf


def _bracket(points: Sequence[Point], target: Target) -> tuple[Point | None, Point | None]:
    """(highest passing point, lowest failing point)."""
    passes = [p for p in points if _passes(p, target)]
    fails = [p for p in points if not _passes(p, target)]
    best = max(passes, key=lambda p: p.setting, default=None)
    worst = min(fails, key=lambda p: p.setting, default=None)
    return best, worst


def _low_bound(knob: QualityKnob, fail: Point | None) -> float:
    # Below the search range only when the bottom of the range itself failed.
    if fail is not None and fail.setting <= knob.search_min + _EPS:
        return knob.min
    return knob.search_min


def finished(knob: QualityKnob, points: Sequence[Point], target: Target) -> bool:
    if len(points) >= MAX_PROBES:
        return True
    best, fail = _bracket(points, target)
    if best is not None:
        if best.score <= target.vmaf + target.tolerance:
            return True
        if best.setting >= knob.search_max - _EPS:
            return True
        if fail is not None and fail.setting - best.setting <= knob.step + _EPS:
            return True
    elif fail is not None and fail.setting <= knob.min + _EPS:
        return True
    return False


def next_setting(knob: QualityKnob, points: Sequence[Point], target: Target) -> float | None:
    """The next setting to probe, or None when the search is over."""
    if not points:
        return knob.grid(knob.default)
    if finished(knob, points, target):
        return None
    best, fail = _bracket(points, target)
    lo = best.setting if best else _low_bound(knob, fail)
    hi = fail.setting if fail else knob.search_max
    tried = {round(p.setting, 6) for p in points}
    candidates = []
    if target.method == "interpolate" and not _stalled(points, target):
        guess = _interpolate(knob, points, best, fail, target)
        candidates.append(guess)
    candidates.append((lo + hi) / 2)
    for raw in candidates:
        value = _inside(knob, raw, lo, hi, lo_open=best is not None, hi_open=fail is not None)
        if value is not None and round(value, 6) not in tried:
            return value
    return None


def _stalled(points: Sequence[Point], target: Target) -> bool:
    """The last two trials fell on the same side of the target, both inside a bracket (a
    pass and a fail) already measured: on a curve that bends away from its secants,
    interpolation creeps one step at a time from one end; a bisection step breaks that."""
    if len(points) < 4 or _passes(points[-1], target) != _passes(points[-2], target):
        return False
    best, fail = _bracket(points[:-2], target)
    return best is not None and fail is not None


def _inside(
    knob: QualityKnob, value: float, lo: float, hi: float, *, lo_open: bool, hi_open: bool
) -> float | None:
    """`value` on the step grid, strictly between measured ends, within bounds otherwise."""
    step = knob.step
    low = lo + step if lo_open else lo
    high = hi - step if hi_open else hi
    if low > high + _EPS:
        return None
    snapped = round(value / step) * step
    return float(min(max(snapped, low), high))


def distortion(vmaf: float) -> float:
    """log(100.5 - VMAF): close to a straight line in CRF/CQ over the range targets use,
    where VMAF itself bends towards 100 (models/train/simulate.py replays the corpus's
    shots: secants in this space took 2.8-3.0 trials per shot where straight VMAF lines
    took 3.4-3.8, docs/benchmarks.md)."""
    return math.log(max(CEILING - vmaf, 1e-3))


def _interpolate(
    knob: QualityKnob,
    points: Sequence[Point],
    best: Point | None,
    fail: Point | None,
    target: Target,
) -> float:
    """Where the distortion line crosses the middle of the accepted band: between the
    nearest pass and fail when both exist, else along the line through the two points
    nearest the target, else along the knob's typical slope."""
    mid = target.vmaf + target.tolerance / 2
    aim = distortion(mid)
    if best is not None and fail is not None:
        a, b = best, fail
    else:
        near = sorted(points, key=lambda p: abs(p.score - mid))[:2]
        if len(near) == 2 and abs(near[0].setting - near[1].setting) > _EPS:
            a, b = near
        else:
            p = near[0]
            return p.setting + (aim - distortion(p.score)) / knob.prior_log_slope
    slope = (distortion(b.score) - distortion(a.score)) / (b.setting - a.setting)
    if slope <= 0:  # noise made the curve rise: no usable line, bisect instead
        lo = best.setting if best else knob.search_min
        hi = fail.setting if fail else knob.search_max
        return (lo + hi) / 2
    return a.setting + (aim - distortion(a.score)) / slope


def choose(points: Sequence[Point], target: Target, knob: QualityKnob) -> tuple[Point, Verdict]:
    """The answer and its verdict once the search is over."""
    best, _ = _bracket(points, target)
    if best is None:
        # Near the encoder's floor scores flatten while bits keep rising: take the
        # cheapest probe within the tolerance of the best score reached.
        top = max(p.score for p in points)
        near = [p for p in points if p.score >= top - target.tolerance]
        return max(near, key=lambda p: p.setting), Verdict.UNREACHABLE
    if best.setting >= knob.search_max - _EPS and best.score > target.vmaf + target.tolerance:
        return best, Verdict.CAPPED
    return best, Verdict.SEARCH
