"""Predict-then-verify for one shot (the `decide` step of `encode --mode predict`).

The zoo's predictor (kind `predictor`, models/train/predictor.py) maps a shot's cheap
features, the codec and a setting to the shot's mean VMAF, so it gives each shot a whole
VMAF-versus-setting curve; its split-conformal half-width (from the registry row) says
how far a measured VMAF may fall from the curve at the stated coverage.

Per shot, as pure functions of the prediction and the probes measured so far (so a
resumed run replays them like the search's):
- encode at the predicted setting (the curve crossing the middle of the accepted band);
- GOSPEL: the measured score is within [target, target + tolerance]: accept it;
- RECALIBRATE: outside that band, but the measured mean VMAF is within the predicted
  interval: one corrected encode, from the measured point along the curve's slope; the
  cheapest passing encode is kept when the two encodes settle the shot by the search's
  own stopping rule (a pass within the band, or a pass one grid step below a fail), so a
  RECALIBRATE answer is as tight as a search answer;
- FALL_BACK: the interval is too wide, the measurement falls outside it, or the corrected
  encode does not settle the shot: the search (vmaftune.steps.decide.search) takes over with the
  points measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vmaftune.encoders import QualityKnob
from vmaftune.errors import InputError, UsageError
from vmaftune.steps.decide import search
from vmaftune.steps.decide.search import Point, Target
from vmaftune.zoo.features import FEATURE_NAMES, ShotFeatures

GOSPEL = "GOSPEL"
RECALIBRATE = "RECALIBRATE"
FALL_BACK = "FALL_BACK"
CODECS = ("x264", "x265", "svtav1")  # the predictor's one-hot block, in its order
DEFAULT_MODEL = "vmaf_predictor"
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
        }


class CurveModel:
    """The predictor's session and its calibration, from the registry."""

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        from vmaftune.zoo import registry as models

        loaded = models.load(name, kind="predictor")
        if loaded.entry is None:
            raise UsageError(f"--predictor {name}: give a registry id (its row holds the interval)")
        conformal = loaded.entry.metrics.get("conformal", {})
        if "half_width" not in conformal:
            raise UsageError(f"model {name}: its registry row has no conformal half-width")
        self.name = name
        self.sha256 = loaded.entry.sha256
        self.half_width = float(conformal["half_width"])
        self.session = loaded.session()
        (spec,) = self.session.get_inputs()
        self.input = spec.name
        width = spec.shape[-1] if spec.shape else None
        if isinstance(width, int) and width != len(feature_names()):
            # A model trained on another feature set would read the columns wrongly.
            raise InputError(
                f"model {name} takes {width} inputs; this vmaftune gives it "
                f"{len(feature_names())} (models/train/predictor.py retrains it)"
            )

    def vmaf(self, rows: np.ndarray) -> np.ndarray:
        (y,) = self.session.run(None, {self.input: rows.astype(np.float32)})
        out: np.ndarray = np.asarray(y, dtype=np.float64).reshape(-1)
        return out

    def predict(
        self,
        feats: ShotFeatures,
        codec: str,
        knob: QualityKnob,
        target: Target,
        max_half_width: float = MAX_HALF_WIDTH,
    ) -> ShotPrediction:
        if codec not in CODECS:
            raise UsageError(
                f"the predictor knows {', '.join(CODECS)}, not {codec}; use --mode search"
            )
        grid = np.arange(knob.search_min, knob.search_max + knob.step / 2, knob.step)
        base = [*feats.values, *(float(codec == c) for c in CODECS)]
        rows = np.array([[*base, s] for s in grid])
        curve = self.vmaf(rows)
        # The curve falls as the setting rises: the highest setting at or above the aim.
        aim = target.vmaf + target.tolerance / 2
        ok = np.nonzero(curve >= aim)[0]
        i = int(ok.max()) if len(ok) else 0
        lo, hi = max(0, i - 1), min(len(grid) - 1, i + 1)
        slope = (curve[hi] - curve[lo]) / (grid[hi] - grid[lo]) if hi > lo else -1.0
        return ShotPrediction(feats.shot, float(grid[i]), float(curve[i]), float(min(slope, -1e-3)),
                              self.half_width, max_half_width)  # fmt: skip


def _phase(pred: ShotPrediction, points: Sequence[Point], means: Sequence[float],
           target: Target, knob: QualityKnob) -> str:  # fmt: skip
    """Where a shot stands after its measured points: GOSPEL or RECALIBRATE (done), or
    "recalibrating", "predicting" or FALL_BACK (more to measure)."""
    if not points:
        return "predicting"
    first = points[0]
    if target.vmaf <= first.score <= target.vmaf + target.tolerance:
        return GOSPEL
    if pred.too_wide or abs(means[0] - pred.vmaf) > pred.half_width:
        return FALL_BACK
    if len(points) == 1:
        return "recalibrating"
    two = points[:2]
    if any(p.score >= target.vmaf for p in two) and search.finished(knob, two, target):
        return RECALIBRATE
    return FALL_BACK


def corrected(pred: ShotPrediction, first: Point, knob: QualityKnob, target: Target) -> float:
    """The recalibrated setting: from the measured point along the predicted slope to the
    middle of the band, on the grid, one step away at least."""
    aim = target.vmaf + target.tolerance / 2
    value = knob.grid(first.setting + (aim - first.score) / pred.slope)
    if abs(value - first.setting) < knob.step / 2:
        value = knob.grid(first.setting + (knob.step if first.score > aim else -knob.step))
    return value


def next_setting(pred: ShotPrediction, knob: QualityKnob, points: Sequence[Point],
                 means: Sequence[float], target: Target) -> float | None:  # fmt: skip
    """The next setting to encode, or None when the shot is decided. `means` holds each
    point's mean VMAF (the interval is calibrated on the mean)."""
    phase = _phase(pred, points, means, target, knob)
    if phase == "predicting":
        return pred.setting
    if phase == "recalibrating":
        value = corrected(pred, points[0], knob, target)
        if abs(value - points[0].setting) > 1e-9:
            return value
        phase = FALL_BACK  # the grid's end: nothing to correct towards
    if phase == FALL_BACK:
        return search.next_setting(knob, points, target)
    return None


def choose(pred: ShotPrediction, points: Sequence[Point], means: Sequence[float],
           target: Target, knob: QualityKnob) -> tuple[Point, str]:  # fmt: skip
    phase = _phase(pred, points, means, target, knob)
    if phase == GOSPEL:
        return points[0], GOSPEL
    if phase == RECALIBRATE:
        return search.choose(points[:2], target, knob)[0], RECALIBRATE
    best, verdict = search.choose(points, target, knob)
    return best, FALL_BACK if verdict == search.PASSED else verdict


def feature_names() -> tuple[str, ...]:
    return (*FEATURE_NAMES, *(f"codec_{c}" for c in CODECS), "setting")
