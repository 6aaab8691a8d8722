"""Replay the decide step offline on the corpus: for every shot, codec and target, run the
search and predict-then-verify exactly as `vmaftune encode` runs them (the same functions
of vmaftune.steps.decide), with each trial's VMAF read off the shot's measured curve
instead of encoded. It counts trials per shot and the answers' VMAF, for a decision rule
or a predictor, in seconds rather than hours of encoding.

The measured curve is the shot's six grid encodes, interpolated where the distortion
log(100.5 - VMAF) is close to linear in the setting (piecewise linear there, extended
along the end segments). It stands in for encodes between grid points, so the counts are
an estimate of a real run's: bench/predict_vs_search.py measures real ones.

The predictions are out-of-fold (models/train/predictor.py --oof): each shot's curve comes
from a model that never saw its source.

    python models/train/predictor.py --corpus models/data/corpus.parquet --out /tmp/p \
        --oof /tmp/p/oof.npz
    python models/train/simulate.py /tmp/p/oof.npz --half-width 7.1
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from vmaftune import encoders
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import CEILING, Point, Target
from vmaftune.zoo.predictor import read_curve, search_grid

TARGETS = (90.0, 93.0, 95.0)


def truth(settings: np.ndarray, measured: np.ndarray):
    ok = ~np.isnan(settings)
    s, v = settings[ok], measured[ok]
    order = np.argsort(s)
    s, d = s[order], np.log(np.maximum(CEILING - v[order], 1e-3))

    def at(x: float) -> float:
        if x <= s[0]:
            k = (d[1] - d[0]) / (s[1] - s[0])
            y = d[0] + k * (x - s[0])
        elif x >= s[-1]:
            k = (d[-1] - d[-2]) / (s[-1] - s[-2])
            y = d[-1] + k * (x - s[-1])
        else:
            y = float(np.interp(x, s, d))
        return float(min(100.0, max(0.0, CEILING - np.exp(y))))

    return at


def prediction(grid: np.ndarray, curve: np.ndarray, knob: encoders.QualityKnob,
               target: Target, half_width: float) -> ShotPrediction:  # fmt: skip
    """As vmaftune.zoo.predictor.CurveModel.predict makes it, from a curve on `grid`."""
    settings = search_grid(knob)
    return read_curve(0, settings, np.interp(settings, grid, curve), target, half_width)


def _search_from(knob, target, at, points: list[Point]):
    while (s := search.next_setting(knob, points, target)) is not None:
        points.append(Point(s, at(s)))
    best, verdict = search.choose(points, target, knob)
    return len(points), best, verdict.value


def run_search(knob, target, at):
    return _search_from(knob, target, at, [])


def run_from_answer(knob, target, at):
    """The floor: the search started at the shot's true answer (the highest grid setting
    that passes), as a perfect first guess would start it."""
    grid = search_grid(knob)
    passing = [s for s in grid if at(float(s)) >= target.vmaf]
    start = float(max(passing)) if passing else float(grid[0])
    return _search_from(knob, target, at, [Point(start, at(start))])


def run_predict(pred, knob, target, at):
    points: list[Point] = []
    while (s := predict.next_setting(pred, knob, points, [p.score for p in points], target)) is not None:  # noqa: E501
        points.append(Point(s, at(s)))
    best, verdict = predict.choose(pred, points, [p.score for p in points], target, knob)
    return len(points), best, verdict.value


def summary(runs: list[tuple[int, Point, str]], target: float) -> dict:
    n = np.array([r[0] for r in runs])
    v = np.array([r[1].score for r in runs])
    ok = v >= target - 1e-9
    return {
        "shots": len(runs),
        "trials_per_shot": round(float(n.mean()), 3),
        "one_trial": round(float(np.mean(n == 1)), 4),
        "compliant": round(float(ok.mean()), 4),
        "mean_overshoot": round(float(np.mean(v[ok] - target)), 3) if ok.any() else None,
        "verdicts": dict(Counter(r[2] for r in runs)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("oof", type=Path)
    ap.add_argument("--half-width", type=float, default=7.1)
    ap.add_argument("--targets", default=",".join(f"{t:g}" for t in TARGETS))
    ap.add_argument("--no-offsets", action="store_true", help="aim with the raw curve")
    args = ap.parse_args()
    z = np.load(args.oof)
    grid = z["grid"]
    report: dict[str, dict] = {}
    for target_v in map(float, args.targets.split(",")):
        target = Target(target_v)
        by: dict[str, dict[str, list]] = {}
        if "offsets" in z and not args.no_offsets:
            offsets, targets = z["offsets"], z["targets"]
        else:
            offsets, targets = np.zeros((len(z["keys"]), 1)), np.array([target_v])
        for key, curve, s, m, off in zip(z["keys"], z["predicted"], z["settings"], z["measured"],
                                         offsets, strict=True):  # fmt: skip
            codec = str(key).split("|")[2]
            knob = encoders.get(codec).quality
            at = truth(s, m)
            # The aim offset measured without the shot's source, as the model ships it.
            calibrated = curve + float(np.interp(target_v, targets, off))
            pred = prediction(grid, calibrated, knob, target, args.half_width)
            for mode, r in (("search", run_search(knob, target, at)),
                            ("predict", run_predict(pred, knob, target, at)),
                            ("from_answer", run_from_answer(knob, target, at))):  # fmt: skip
                by.setdefault(codec, {}).setdefault(mode, []).append(r)
        report[f"{target_v:g}"] = {
            codec: {mode: summary(runs, target_v) for mode, runs in modes.items()}
            for codec, modes in sorted(by.items())
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
