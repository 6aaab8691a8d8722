"""Properties of the decision step over thousands of random shots (issue 17, Deliver 6):
for every encoder's knob, random noisy falling VMAF curves, random targets and random
predictions, the search and predict-then-verify never propose a setting outside the
knob's range, never propose one twice, stop within MAX_PROBES (+1 for predict's two
encodes before it hands over), choose a setting they measured, and replaying the same
points gives the same next setting. Seeded, so a failure reproduces."""

from __future__ import annotations

import numpy as np
import pytest

from vmaftune import encoders
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict

KNOBS = {e.name: e.quality for e in encoders.load_all()}
CASES = 400


def random_curve(rng: np.random.Generator, knob):  # type: ignore[no-untyped-def]
    """A falling curve over the knob's range with measurement noise (non-monotone)."""
    top = rng.uniform(70, 100)
    slope = rng.uniform(0.05, 4.0)
    mid = rng.uniform(knob.min, knob.max)
    noise = rng.uniform(0, 1.5)
    cache: dict[float, float] = {}

    def f(s: float) -> float:
        if s not in cache:
            v = top / (1 + np.exp((s - mid) * slope / 10)) + rng.normal(0, noise)
            cache[s] = float(np.clip(v, 0, 100))
        return cache[s]

    return f


def target(rng: np.random.Generator) -> Target:
    return Target(float(rng.uniform(40, 99)), float(rng.choice([0.25, 0.5, 1, 2])),
                  "mean", str(rng.choice(search.METHODS)))  # fmt: skip


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_search_properties(name: str) -> None:
    knob = KNOBS[name]
    rng = np.random.default_rng(17)
    for _ in range(CASES):
        f, t = random_curve(rng, knob), target(rng)
        points: list[Point] = []
        while (s := search.next_setting(knob, points, t)) is not None:
            assert knob.min - 1e-9 <= s <= knob.max + 1e-9, (name, s)
            assert round(s, 6) not in {round(p.setting, 6) for p in points}
            assert search.next_setting(knob, list(points), t) == s  # replay
            points.append(Point(s, f(s)))
            assert len(points) <= search.MAX_PROBES
        best, verdict = search.choose(points, t, knob)
        assert best in points and verdict in Verdict


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_predict_then_verify_properties(name: str) -> None:
    knob = KNOBS[name]
    rng = np.random.default_rng(18)
    for i in range(CASES):
        f, t = random_curve(rng, knob), target(rng)
        pred = ShotPrediction(i, knob.grid(float(rng.uniform(knob.min, knob.max))),
                              float(rng.uniform(30, 100)), float(-rng.uniform(0.05, 5)),
                              float(rng.uniform(0.5, 15)))  # fmt: skip
        points: list[Point] = []
        while (
            s := predict.next_setting(pred, knob, points, [p.score for p in points], t)
        ) is not None:
            assert knob.min - 1e-9 <= s <= knob.max + 1e-9, (name, s)
            assert round(s, 6) not in {round(p.setting, 6) for p in points}
            points.append(Point(s, f(s)))
            assert len(points) <= search.MAX_PROBES + 1
        best, verdict = predict.choose(pred, points, [p.score for p in points], t, knob)
        assert best in points and verdict in Verdict
