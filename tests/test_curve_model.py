"""The shipped predictor as `encode --mode predict` reads it (vmaftune.zoo.predictor): its
registry row's calibration (interval, aim offsets per codec and target, the feature ranges
it was trained on) shapes the prediction; real onnxruntime, no mocks."""

from __future__ import annotations

import numpy as np
import pytest

from vmaftune import encoders
from vmaftune.steps.decide.search import Target
from vmaftune.zoo.features import FEATURE_NAMES, ShotFeatures
from vmaftune.zoo.predictor import CODECS, CurveModel


@pytest.fixture(scope="module")
def model() -> CurveModel:
    return CurveModel()


def typical(model: CurveModel) -> ShotFeatures:
    """A shot in the middle of every feature's training range."""
    return ShotFeatures(0, tuple((lo + hi) / 2 for lo, hi in
                                 (model.ranges[n] for n in FEATURE_NAMES)), 0.0)  # fmt: skip


def test_the_row_holds_offsets_and_ranges_for_every_codec(model: CurveModel) -> None:
    assert set(model.offsets) == set(CODECS)
    assert set(model.ranges) == set(FEATURE_NAMES)
    for codec, points in model.offsets.items():
        targets = [t for t, _ in points]
        assert targets == sorted(targets) and len(targets) >= 2
        # Linear between the measured targets, the nearest one's beyond them.
        (t0, o0), (t1, o1) = points[0], points[1]
        assert model.offset(codec, (t0 + t1) / 2) == pytest.approx((o0 + o1) / 2)
        assert model.offset(codec, t0 - 20) == pytest.approx(o0)
        assert model.offset(codec, points[-1][0] + 20) == pytest.approx(points[-1][1])
        assert abs(o0) < 10  # a bias, not a different curve


@pytest.mark.parametrize("codec", CODECS)
def test_prediction_is_the_calibrated_curve_crossing_the_band(
    model: CurveModel, codec: str
) -> None:
    knob = encoders.get(codec).quality
    target = Target(93.0)
    feats = typical(model)
    pred = model.predict(feats, codec, knob, target)
    assert not pred.outside and knob.search_min <= pred.setting <= knob.search_max
    row = np.array([[*feats.values, *(float(codec == c) for c in CODECS), pred.setting]])
    calibrated = float(model.vmaf(row)[0]) + model.offset(codec, target.vmaf)
    assert pred.vmaf == pytest.approx(calibrated, abs=1e-6)
    aim = target.vmaf + target.tolerance / 2
    # The highest grid setting whose calibrated VMAF reaches the aim: one step more does not.
    assert calibrated >= aim or pred.setting == knob.search_min
    if pred.setting + knob.step <= knob.search_max:
        row[0, -1] = pred.setting + knob.step
        assert float(model.vmaf(row)[0]) + model.offset(codec, target.vmaf) < aim
    assert pred.slope < 0 and pred.half_width == model.half_width


def test_a_shot_beyond_the_training_ranges_is_flagged(model: CurveModel) -> None:
    feats = typical(model)
    lo, hi = model.ranges["si_mean"]
    values = list(feats.values)
    values[FEATURE_NAMES.index("si_mean")] = hi + (hi - lo)
    pred = model.predict(ShotFeatures(0, tuple(values), 0.0), "x264",
                         encoders.get("x264").quality, Target(93.0))  # fmt: skip
    assert pred.outside.startswith("si_mean ") and "outside the training range" in pred.outside
