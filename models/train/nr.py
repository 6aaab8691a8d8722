"""Train vmaf_post_nr (v2), the no-reference model of the vmaf_post FFmpeg filter and of
`vmaftune score --nr`: from a decoded frame, and what its stream says of it, it predicts
the VMAF (vmaf_v0.6.1) the frame gets against its unseen source.

Input: one tensor [1,2,H,W] float32. Channel 0 is the luma plane in [0,1]. Channel 1
carries the stream vector (vmaftune.zoo.stream.STREAM_FEATURES) in its first row's first
samples and zeros elsewhere: FFmpeg's DNN module binds one input tensor per model, so the
stream rides with the picture. Absent facts are 0 with their flag 0: the vmaf_post filter
fills only the H.264 QPs (a filter cannot see packet sizes in FFmpeg 9), the Python engine
also the bits and the codec.

Graph: fixed pixel statistics (mean and spread of luma; at four scales the mean |Laplacian|,
mean sqrt|Laplacian| and mean gradient; 8x8 blockiness across and down), log2 of the
height over 1080, the stream vector; standardised; an MLP 26-32-32-1 (dropout 0.2, weight
decay 1e-2: on ten of the folds a 64-wide net without them held out 11.7 VMAF per encode,
this one 9.4, and wider, deeper, Huber-loss or seed-ensembled variants did no better);
100*sigmoid. Only the MLP is trained, on statistics computed once per frame, so every
leave-one-source-out fold over the 48 sources costs seconds. Training masks the stream facts at random (all; QP only;
bits and codec only; none) so one model serves every engine.

    python models/train/nr_corpus.py --work /tmp/nr2-work   # the corpus, ~12 min
    python models/train/nr.py --out models --work /tmp/nr2-work
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from vmaftune.zoo.stream import STREAM_FEATURES, FrameStream, vector  # noqa: E402

SEED = 20261205
STEPS = 1200
HIDDEN, DROPOUT, DECAY = 32, 0.2, 1e-2
K = len(STREAM_FEATURES)
PIXEL = 16
CODEC_OF = {"x264": "h264", "x265": "hevc", "svtav1": "av1"}
# Which stream facts each engine has: (QP, bits and codec).
MODES = {"python": (True, True), "filter": (True, False), "bits": (False, True), "pixels": (False, False)}
COVERAGE = 0.90


class PixelStats(nn.Module):
    """PIXEL statistics of a luma batch [N,1,H,W] in [0,1] -> [N,PIXEL]; fixed, not trained.

    The filters are written as shifted slices, not Conv: onnxruntime's default graph
    optimisation reorders a one-channel Conv's planes into its blocked layout and back,
    which made the whole model 4x slower at 720p."""

    @staticmethod
    def _mag(x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x * x + 1e-10)  # |x| from the allowlist's operators

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        n = y.shape[0]
        mean = y.mean(dim=(1, 2, 3))
        spread = torch.sqrt(((y - mean.view(n, 1, 1, 1)) ** 2).mean(dim=(1, 2, 3)) + 1e-8)
        out = [mean, spread]
        x = y
        for _ in range(4):
            # 3x3 Laplacian [[0,1,0],[1,-4,1],[0,1,0]], valid samples only.
            c = x[:, :, 1:-1, 1:-1]
            lap = (x[:, :, :-2, 1:-1] + x[:, :, 2:, 1:-1]) + (x[:, :, 1:-1, :-2] + x[:, :, 1:-1, 2:])
            a = self._mag(lap - 4.0 * c)
            out.append(torch.log(a.mean(dim=(1, 2, 3)) + 1e-4))
            out.append(torch.sqrt(a + 1e-6).mean(dim=(1, 2, 3)))
            # 2x2 gradient: across and down, each the mean of two differences.
            p, q, r, s = x[:, :, :-1, :-1], x[:, :, :-1, 1:], x[:, :, 1:, :-1], x[:, :, 1:, 1:]
            gx, gy = 0.5 * ((q - p) + (s - r)), 0.5 * ((r - p) + (s - q))
            out.append(torch.log(torch.sqrt(gx * gx + gy * gy + 1e-10).mean(dim=(1, 2, 3)) + 1e-4))
            x = F.avg_pool2d(x, 2)
        # Steps across 8x8 block edges (columns 7|8, 15|16, ...) against steps across the
        # middle of blocks (3|4, 11|12, ...); then the same down the rows.
        for edge, mid in (
            (y[:, :, :, 8::8] - y[:, :, :, 7:-1:8], y[:, :, :, 4::8] - y[:, :, :, 3:-1:8]),
            (y[:, :, 8::8, :] - y[:, :, 7:-1:8, :], y[:, :, 4::8, :] - y[:, :, 3:-1:8, :]),
        ):
            e = self._mag(edge).mean(dim=(1, 2, 3))
            m = self._mag(mid).mean(dim=(1, 2, 3))
            out.append(torch.log(e + 1e-4) - torch.log(m + 1e-4))
        return torch.stack(out, dim=1)


def log_height(y: torch.Tensor) -> torch.Tensor:
    """log2(H / 1080) of a batch [N,1,H,W] as [N,1], from operators the allowlist has."""
    h = (y[:, 0, :, 0:1] * 0.0 + 1.0).sum(dim=(1, 2))
    return (torch.log(h / 1080.0) / np.log(2.0)).view(-1, 1)


class Head(nn.Module):
    def __init__(self, mu: np.ndarray, sd: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mu", torch.tensor(mu, dtype=torch.float32))
        self.register_buffer("inv_sd", torch.tensor(1.0 / sd, dtype=torch.float32))
        self.mlp = nn.Sequential(
            nn.Linear(PIXEL + 1 + K, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
            nn.Linear(HIDDEN, 1),
        )  # fmt: skip

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp((f - self.mu) * self.inv_sd)) * 100.0


class NoRef(nn.Module):
    """The exported graph: [1,2,H,W] -> [1,1,1,1]."""

    def __init__(self, head: Head) -> None:
        super().__init__()
        self.stats = PixelStats()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:, 0:1]
        s = x[:, 1, 0, 0:K]
        f = torch.cat([self.stats(y), log_height(y), s], dim=1)
        return self.head(f).view(1, 1, 1, 1)


def facts(rows: list[dict], work: Path) -> np.ndarray:
    """The model's 26 inputs of every row (pixel statistics cached in work/)."""
    cache = work / "features-v1.npy"
    if cache.exists():
        x = np.load(cache)
        if len(x) == len(rows):
            return x
    stats = PixelStats()
    x = np.zeros((len(rows), PIXEL + 1 + K), dtype=np.float32)
    by_file: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_file.setdefault(r["file"], []).append(i)
    for n, (name, idx) in enumerate(sorted(by_file.items())):
        with av.open(str(work / name)) as box:
            planes = [f.to_ndarray(format="gray") for f in box.decode(video=0)]
        y = torch.from_numpy(np.stack(planes).astype(np.float32) / 255.0)[:, None]
        with torch.no_grad():
            p = torch.cat([stats(y), log_height(y)], dim=1).numpy()
        pixels = y.shape[2] * y.shape[3]
        for i in idx:
            r = rows[i]
            fs = FrameStream(r["frame"], r["bits"], r["key"], r["qp"], r["qp_std"])
            x[i, : PIXEL + 1] = p[r["frame"]]
            x[i, PIXEL + 1 :] = vector(fs, pixels=pixels, mean_bits=r["mean_bits"],
                                       codec=CODEC_OF[r["codec"]])  # fmt: skip
        if n % 200 == 0:
            print(f"features {n}/{len(by_file)}", flush=True)
    np.save(cache, x)
    return x


