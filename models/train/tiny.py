"""Train vmaf_tiny: libvmaf's vmaf_v0.6.1 score of a frame from its canonical-6 features
(adm2, vif_scale0..3, motion2), distilled per frame into a small MLP whose scaler is
inside the exported graph (six raw features in, VMAF out, clipped to [0, 100]).

Data: the per-frame libvmaf logs of the encodes fr_corpus.py builds (real clips, their half-size
variants and three lavfi sources, x264 and x265 over a CRF grid); they are built first if
missing. Evaluation is leave-one-source-out (a clip with its variants; the lavfi sources
each their own), reported as PLCC, SROCC and RMSE against libvmaf.

    python models/train/tiny.py --out models --work /tmp/nr-work
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fr_corpus import build, correlations
from torch import nn

FEATURES = ("integer_adm2", "integer_vif_scale0", "integer_vif_scale1", "integer_vif_scale2",
            "integer_vif_scale3", "integer_motion2")  # fmt: skip
SEED = 20261122


def frames(work: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = build(work)
    seen, x, y, groups = set(), [], [], []
    for r in rows:
        log = work / r["file"].replace(".mkv", ".json")
        if log in seen:
            continue
        seen.add(log)
        for f in json.loads(log.read_text())["frames"]:
            m = f["metrics"]
            x.append([m[k] for k in FEATURES])
            y.append(m["vmaf"])
            groups.append(r["group"])
    return np.array(x, np.float32), np.array(y, np.float32), groups


class Tiny(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 16) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))
        self.net = nn.Sequential(nn.Linear(6, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                 nn.Tanh(), nn.Linear(hidden, 1))  # fmt: skip

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return 50.0 + 50.0 * self.net((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.raw(x), 0.0, 100.0)


def fit(x: np.ndarray, y: np.ndarray, epochs: int) -> Tiny:
    torch.manual_seed(SEED)
    model = Tiny(x.mean(axis=0), x.std(axis=0) + 1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)[:, None]
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(256):
            loss = F.mse_loss(model.raw(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


def predict(model: Tiny, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    t0 = time.time()
    x, y, groups = frames(args.work)
    g = np.array(groups)
    folds = {}
    for held in sorted(set(groups)):
        model = fit(x[g != held], y[g != held], args.epochs)
        folds[held] = correlations(predict(model, x[g == held]), y[g == held])
        print(held, folds[held], flush=True)
    final = fit(x, y, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(final, (torch.from_numpy(x[:2]),), str(args.out / "vmaf_tiny.onnx"),
                      input_names=["canonical6"], output_names=["vmaf"],
                      dynamic_axes={"canonical6": {0: "N"}, "vmaf": {0: "N"}},
                      opset_version=17, dynamo=False)  # fmt: skip
    plcc = [f["plcc"] for f in folds.values()]
    report = {
        "inputs": ["adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2"],
        "loso": folds,
        "loso_mean": {k: round(float(np.mean([f[k] for f in folds.values()])), 4)
                      for k in ("plcc", "srocc", "rmse")},  # fmt: skip
        "loso_plcc_spread": round(float(max(plcc) - min(plcc)), 4),
        "gate": {"mean_plcc_min": 0.995, "spread_max": 0.005,
                 "passed": bool(np.mean(plcc) >= 0.995 and max(plcc) - min(plcc) <= 0.005)},  # fmt: skip
        "frames": len(y),
        "epochs": args.epochs,
        "seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in final.parameters()),
    }
    (args.out / "vmaf_tiny.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("loso_mean", "loso_plcc_spread", "gate")}))


if __name__ == "__main__":
    main()
