"""Train vmaf_post_nr, the no-reference model of the vmaf_post FFmpeg filter: from the
distorted frame alone it predicts the VMAF (vmaf_v0.6.1) the frame gets against its
unseen source.

Labels are real: each clip of models/train/sources.py (its first FRAMES frames; also at
half size), and three synthetic lavfi sources, is encoded
with x264 and x265 over a CRF grid by the bundled FFmpeg and scored per frame with its
libvmaf. The model is a small strided CNN on the luma plane ([1,1,H,W] floats in [0,1] ->
[1,1,1,1] VMAF), trained on crops and run on whole frames. Leave-one-source-out folds give
the reported PLCC/SROCC/RMSE; the shipped model is trained on all sources.

    python models/train/nr.py --out models --work /tmp/nr-work   # ~40 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sources import Source, luma_frames, real_sources
from torch import nn

FRAMES = 48
GRID = {"libx264": (16, 24, 30, 36, 42, 48), "libx265": (18, 26, 32, 38, 44, 50)}
SEED = 20261122
CROP = 160


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(argv)}\n{r.stderr[-2000:]}")


# More content than six clips, for a model that must not learn "which clip is this":
# each real clip again at half size (VMAF depends on resolution, and the filter sees any
# size), and three synthetic lavfi sources. A variant shares its clip's group, so a
# leave-one-source-out fold holds out the clip with all its variants.
SYNTHETIC = {
    "mandelbrot": "mandelbrot=s=640x360:r=25",
    "life": "life=s=640x360:r=25:mold=10:ratio=0.1:death_color=#303050:life_color=#e0d0a0,format=yuv420p",
    "testsrc2": "testsrc2=s=640x360:r=25",
}


def references(work: Path) -> list[tuple[str, str, Path]]:
    """(id, group, y4m) for every training source, made once in work/."""
    out = []
    for s in real_sources():
        for variant, vf in (("", "null"), ("@half", "scale=trunc(iw/4)*2:trunc(ih/4)*2")):
            ref = work / f"{s.id}{variant}.y4m"
            if not ref.exists():
                run([ffmpeg(), "-y", "-v", "error", "-i", str(s.path), "-frames:v", str(FRAMES),
                     "-vf", vf, "-pix_fmt", "yuv420p", str(ref)])
            out.append((s.id + variant, s.id, ref))
    for name, graph in SYNTHETIC.items():
        ref = work / f"synthetic-{name}.y4m"
        if not ref.exists():
            run([ffmpeg(), "-y", "-v", "error", "-f", "lavfi", "-i", graph,
                 "-frames:v", str(FRAMES), "-pix_fmt", "yuv420p", str(ref)])
        out.append((f"synthetic-{name}", f"synthetic-{name}", ref))
    return out


def build(work: Path) -> list[dict]:
    """Encode, score and decode; one row per distorted frame (cached in work/)."""
    rows_path = work / "rows-v2.json"
    if rows_path.exists():
        return json.loads(rows_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for sid, group, ref in references(work):
        s = Source(sid, ref)
        for codec, crfs in GRID.items():
            for crf in crfs:
                dis = work / f"{s.id}.{codec}.{crf}.mkv"
                log = work / f"{s.id}.{codec}.{crf}.json"
                if not log.exists():
                    run([ffmpeg(), "-y", "-v", "error", "-i", str(ref), "-c:v", codec,
                         "-preset", "veryfast" if codec == "libx264" else "fast", "-crf", str(crf),
                         *(["-x265-params", "log-level=error"] if codec == "libx265" else []),
                         str(dis)])
                    run([ffmpeg(), "-v", "error", "-i", str(dis), "-i", str(ref), "-lavfi",
                         f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads=2",
                         "-f", "null", "-"])
                frames = json.loads(log.read_text())["frames"]
                for f in frames:
                    rows.append({"source": s.id, "group": group, "codec": codec, "crf": crf,
                                 "frame": f["frameNum"], "file": dis.name,
                                 "vmaf": f["metrics"]["vmaf"]})
        print(f"built {s.id}", flush=True)
    rows_path.write_text(json.dumps(rows))
    return rows


class NoRef(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Conv2d(32, 16, 1), nn.ReLU(), nn.Conv2d(16, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(self.features(x), 1)
        return torch.sigmoid(self.head(pooled)) * 100.0


def load_planes(work: Path, rows: list[dict]) -> dict[str, list[np.ndarray]]:
    planes = {}
    for name in sorted({r["file"] for r in rows}):
        planes[name] = luma_frames(work / name, 10**9)
    return planes


def train(rows: list[dict], planes: dict[str, list[np.ndarray]], steps: int, seed: int) -> NoRef:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = NoRef()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        batch = rng.choice(len(rows), 16)
        xs, ys = [], []
        for i in batch:
            r = rows[i]
            p = planes[r["file"]][r["frame"]]
            h, w = p.shape
            c = min(CROP, h, w)
            y, x = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
            crop = p[y : y + c, x : x + c]
            if c < CROP:
                crop = np.pad(crop, ((0, CROP - c), (0, CROP - c)), mode="reflect")
            xs.append(crop)
            ys.append(r["vmaf"])
        x = torch.from_numpy(np.stack(xs).astype(np.float32)[:, None] / 255)
        y = torch.tensor(ys, dtype=torch.float32)
        loss = F.smooth_l1_loss(model(x).view(-1), y, beta=2.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def predict(model: NoRef, rows: list[dict], planes: dict[str, list[np.ndarray]]) -> np.ndarray:
    out = []
    with torch.no_grad():
        for r in rows:
            p = planes[r["file"]][r["frame"]]
            out.append(float(model(torch.from_numpy(p.astype(np.float32) / 255)[None, None])))
    return np.array(out)


def correlations(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    return {
        "plcc": round(float(pearsonr(pred, true)[0]), 4),
        "srocc": round(float(spearmanr(pred, true)[0]), 4),
        "rmse": round(float(np.sqrt(np.mean((pred - true) ** 2))), 3),
        "bias": round(float(np.mean(pred - true)), 3),  # predicted minus libvmaf
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--folds", default="all", help="'all', 'none', or comma-separated held-out sources")
    args = ap.parse_args()
    t0 = time.time()
    rows = build(args.work)
    planes = load_planes(args.work, rows)
    # libvmaf and the decoder agree on every encode; a frame past the decoded ones would
    # have no picture to learn from, so it is dropped (and counted) rather than guessed.
    kept = [r for r in rows if r["frame"] < len(planes[r["file"]])]
    print(f"{len(rows) - len(kept)} rows without a decoded frame dropped", flush=True)
    rows = kept
    t_data = time.time() - t0
    print(f"{len(rows)} frames in {t_data:.0f} s", flush=True)

    folds = {}
    # Folds hold out one real clip (with its half-size variant in neither side's training);
    # scored on the clip at its own size, as the earlier model was.
    sources = [s.id for s in real_sources()]
    picked = sources if args.folds == "all" else [] if args.folds == "none" else args.folds.split(",")
    for held in picked:
        tr = [r for r in rows if r["group"] != held]
        te = [r for r in rows if r["source"] == held]
        model = train(tr, planes, args.steps, SEED)
        pred = predict(model, te, planes)
        true = np.array([r["vmaf"] for r in te])
        folds[held] = correlations(pred, true)
        # Per encode (the shot-level use): mean over the frames of one encode.
        keys = sorted({(r["codec"], r["crf"]) for r in te})
        pe = [np.mean([p for p, r in zip(pred, te) if (r["codec"], r["crf"]) == k]) for k in keys]
        te_ = [np.mean([r["vmaf"] for r in te if (r["codec"], r["crf"]) == k]) for k in keys]
        folds[held]["per_encode"] = correlations(np.array(pe), np.array(te_))
        print(held, folds[held], flush=True)

    final = train(rows, planes, args.steps, SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(final, (torch.zeros(1, 1, 144, 176),), str(args.out / "vmaf_post_nr.onnx"),
                      input_names=["luma"], output_names=["vmaf"],
                      dynamic_axes={"luma": {2: "H", 3: "W"}}, opset_version=17, dynamo=False)
    mean = {k: round(float(np.mean([f[k] for f in folds.values()])), 4) for k in ("plcc", "srocc", "rmse", "bias")} if folds else {}
    per_encode_mean = {k: round(float(np.mean([f["per_encode"][k] for f in folds.values()])), 4) for k in ("plcc", "srocc", "rmse")} if folds else {}
    report = {
        "loso_per_frame": folds,
        "loso_mean_per_frame": mean,
        "loso_mean_per_encode": per_encode_mean,
        "frames": len(rows),
        "training_sources": sorted({r["source"] for r in rows}),
        "grid": GRID,
        "frames_per_source": FRAMES,
        "steps": args.steps,
        "data_seconds": round(t_data, 1),
        "seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in final.parameters()),
    }
    (args.out / "vmaf_post_nr.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(mean))


if __name__ == "__main__":
    main()
