"""Try the second stage (issue 18, Deliver 2): from a shot's first measured trial (its
setting, its VMAF and the encoder's own statistics there) and the cheap features, predict
how steeply the shot's curve falls there, so that the one corrected encode lands.

The search steps from one point along the codec's typical slope of the distortion
log(100.5 - VMAF) per unit of the setting (encoders/*.toml log_slope; the corpus's median).
A shot's own slope there varies around it; this measures how much of that variation a
ridge regression (leave-one-source-out) explains from three input sets, on the same
shots:

- `codec`: the codec's median alone (what the search uses);
- `features`: the cheap features, the trial's setting and its distortion;
- `features+encoder`: also the encoder's statistics of that trial (enc_* columns: QP mean,
  spread, intra and inter QP, intra share of bytes and frames; x264, x265 and SVT-AV1
  rows of the second corpus only).

The first trial is each shot's grid encode nearest VMAF 93, the slope the secant through
its neighbours. Reported: the spread (standard deviation) of log(slope) left unexplained.
models/train/simulate.py relates that spread to trials per shot (docs/benchmarks.md).

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

CODECS = ("x264", "x265", "svtav1")
RIDGE = 3.0


def distortion(v: np.ndarray | float) -> np.ndarray:
    return np.log(np.maximum(100.5 - np.asarray(v, dtype=float), 1e-2))


def samples(rows: list[dict], codec: str, encoder: bool) -> tuple[np.ndarray, np.ndarray, list]:
    shots: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["codec"] == codec:
            shots[(r["clip_id"], r["shot"])].append(r)
    x, y, groups = [], [], []
    for mine in shots.values():
        mine.sort(key=lambda r: r["setting"])
        s = np.array([r["setting"] for r in mine])
        d = distortion([r["vmaf_mean"] for r in mine])
        i = min(int(np.argmin([abs(r["vmaf_mean"] - 93) for r in mine])), len(mine) - 2)
        j = max(i - 1, 0)
        slope = (d[i + 1] - d[j]) / (s[i + 1] - s[j])
        first = mine[i]
        if slope <= 0 or (encoder and first.get("enc_qp_mean") is None):
            continue
        probe = distortion([first["f_probe_vmaf_lo"], first["f_probe_vmaf"],
                            first["f_probe_vmaf_hi"]])  # fmt: skip
        z = [s[i], d[i], (probe[2] - probe[0]) / 16, probe[1], first["f_log2_pixels"],
             np.log1p(first["f_si_mean"]), np.log1p(first["f_ti_mean"]),
             np.log(first["f_probe_bpp"] + 1e-4),
             np.log(first["bytes"] * 8 / (first["frames"] * first["width"] * first["height"])),
             first["f_luma_mean"] / 100]  # fmt: skip
        if encoder:
            z += [float(first[f"enc_{k}"]) for k in ENCODER_STATS]
        x.append(z)
        y.append(np.log(slope))
        groups.append(first["source_id"])
    return np.array(x, dtype=float), np.array(y), groups


def loso_residual(x: np.ndarray, y: np.ndarray, groups: list[str]) -> float:
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    x = np.hstack([np.ones((len(x), 1)), x])
    g = np.array(groups)
    pred = np.zeros_like(y)
    for held in sorted(set(groups)):
        tr = g != held
        w = np.linalg.solve(x[tr].T @ x[tr] + RIDGE * np.eye(x.shape[1]), x[tr].T @ y[tr])
        pred[~tr] = x[~tr] @ w
    return float(np.std(y - pred))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    args = ap.parse_args()
    rows = pq.read_table(args.corpus).to_pylist()
    report = {}
    for codec in CODECS:
        out = {}
        x, y, groups = samples(rows, codec, encoder=False)
        xe, ye, ge = samples(rows, codec, encoder=True)
        n = len(ENCODER_STATS)
        # The encoder's statistics exist on the second corpus's rows only: both input sets
        # are compared on those same shots too.
        for name, (a, b, g) in (("features, all shots", (x, y, groups)),
                                ("features, shots with encoder statistics", (xe[:, :-n], ye, ge)),
                                ("features+encoder, the same shots", (xe, ye, ge))):  # fmt: skip
            out[name] = {"shots": len(b), "sources": len(set(g)),
                         "codec_median_spread": round(float(np.std(b)), 3),
                         "unexplained_spread": round(loso_residual(a, b, g), 3)}  # fmt: skip
        report[codec] = out
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
