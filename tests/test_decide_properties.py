"""Properties of the decision step (issue 17, Deliver 6), drawn by hypothesis: for every
encoder's knob, noisy falling VMAF curves, targets and predictions, the search and
predict-then-verify never propose a setting outside the knob's range, never propose one
twice, stop within MAX_PROBES (+1 for predict's two encodes before it hands over), choose
a setting they measured, and replaying the same points gives the same next setting.
Derandomized, so CI draws the same cases every run and a failure reproduces; hypothesis
shrinks a failing case to a small one before it reports it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmaftune import encoders
from vmaftune.encoders import QualityKnob
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict

KNOBS = {e.name: e.quality for e in encoders.load_all()}
SETTINGS = settings(
    max_examples=2000, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

knobs = st.sampled_from(sorted(KNOBS)).map(KNOBS.__getitem__)
targets = st.builds(
    Target,
    st.floats(40, 99),
    st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    st.just("mean"),
    st.sampled_from(search.METHODS),
)


@st.composite
def curves(draw: st.DrawFn, knob: QualityKnob) -> Callable[[float], float]:
    """A falling curve over the knob's range with measurement noise (so not monotone):
    each setting's score is drawn once and then fixed, as a measured encode would be."""
    top = draw(st.floats(70, 100))
    slope = draw(st.floats(0.05, 4.0))
    mid = draw(st.floats(knob.min, knob.max))
    noise = draw(st.floats(0, 1.5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cache: dict[float, float] = {}

    def f(s: float) -> float:
        if s not in cache:
            v = top / (1 + np.exp((s - mid) * slope / 10)) + rng.normal(0, noise)
            cache[s] = float(np.clip(v, 0, 100))
        return cache[s]

    return f


def assert_new_and_in_range(knob: QualityKnob, s: float, points: list[Point]) -> None:
    assert knob.min - 1e-9 <= s <= knob.max + 1e-9, s
    assert round(s, 6) not in {round(p.setting, 6) for p in points}


@SETTINGS
@given(st.data(), knobs, targets)
def test_search_properties(data: st.DataObject, knob: QualityKnob, t: Target) -> None:
    f = data.draw(curves(knob))
    points: list[Point] = []
    while (s := search.next_setting(knob, points, t)) is not None:
        assert_new_and_in_range(knob, s, points)
        assert search.next_setting(knob, list(points), t) == s  # replay
        points.append(Point(s, f(s)))
        assert len(points) <= search.MAX_PROBES
    best, verdict = search.choose(points, t, knob)
    assert best in points and verdict in Verdict


@SETTINGS
@given(st.data(), knobs, targets)
def test_predict_then_verify_properties(data: st.DataObject, knob: QualityKnob, t: Target) -> None:
    f = data.draw(curves(knob))
    pred = ShotPrediction(
        0,
        knob.grid(data.draw(st.floats(knob.min, knob.max))),
        data.draw(st.floats(30, 100)),
        -data.draw(st.floats(0.05, 5)),
        data.draw(st.floats(0.5, 15)),
    )
    points: list[Point] = []
    while (s := predict.next_setting(pred, knob, points, [p.score for p in points], t)) is not None:
        assert_new_and_in_range(knob, s, points)
        again = predict.next_setting(pred, knob, list(points), [p.score for p in points], t)
        assert again == s  # replay
        points.append(Point(s, f(s)))
        assert len(points) <= search.MAX_PROBES + 1
    best, verdict = predict.choose(pred, points, [p.score for p in points], t, knob)
    assert best in points and verdict in Verdict
