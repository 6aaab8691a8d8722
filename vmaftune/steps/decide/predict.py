"""Predict-then-verify for one shot (the `decide` step of `encode --mode predict`).

The zoo's predictor (kind `predictor`, vmaftune.zoo.predictor) maps a shot's cheap
features, the codec and a setting to the shot's mean VMAF, so it gives each shot a whole
VMAF-versus-setting curve; its split-conformal half-width (from the registry row) says
how far a measured VMAF may fall from the curve at the stated coverage.

Per shot, as pure functions of the prediction and the probes measured so far (so a
resumed run replays them like the search's):
- encode at the predicted setting (the curve crossing the middle of the accepted band);
- GOSPEL: the measured score is within [target, target + tolerance]: accept it;
- RECALIBRATE: outside that band, but the measured mean VMAF is within the predicted
  interval, and one corrected encode settles the shot by the search's own stopping rule
  (a pass within the band, or a pass one grid step below a fail), so a RECALIBRATE
  answer is as tight as a search answer;
- FALL_BACK: the interval is too wide, the measurement falls outside it, or the corrected
  encode does not settle the shot.
Every encode after the first is the search's next step (vmaftune.steps.decide.search) from
the points measured: the correction is the search's step from one point, along the
codec's typical distortion slope (replayed on the corpus, that landed as well as the
predicted curve's own slope: docs/benchmarks.md), so a prediction only ever moves where
the search starts, and a shot costs at most what the search costs from that point;
- FALL_BACK from the start: the shot's features lie outside what the predictor was trained
  on (`outside` says which): no encode is spent on a prediction nothing supports, and the
  search runs as it would alone, so such a shot costs what the search costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vmaftune.encoders import QualityKnob
from vmaftune.steps.decide import search
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict

# Wider than this (VMAF, half-width) and one measurement cannot confirm a prediction.
# A wider interval costs encodes, never quality: a RECALIBRATE answer must still settle
# the shot by the search's stopping rule. 10 admits the shipped predictor's 90 % interval
# (7.1, models/vmaf_predictor.md); the benchmark in docs/benchmarks.md measures the cost.
MAX_HALF_WIDTH = 10.0


@dataclass(frozen=True)
class ShotPrediction:
    shot: int
    setting: float  # on the knob's grid
    vmaf: float  # predicted mean VMAF there
    slope: float  # predicted dVMAF/dsetting there (negative)
    half_width: float  # conformal half-width of the predicted VMAF
    max_half_width: float = MAX_HALF_WIDTH  # wider than this: no RECALIBRATE, FALL_BACK
    outside: str = ""  # why the features lie outside the training data ("": they do not)

    @property
    def too_wide(self) -> bool:
        return self.half_width > self.max_half_width

    def record(self) -> dict[str, object]:
        return {
            "setting": self.setting,
            "vmaf": round(self.vmaf, 3),
            "interval": [
                round(self.vmaf - self.half_width, 3),
                round(self.vmaf + self.half_width, 3),
            ],
            "slope": round(self.slope, 4),
            **({"outside": self.outside} if self.outside else {}),
        }


def _phase(pred: ShotPrediction, points: Sequence[Point], means: Sequence[float],
           target: Target, knob: QualityKnob) -> Verdict | str:  # fmt: skip
    """Where a shot stands after its measured points: GOSPEL or RECALIBRATE (done),
    "predicting", "measuring" (more to measure, the prediction still on trial) or
    FALL_BACK (the search's)."""
    if pred.outside:
        return Verdict.FALL_BACK
    if not points:
        return "predicting"
    first = points[0]
    if target.vmaf <= first.score <= target.vmaf + target.tolerance:
        return Verdict.GOSPEL
    if pred.too_wide or abs(means[0] - pred.vmaf) > pred.half_width:
        return Verdict.FALL_BACK
    if len(points) == 1:
        return "measuring"
    two = points[:2]
    if any(p.score >= target.vmaf for p in two) and search.finished(knob, two, target):
        return Verdict.RECALIBRATE
    return Verdict.FALL_BACK


def next_setting(pred: ShotPrediction, knob: QualityKnob, points: Sequence[Point],
                 means: Sequence[float], target: Target) -> float | None:  # fmt: skip
    """The next setting to encode, or None when the shot is decided. `means` holds each
    point's mean VMAF (the interval is calibrated on the mean)."""
    phase = _phase(pred, points, means, target, knob)
    if phase == "predicting":
        return pred.setting
    if phase in (Verdict.GOSPEL, Verdict.RECALIBRATE):
        return None
    return search.next_setting(knob, points, target)


def choose(pred: ShotPrediction, points: Sequence[Point], means: Sequence[float],
           target: Target, knob: QualityKnob) -> tuple[Point, Verdict]:  # fmt: skip
    phase = _phase(pred, points, means, target, knob)
    if phase == Verdict.GOSPEL:
        return points[0], Verdict.GOSPEL
    if phase == Verdict.RECALIBRATE:
        return search.choose(points[:2], target, knob)[0], Verdict.RECALIBRATE
    best, verdict = search.choose(points, target, knob)
    return best, Verdict.FALL_BACK if verdict == Verdict.SEARCH else verdict
