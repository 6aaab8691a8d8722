"""Try the second stage (issue 18, Deliver 2): from a shot's first measured trial (its
setting s0, its VMAF v0 and the encoder's own statistics there) and the cheap features,
predict the rest of the shot's VMAF-versus-setting curve, so that one corrected encode
lands in the band.

A prototype, evaluated leave-one-source-out on the corpus: no model is exported. The
curve is modelled as v(s) = v0 + d * (a . z) + d^2 * (b . z) with d = s - s0 and z the
standardised inputs, fitted by ridge regression (linear in a and b, so a fold fits in
milliseconds). Three input sets are compared on the same pairs:

- `slope`: the codec alone: one typical curve shape per codec, the search's kind of guess;
- `features`: z = the cheap features, the codec and v0;
- `features+encoder`: also the encoder's statistics at s0 (enc_* columns).

For every shot, codec, start point s0 on the grid and target VMAF, the corrected setting
is where the predicted curve crosses the middle of the band [target, target + 0.5]; the
measured VMAF there (interpolated between the shot's grid encodes) against the target is
the error that decides whether one correction lands.

    python models/train/second_stage.py --corpus models/data/corpus.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from vmaftune.zoo.corpus import ENCODER_STATS  # noqa: E402
from vmaftune.zoo.features import FEATURE_NAMES  # noqa: E402

CODECS = ("x264", "x265", "svtav1")
TARGETS = (90.0, 93.0, 95.0)
TOLERANCE = 0.5
RIDGE = 100.0  # 1, 10, 100, 1000 tried on the first 12 sources: 100-1000 least bad


def curves(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Each shot x codec's grid encodes, by setting."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        out[(r["source_id"], r["clip_id"], r["shot"], r["codec"])].append(r)
    return {k: sorted(v, key=lambda r: r["setting"]) for k, v in out.items()}


def inputs(kind: str, first: dict) -> list[float]:
    if kind == "slope":
        return [float(first["codec"] == c) for c in CODECS]
    z = [1.0, *(float(first[f"f_{n}"]) for n in FEATURE_NAMES),
         *(float(first["codec"] == c) for c in CODECS), first["vmaf_mean"], first["setting"]]  # fmt: skip
    if kind == "features+encoder":
        z += [float(first[f"enc_{k}"]) for k in ENCODER_STATS]
    return z


def pairs(kind: str, shots: dict[tuple, list[dict]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, d, dv) for every ordered pair of a shot's grid encodes, and its source."""
    zs, ds, dvs, src = [], [], [], []
    for key, mine in shots.items():
        for a in mine:
            z = inputs(kind, a)
            for b in mine:
                if b is a:
                    continue
                zs.append(z)
                ds.append(b["setting"] - a["setting"])
                dvs.append(b["vmaf_mean"] - a["vmaf_mean"])
                src.append(key[0])
    return np.array(zs, float), np.column_stack([ds, dvs]), np.array(src)


def design(z: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.hstack([z * d[:, None], z * (d * d)[:, None]])


def fit(z: np.ndarray, d: np.ndarray, dv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = z.mean(0), z.std(0)
    std[std == 0] = 1.0
    mean[0], std[0] = 0.0, 1.0  # the constant stays 1
    x = design((z - mean) / std, d)
    w = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ dv)
    return w, mean, std


def curve_at(model: tuple, z: np.ndarray, s0: float, v0: float, s: np.ndarray) -> np.ndarray:
    w, mean, std = model
    zz = np.repeat(((z - mean) / std)[None], len(s), 0)
    return v0 + design(zz, s - s0) @ w


def measured_at(mine: list[dict], s: float) -> float:
    xs = [r["setting"] for r in mine]
    return float(np.interp(s, xs, [r["vmaf_mean"] for r in mine]))


def evaluate(kind: str, shots: dict[tuple, list[dict]]) -> dict:
    z, dd, src = pairs(kind, shots)
    sources = sorted(set(src))
    models = {held: fit(z[src != held], dd[src != held, 0], dd[src != held, 1]) for held in sources}
    errs: dict[str, list[float]] = defaultdict(list)
    curve_err = []
    for key, mine in shots.items():
        model = models[key[0]]
        lo, hi = mine[0]["setting"], mine[-1]["setting"]
        grid = np.linspace(lo, hi, 121)
        for a in mine:
            za = np.array(inputs(kind, a))
            pred = curve_at(model, za, a["setting"], a["vmaf_mean"], grid)
            others = [b for b in mine if b is not a]
            curve_err += [float(np.interp(b["setting"], grid, pred) - b["vmaf_mean"]) for b in others]
            for target in TARGETS:
                if a["vmaf_mean"] >= target and a["vmaf_mean"] <= target + TOLERANCE:
                    continue  # the first encode landed: nothing to correct
                aim = target + TOLERANCE / 2
                ok = np.nonzero(pred >= aim)[0]
                s = grid[ok.max()] if len(ok) else grid[0]
                errs[key[3]].append(measured_at(mine, float(s)) - target)
    out: dict = {"curve_rmse": round(float(np.sqrt(np.mean(np.square(curve_err)))), 3)}
    every = [e for v in errs.values() for e in v]
    for name, e in [("all", every), *((c, errs[c]) for c in CODECS if errs[c])]:
        a = np.array(e)
        out[name] = {"corrections": len(a), "rmse": round(float(np.sqrt(np.mean(a * a))), 3),
                     "within_0.5": round(float(np.mean(np.abs(a - TOLERANCE / 2) <= 0.5)), 4),
                     "within_1": round(float(np.mean(np.abs(a) <= 1)), 4),
                     "passing": round(float(np.mean(a >= 0)), 4)}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    args = ap.parse_args()
    rows = [r for r in pq.read_table(args.corpus).to_pylist()
            if r["codec"] in CODECS and r.get("enc_qp_mean") is not None]  # fmt: skip
    shots = curves(rows)
    shots = {k: v for k, v in shots.items() if len(v) >= 3}
    if len({k[0] for k in shots}) < 3:
        sys.exit(f"{args.corpus}: rows with encoder statistics from fewer than 3 sources")
    report = {"rows": len(rows), "sources": len({k[0] for k in shots}), "shots": len(shots)}
    for kind in ("slope", "features", "features+encoder"):
        report[kind] = evaluate(kind, shots)
        print(kind, json.dumps(report[kind]), flush=True)
    print(json.dumps({k: report[k] for k in ("rows", "sources", "shots")}))


if __name__ == "__main__":
    main()