def mask(x: np.ndarray, qp: bool, bits: bool) -> np.ndarray:
    x = x.copy()
    s = PIXEL + 1
    if not qp:
        x[:, s : s + 3] = 0.0
    if not bits:
        x[:, s + 3 :] = 0.0
    return x


def train(x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> Head:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Standardise over the masked modes too: has_bits is always 1 in the corpus, so its
    # spread only exists once the bits are dropped.
    seen = np.concatenate([mask(x, qp, bits) for qp, bits in MODES.values()])
    mu, sd = seen.mean(axis=0), seen.std(axis=0) + 1e-3
    head = Head(mu, sd).train()
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=DECAY)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    s = PIXEL + 1
    for _ in range(steps):
        batch = torch.from_numpy(rng.choice(len(x), min(4096, len(x)), replace=False))
        xb = xt[batch].clone()
        mode = torch.from_numpy(rng.integers(0, 4, len(batch)))
        xb[mode >= 2, s : s + 3] = 0.0  # no QP
        xb[(mode == 1) | (mode == 3), s + 3 :] = 0.0  # no bits, no codec
        loss = F.mse_loss(head(xb).view(-1), yt[batch])
        if not torch.isfinite(loss):
            raise SystemExit(f"training diverged: loss {loss.item()}")
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), 10.0)
        opt.step()
        sched.step()
    return head.eval()


