"""Train vmaf_tiny_fr, the pixel-domain full-reference model of the vmaf_tiny FFmpeg filter:
from a distorted frame and its reference (luma), the VMAF (vmaf_v0.6.1) libvmaf gives
that frame. No libvmaf features at run time: the filter needs no libvmaf.

Data: the per-frame libvmaf labels of models/train/fr_corpus.py (its --work folder: real clips,
their half-size variants and three lavfi sources, encoded by x264 and x265 over a CRF
grid), now paired with their reference frames. The model is a small strided CNN on the
distorted plane, the reference plane and their difference ([1,2,H,W] floats in [0,1] ->
[1,1,1,1]), pooled over the frame; trained on aligned crops, run on whole frames.
Leave-one-source-out folds (a real clip held out with its half-size variant) give the
reported PLCC/SROCC/RMSE; the shipped model is trained on every source.

    python models/train/tiny_fr.py --out models --work /tmp/nr-work   # ~15 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fr_corpus import GRID, build, correlations, load_planes, references
from sources import luma_frames, real_sources
from torch import nn

SEED = 20261122
CROP = 192


class TinyFR(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Conv2d(2 * width, 16, 1), nn.ReLU(), nn.Conv2d(16, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dist, ref = x[:, :1], x[:, 1:2]
        # The difference as its own channel, scaled up: coding errors are a few code values.
        z = torch.cat([dist, ref, (dist - ref) * 8.0], dim=1)
        pooled = F.adaptive_avg_pool2d(self.features(z), 1)
        return torch.sigmoid(self.head(pooled)) * 100.0


def load_refs(work: Path) -> dict[str, list[np.ndarray]]:
    return {sid: luma_frames(path, 10**9) for sid, _, path in references(work)}


def pair(r: dict, planes, refs) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    return planes[r["file"]][r["frame"]], refs[r["source"]][r["frame"]]


def train(rows: list[dict], planes, refs, steps: int, seed: int) -> TinyFR:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TinyFR()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        batch = rng.choice(len(rows), 16)
        xs, ys = [], []
        for i in batch:
            r = rows[i]
            d, f = pair(r, planes, refs)
            h, w = d.shape
            c = min(CROP, h, w)
            y, x = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
            crop = np.stack([d[y : y + c, x : x + c], f[y : y + c, x : x + c]])
            if c < CROP:
                crop = np.pad(crop, ((0, 0), (0, CROP - c), (0, CROP - c)), mode="reflect")
            xs.append(crop)
            ys.append(r["vmaf"])
        x = torch.from_numpy(np.stack(xs).astype(np.float32) / 255)
        y = torch.tensor(ys, dtype=torch.float32)
        loss = F.smooth_l1_loss(model(x).view(-1), y, beta=2.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def predict(model: TinyFR, rows: list[dict], planes, refs) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = []
    with torch.no_grad():
        for r in rows:
            d, f = pair(r, planes, refs)
            x = torch.from_numpy(np.stack([d, f]).astype(np.float32) / 255)[None]
            out.append(float(model(x)))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="fr_corpus.py's work folder (built if empty)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--folds", default="all", help="'all', 'none', or comma-separated held-out sources")
    args = ap.parse_args()
    t0 = time.time()
    rows = build(args.work)
    planes = load_planes(args.work, rows)
    refs = load_refs(args.work)
    kept = [r for r in rows if r["frame"] < min(len(planes[r["file"]]), len(refs[r["source"]]))]
    print(f"{len(rows) - len(kept)} rows without a decoded frame dropped", flush=True)
    rows = kept
    t_data = time.time() - t0
    print(f"{len(rows)} frame pairs in {t_data:.0f} s", flush=True)

    folds = {}
    sources = [s.id for s in real_sources()]
    picked = sources if args.folds == "all" else [] if args.folds == "none" else args.folds.split(",")
    for held in picked:
        tr = [r for r in rows if r["group"] != held]
        te = [r for r in rows if r["group"] == held]
        model = train(tr, planes, refs, args.steps, SEED)
        pred = predict(model, te, planes, refs)
        true = np.array([r["vmaf"] for r in te])
        folds[held] = correlations(pred, true)
        keys = sorted({(r["source"], r["codec"], r["crf"]) for r in te})
        pe = [np.mean([p for p, r in zip(pred, te, strict=True)
                       if (r["source"], r["codec"], r["crf"]) == k]) for k in keys]  # fmt: skip
        te_ = [np.mean([r["vmaf"] for r in te if (r["source"], r["codec"], r["crf"]) == k])
               for k in keys]  # fmt: skip
        folds[held]["per_encode"] = correlations(np.array(pe), np.array(te_))
        print(held, folds[held], flush=True)

    final = train(rows, planes, refs, args.steps, SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(final, (torch.zeros(1, 2, 144, 176),), str(args.out / "vmaf_tiny_fr.onnx"),
                      input_names=["dist_ref"], output_names=["vmaf"],
                      dynamic_axes={"dist_ref": {2: "H", 3: "W"}}, opset_version=17, dynamo=False)  # fmt: skip
    keys = ("plcc", "srocc", "rmse", "bias")
    mean = {k: round(float(np.mean([f[k] for f in folds.values()])), 4) for k in keys} if folds else {}
    per_encode = ({k: round(float(np.mean([f["per_encode"][k] for f in folds.values()])), 4)
                   for k in ("plcc", "srocc", "rmse")} if folds else {})  # fmt: skip
    report = {
        "loso_per_frame": folds,
        "loso_mean_per_frame": mean,
        "loso_mean_per_encode": per_encode,
        "frames": len(rows),
        "training_sources": sorted({r["source"] for r in rows}),
        "grid": GRID,
        "steps": args.steps,
        "data_seconds": round(t_data, 1),
        "seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in final.parameters()),
    }
    (args.out / "vmaf_tiny_fr.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"per_frame": mean, "per_encode": per_encode}))


if __name__ == "__main__":
    main()
