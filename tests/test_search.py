"""The setting search as a pure function, on synthetic VMAF-versus-setting curves."""

from __future__ import annotations

import math

import pytest

from vmaftune import encoders
from vmaftune.errors import UsageError
from vmaftune.steps.decide import search
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict


def run(knob, curve, target):  # type: ignore[no-untyped-def]
    points: list[Point] = []
    while (s := search.next_setting(knob, points, target)) is not None:
        assert s not in [p.setting for p in points], "probed the same setting twice"
        points.append(Point(s, curve(s)))
    return points, *search.choose(points, target, knob)


CURVES = {
    "linear": lambda s: 110 - 1.1 * s,
    "steep": lambda s: 130 - 2.5 * s,
    "flat": lambda s: 100 - 0.3 * s,
    "logistic": lambda s: 100 / (1 + math.exp((s - 38) / 6)),
}


@pytest.mark.parametrize("method", search.METHODS)
@pytest.mark.parametrize("codec", ["x264", "svtav1"])
@pytest.mark.parametrize("curve", CURVES)
def test_search_finds_the_cheapest_passing_setting(method, codec, curve):
    knob = encoders.get(codec).quality
    target = Target(90.0, 0.5, "mean", method)
    f = CURVES[curve]
    points, best, verdict = run(knob, f, target)
    assert len(points) <= search.MAX_PROBES
    assert verdict in (Verdict.SEARCH, Verdict.CAPPED)
    assert best.score >= target.vmaf
    # Either within tolerance, or the next step up fails (nothing cheaper passes).
    within = best.score <= target.vmaf + target.tolerance
    assert within or f(best.setting + knob.step) < target.vmaf or verdict == Verdict.CAPPED


def test_interpolation_takes_fewer_probes_than_bisection():
    knob = encoders.get("x264").quality
    totals = {}
    for method in search.METHODS:
        totals[method] = sum(
            len(run(knob, f, Target(t, 0.5, "mean", method))[0])
            for f in CURVES.values()
            for t in (80.0, 88.0, 93.0, 96.0)
        )
    assert totals["interpolate"] < totals["bisect"]


def test_unreachable_and_capped():
    knob = encoders.get("x264").quality
    points, best, verdict = run(knob, lambda s: 80 - 0.1 * s, Target(95.0))
    assert verdict == Verdict.UNREACHABLE
    assert best.setting == min(p.setting for p in points) == knob.min
    # Scores flatten near the floor: the cheapest setting within tolerance of the best.
    points, best, verdict = run(knob, lambda s: 85 - 0.002 * s * s, Target(95.0))
    assert verdict == Verdict.UNREACHABLE
    near = [p.setting for p in points if p.score >= 85 - 0.5]
    assert best.setting == max(near) > min(p.setting for p in points) == knob.min
    points, best, verdict = run(knob, lambda s: 99.9, Target(50.0))
    assert verdict == Verdict.CAPPED and best.setting == knob.search_max


def test_replaying_probes_gives_the_same_next_setting():
    knob = encoders.get("x265").quality
    target = Target(92.0)
    points, _, _ = run(knob, CURVES["logistic"], target)
    for k in range(len(points)):
        assert search.next_setting(knob, points[:k], target) == points[k].setting


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target(101.0), "outside 0..100"),
        (Target(-1.0), "outside 0..100"),
        (Target(90.0, pool="p50"), "unknown --pool"),
        (Target(90.0, method="newton"), "unknown --search"),
        (Target(90.0, tolerance=0), "--tolerance"),
    ],
)
def test_bad_targets(target, message):
    with pytest.raises(UsageError, match=message):
        target.checked()