def predict(head: Head, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return head(torch.from_numpy(x)).view(-1).numpy().astype(np.float64)


def correlations(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """fr_corpus.correlations, with the count."""
    from fr_corpus import correlations as base

    return {**base(pred, true), "n": int(len(true))}


def per_encode(rows: list[dict], idx: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Means over the frames of each encode: (predicted, libvmaf, a row index of each)."""
    groups: dict[str, list[int]] = {}
    for j, i in enumerate(idx):
        groups.setdefault(rows[i]["file"], []).append(j)
    keys = sorted(groups)
    p = np.array([pred[groups[k]].mean() for k in keys])
    t = np.array([np.mean([rows[idx[j]]["vmaf"] for j in groups[k]]) for k in keys])
    return p, t, [int(idx[groups[k][0]]) for k in keys]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--folds", default="all", help="'all', 'none', or comma-separated groups")
    args = ap.parse_args()
    torch.set_num_threads(1)  # faster for so small a net, and the same numbers on any machine
    t0 = time.time()
    rows = json.loads((args.work / "rows.json").read_text())
    x = facts(rows, args.work)
    y = np.array([r["vmaf"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    print(f"{len(rows)} frames, {len(set(groups))} sources, features in {time.time() - t0:.0f} s",
          flush=True)  # fmt: skip

    held_pred = {m: np.full(len(rows), np.nan) for m in MODES}
    names = sorted(set(groups))
    picked = names if args.folds == "all" else [] if args.folds == "none" else args.folds.split(",")
    for g in picked:
        tr, te = np.where(groups != g)[0], np.where(groups == g)[0]
        head = train(x[tr], y[tr], args.steps, SEED)
        for m, (qp, bits) in MODES.items():
            held_pred[m][te] = predict(head, mask(x[te], qp, bits))
        p = held_pred["python"][te]
        print(f"{g}: frame rmse {np.sqrt(np.mean((p - y[te]) ** 2)):.2f}", flush=True)

    report: dict = {"modes": {}}
    per_source_all: dict = {}
    done = np.where(~np.isnan(held_pred["python"]))[0]
    for m in MODES if len(done) else ():  # --folds none: export only
        pred = held_pred[m]
        per_source, by_codec, by_label = {}, {}, {}
        enc_resid = []
        for g in sorted(set(groups[done])):
            idx = done[groups[done] == g]
            pe, te_, _ = per_encode(rows, idx, pred[idx])
            per_source[g] = {"frame": correlations(pred[idx], y[idx]),
                             "encode": correlations(pe, te_)}  # fmt: skip
            enc_resid.extend(pe - te_)
        pe, te_, first = per_encode(rows, done, pred[done])
        for key, table in (("codec", by_codec), ("label", by_label)):
            for v in sorted({rows[i][key] for i in first}):
                sel = np.array([rows[i][key] == v for i in first])
                fsel = done[np.array([rows[i][key] == v for i in done])]
                table[v] = {"frame": correlations(pred[fsel], y[fsel]),
                            "encode": correlations(pe[sel], te_[sel])}  # fmt: skip
        mean = {
            k: {s: round(float(np.mean([v[k][s] for v in per_source.values()])), 4)
                for s in ("plcc", "srocc", "rmse", "bias")}
            for k in ("frame", "encode")
        }  # fmt: skip
        report["modes"][m] = {
            "mean_over_sources": mean,
            "pooled": {"frame": correlations(pred[done], y[done]), "encode": correlations(pe, te_)},
            "interval90": round(float(np.quantile(np.abs(enc_resid), COVERAGE)), 2),
            "by_codec": by_codec,
            "by_label": by_label,
        }
        per_source_all[m] = per_source
        print(m, json.dumps(mean), "interval90", report["modes"][m]["interval90"], flush=True)

    head = train(x, y, args.steps, SEED)
    model = NoRef(head).eval()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(1, 2, 144, 176),), str(args.out / "vmaf_post_nr.onnx"),
                      input_names=["luma_stream"], output_names=["vmaf"],
                      dynamic_axes={"luma_stream": {2: "H", 3: "W"}}, opset_version=17,
                      dynamo=False)  # fmt: skip
    report.update({
        "frames": len(rows),
        "encodes": len({r["file"] for r in rows}),
        "sources": names,
        "stream_features": list(STREAM_FEATURES),
        "steps": args.steps,
        "seed": SEED,
        "seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in head.mlp.parameters()),
    })  # fmt: skip
    (args.out / "vmaf_post_nr.metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    if per_source_all:  # per held-out source, for the card; too long for the registry row
        (args.out / "vmaf_post_nr.loso.json").write_text(json.dumps(per_source_all, indent=1) + "\n")


if __name__ == "__main__":
    main()
