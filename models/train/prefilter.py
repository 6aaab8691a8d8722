"""Train vmaf_pre_dn, the tiny learned pre-filter of the vmaf_pre FFmpeg filter.

A 3-layer residual CNN on one plane ([1,1,H,W] floats in [0,1] -> same) that removes
synthetic noise: white Gaussian noise and film-grain-like noise (Gaussian noise low-passed
to a grain size, scaled with brightness), both of random strength, including none, so
clean input passes nearly unchanged. PSNR gain is measured on whole frames of held-out
clips (tree, vtest).

v2 (issue 19), as vmaf_pre_tdn v2 (models/train/temporal.py): v1 learned from four clips
with an L1 loss, smoothed away what VMAF counts and cost bits at equal VMAF on every
held-out clip it was measured on. v2 learns from patches of the 20 corpus sources in
sources.TRAIN (first 64 frames of each, at most 960 wide), its noisy inputs rounded to 8
bits as the filter sees them, with L1 + VIF + ADM-style detail kept (vmaf_loss.py), and
its middle convolution dilated (a 9x9 view instead of 7x7, same cost and operators).
`--v1` trains v1's recipe (the four real clips, L1, no dilation) for comparison.
Variants and the strength are chosen by models/train/prefilter_select.py.

    python models/train/prefilter.py --out models   # ~8 min on one CPU core
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sources import TRAIN, corpus_luma, luma_frames, real_sources
from torch import nn
from vmaf_loss import ADM_W, VIF_W, vmaf_loss

HELD_OUT = ("tree", "vtest")  # never seen in training: the PSNR report is on these
SEED = 20261122


class Denoiser(nn.Module):
    def __init__(self, width: int = 16, dilation: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


def add_noise(clean: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-sample noise: white Gaussian (sigma 0..15 code values) plus grain (sigma
    0..12, blurred to a 1-2 pixel grain, stronger in mid-tones). A sample's channels (the
    frames of a temporal window) share its strengths and get independent noise."""
    n, c = clean.shape[:2]
    sigma = torch.rand(n, 1, 1, 1, generator=gen) * (15 / 255)
    white = torch.randn(clean.shape, generator=gen) * sigma
    g_sigma = torch.rand(n, 1, 1, 1, generator=gen) * (12 / 255)
    grain = torch.randn(clean.shape, generator=gen)
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    grain = F.conv2d(grain, kernel.expand(c, 1, 3, 3), padding=1, groups=c) * 2.0 * g_sigma
    grain = grain * (4 * clean * (1 - clean)).clamp(min=0.25)
    # Some samples stay clean so the filter learns to leave clean video alone.
    keep = (torch.rand(n, 1, 1, 1, generator=gen) < 0.15).float()
    noisy = clean + (white + grain) * (1 - keep)
    return noisy.clamp(0, 1)


def patches(frames: list[np.ndarray], size: int, per_frame: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    for f in frames:
        h, w = f.shape
        if h <= size or w <= size:
            continue
        for _ in range(per_frame):
            y, x = rng.integers(0, h - size), rng.integers(0, w - size)
            out.append(f[y : y + size, x : x + size])
    return np.stack(out).astype(np.float32)[:, None] / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def evaluate(model: nn.Module, frames: list[np.ndarray], gen: torch.Generator) -> dict[str, float]:
    """Mean PSNR of noisy and denoised frames against the clean ones, at two noise levels."""
    out: dict[str, float] = {}
    for label, sigma in (("sigma5", 5), ("sigma10", 10)):
        noisy_p, clean_p = [], []
        for f in frames:
            clean = torch.from_numpy(f.astype(np.float32) / 255)[None, None]
            noisy = (clean + torch.randn(clean.shape, generator=gen) * sigma / 255).clamp(0, 1)
            with torch.no_grad():
                den = model(noisy).clamp(0, 1)
            q = lambda t: np.rint(t.numpy()[0, 0] * 255)  # noqa: E731 - the 8-bit output
            noisy_p.append(psnr(q(noisy), f))
            clean_p.append(psnr(q(den), f))
        out[f"psnr_noisy_{label}"] = round(float(np.mean(noisy_p)), 3)
        out[f"psnr_denoised_{label}"] = round(float(np.mean(clean_p)), 3)
        out[f"psnr_gain_{label}"] = round(float(np.mean(clean_p) - np.mean(noisy_p)), 3)
    with torch.no_grad():  # on clean input the filter should change almost nothing
        clean_psnr = [
            psnr(np.rint(model(torch.from_numpy(f.astype(np.float32) / 255)[None, None]).clamp(0, 1).numpy()[0, 0] * 255), f)
            for f in frames
        ]
    out["psnr_on_clean"] = round(float(np.mean(clean_psnr)), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="folder for the .onnx and metrics")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--vif-weight", type=float, default=VIF_W)
    ap.add_argument("--adm-weight", type=float, default=ADM_W)
    ap.add_argument("--cap-vif", action="store_true",
                    help="VIF's enhancement gain capped at 1, as VMAF NEG")
    ap.add_argument("--v1", action="store_true",
                    help="v1's recipe: the four real clips, L1 loss, no dilation")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    train, held = [], {}
    for s in real_sources():
        frames = luma_frames(s.path, 24)
        if s.id in HELD_OUT:
            held[s.id] = frames[:6]
        elif args.v1:
            train.extend(frames)
    if args.v1:
        data = torch.from_numpy(patches(train, 64, 24, rng))
        sources = [s.id for s in real_sources() if s.id not in HELD_OUT]
    else:
        for sid in TRAIN:
            train.extend(corpus_luma(sid, 64))
        data = torch.from_numpy(patches(train, 64, 10, rng))
        sources = list(TRAIN)
    print(f"{len(data)} training patches from {len(train)} frames", flush=True)

    model = Denoiser(dilation=1 if args.v1 else 2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    for step in range(args.steps):
        idx = torch.randint(0, len(data), (32,), generator=gen)
        clean = data[idx]
        # Flips and transposes: the filter should not prefer a direction.
        if step % 2:
            clean = clean.flip(3)
        if step % 3 == 0:
            clean = clean.transpose(2, 3)
        noisy = add_noise(clean, gen)
        if args.v1:
            loss, parts = F.l1_loss(model(noisy), clean), {}
        else:
            # Rounded to 8 bits, as the filter sees them.
            noisy = torch.round(noisy * 255) / 255
            loss, parts = vmaf_loss(
                model(noisy), clean, args.vif_weight, args.adm_weight, args.cap_vif
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print(f"step {step} loss {loss.item():.4f} " +
                  " ".join(f"{k} {v:.3f}" for k, v in parts.items()), flush=True)  # fmt: skip

    model.eval()
    metrics = {s: evaluate(model, fr, torch.Generator().manual_seed(1)) for s, fr in held.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "vmaf_pre_dn.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 64, 64),),
        str(onnx_path),
        input_names=["plane"],
        output_names=["filtered"],
        dynamic_axes={"plane": {2: "H", 3: "W"}, "filtered": {2: "H", 3: "W"}},
        opset_version=17,
        dynamo=False,
    )
    report = {
        "held_out": metrics,
        "train_sources": sources,
        "loss": {"l1": 1.0} if args.v1 else {
            "l1": 1.0, "vif": args.vif_weight, "detail_kept": args.adm_weight,
            "vif_gain_capped": args.cap_vif},
        "dilation": 1 if args.v1 else 2,
        "steps": args.steps,
        "seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (args.out / "vmaf_pre_dn.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
