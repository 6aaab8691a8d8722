"""The setting predictor (registry kind `predictor`, trained by models/train/predictor.py):
a shot's cheap features, the codec and a setting in, the shot's mean VMAF out. It gives
each shot a whole VMAF-versus-setting curve, and the decide step a ShotPrediction."""

from __future__ import annotations

import numpy as np

from vmaftune.encoders import QualityKnob
from vmaftune.errors import InputError, UsageError
from vmaftune.steps.decide.predict import MAX_HALF_WIDTH, ShotPrediction
from vmaftune.steps.decide.search import Target
from vmaftune.zoo import registry
from vmaftune.zoo.features import FEATURE_NAMES, ShotFeatures

CODECS = ("x264", "x265", "svtav1")  # the predictor's one-hot block, in its order
DEFAULT_PREDICTOR = "vmaf_predictor"
# A feature this far beyond what training saw (as a share of the range seen) makes the
# shot out of distribution: an MLP extrapolates there without warning.
OOD_MARGIN = 0.1


class CurveModel:
    """The predictor's session and its calibration, from the registry."""

    def __init__(self, name: str = DEFAULT_PREDICTOR) -> None:
        loaded = registry.load(name, kind="predictor")
        if loaded.entry is None:
            raise UsageError(f"--predictor {name}: give a registry id (its row holds the interval)")
        conformal = loaded.entry.metrics.get("conformal", {})
        if "half_width" not in conformal:
            raise UsageError(f"model {name}: its registry row has no conformal half-width")
        self.name = name
        self.sha256 = loaded.entry.sha256
        self.loaded = loaded
        self.half_width = float(conformal["half_width"])
        # Older rows hold no ranges: every shot counts as inside.
        ranges = loaded.entry.metrics.get("feature_ranges", {})
        self.ranges = {str(k): (float(v[0]), float(v[1])) for k, v in ranges.items()}
        # The curve's median bias at the setting it picks, per codec and target (older
        # rows hold none: no offset).
        offsets = loaded.entry.metrics.get("aim_offset", {})
        self.offsets = {
            str(c): sorted((float(t), float(o)) for t, o in by_target.items())
            for c, by_target in offsets.items()
        }
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
        self.loaded.check_outputs(out)
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
        grid = search_grid(knob)
        base = [*feats.values, *(float(codec == c) for c in CODECS)]
        rows = np.array([[*base, s] for s in grid])
        curve = self.vmaf(rows) + self.offset(codec, target.vmaf)
        return read_curve(feats.shot, grid, curve, target, self.half_width, max_half_width,
                          self.outside(feats))  # fmt: skip

    def offset(self, codec: str, target: float) -> float:
        """The calibration offset at `target`: linear between the targets it was measured
        at, the nearest one's beyond them."""
        points = self.offsets.get(codec, [])
        if not points:
            return 0.0
        return float(np.interp(target, [t for t, _ in points], [o for _, o in points]))

    def outside(self, feats: ShotFeatures) -> str:
        """The first feature beyond the training data's range by more than OOD_MARGIN of
        its width, as a reason; "" when all lie inside."""
        for name, value in feats.as_dict().items():
            if name not in self.ranges:
                continue
            lo, hi = self.ranges[name]
            slack = OOD_MARGIN * (hi - lo)
            if not lo - slack <= value <= hi + slack:
                return f"{name} {value:.4g} outside the training range [{lo:.4g}, {hi:.4g}]"
        return ""


def search_grid(knob: QualityKnob) -> np.ndarray:
    """The settings the search may encode: what a prediction is read on."""
    return np.arange(knob.search_min, knob.search_max + knob.step / 2, knob.step)


def read_curve(shot: int, grid: np.ndarray, curve: np.ndarray, target: Target,
               half_width: float, max_half_width: float = MAX_HALF_WIDTH,
               outside: str = "") -> ShotPrediction:  # fmt: skip
    """A prediction from a calibrated curve on the search grid: the highest setting at or
    above the middle of the band (the curve falls as the setting rises; the lowest
    setting when none reaches it), the curve there and its slope."""
    aim = target.vmaf + target.tolerance / 2
    ok = np.nonzero(curve >= aim)[0]
    i = int(ok.max()) if len(ok) else 0
    lo, hi = max(0, i - 1), min(len(grid) - 1, i + 1)
    slope = (curve[hi] - curve[lo]) / (grid[hi] - grid[lo]) if hi > lo else -1.0
    return ShotPrediction(shot, float(grid[i]), float(curve[i]), float(min(slope, -1e-3)),
                          half_width, max_half_width, outside)  # fmt: skip


def feature_names() -> tuple[str, ...]:
    return (*FEATURE_NAMES, *(f"codec_{c}" for c in CODECS), "setting")
