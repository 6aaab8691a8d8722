"""Train vmaf_saliency, the model of the vmaf_roi FFmpeg filter and `vmaftune roi`: from a
frame's luma and the previous frame's, where a viewer looks, one value in [0, 1] per 16x16
block (the macroblock grid x264 and x265 take region-of-interest offsets on).

No eye-tracking data can be reached here, so the labels come from a teacher made of
classical cues run with OpenCV (opencv-contrib-python-headless), each normalised to [0, 1]
per frame, on the frame at its working size (width 384):
- spectral residual saliency (Hou & Zhang 2007): what is rare in the frame's spectrum;
- fine-grained static saliency (Montabone & Soto 2010): centre-surround contrast;
- motion: the absolute luma difference to the previous frame, blurred;
- faces: OpenCV's bundled frontal-face Haar cascade, each face box (enlarged by 20 %)
  set to 1.
Label = max(faces, 0.35 spectral + 0.25 fine-grained + 0.40 motion), averaged over each
16x16 block of the full frame and divided by the frame's largest block. What the labels
capture: contrast, rarity, moving things and frontal faces. What they miss: semantics
(text, a ball in play, the speaker among several faces), profile faces, camera motion
(a pan makes everything "move"), and viewers' centre bias beyond what the cues give.

The student: the two luma planes at any size ([1,2,H,W] in [0,1]) are resized inside the
graph to width 384, through four stride-2 convolutions to a 1/16 grid, compared with
their frame-wide mean (global context), two more convolutions (one dilated), resized to
ceil(H/16) x ceil(W/16) and a sigmoid: [1,1,ceil(H/16),ceil(W/16)]. Loss: MSE plus
(1 - Pearson CC) per frame.

Data: every real source of models/data/sources.toml on this machine (`vmaftune corpus
sources --fetch`), pairs of consecutive frames every 15 frames of its first 20 s (at most
PAIRS per source), plus the three lavfi sources. HELD_OUT sources are never trained on;
their CC and top-20 % IoU against the teacher are reported, with a centre-bias prior
and the teacher's own cues alone for scale.

    .venv/bin/python models/train/saliency.py --out models   # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vmaftune.zoo import sources  # noqa: E402

WORK_WIDTH = 384
BLOCK = 16
PAIRS = 24
SEED = 20261205
# Held out by label, so each kind of content is scored unseen: faces (webcam-smile,
# office-talk), a crowd (vtest), game, screen, animation, grain.
HELD_OUT = ("vtest", "webcam-smile", "office-talk", "blupi-river", "speaker-diagram",
            "pampi-tour", "calais-1906", "lab-throw")  # fmt: skip


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def frame_pairs(args: tuple[str, ...], limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(previous, current) luma pairs (uint8, the source's size with even sides, at most
    720 lines) every 15 frames of the first 20 s."""
    raw = subprocess.run(
        [ffmpeg(), "-v", "error", *args, "-t", "20", "-vf",
         "select='lt(mod(n\\,15)\\,2)',scale=-2:'min(ih\\,720)',format=gray",
         "-fps_mode", "passthrough", "-frames:v", str(2 * limit),
         "-f", "image2pipe", "-c:v", "pgm", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    frames, pos = [], 0
    while pos < len(raw):  # PGM: "P5\nW H\n255\n" then W*H bytes
        header = raw[pos : pos + 64].split(b"\n", 3)
        w, h = map(int, header[1].split())
        start = pos + len(header[0]) + len(header[1]) + len(header[2]) + 3
        frames.append(np.frombuffer(raw, np.uint8, w * h, start).reshape(h, w))
        pos = start + w * h
    return [(frames[i], frames[i + 1]) for i in range(0, len(frames) - 1, 2)]


_CASCADE = None


def teacher(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The pseudo-label: per 16x16 block of `cur`, in [0, 1] (see the module's text)."""
    import cv2

    global _CASCADE
    h, w = cur.shape
    wh = max(16, round(h * WORK_WIDTH / w))
    small = cv2.resize(cur, (WORK_WIDTH, wh), interpolation=cv2.INTER_AREA)
    small_prev = cv2.resize(prev, (WORK_WIDTH, wh), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)

    def unit(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float32)
        a -= a.min()
        top = float(a.max())
        return a / top if top > 1e-6 else np.zeros_like(a)

    ok, sr = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(bgr)
    sr = unit(cv2.GaussianBlur(sr, (0, 0), 3)) if ok else np.zeros((wh, WORK_WIDTH), np.float32)
    ok, fg = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(bgr)
    fg = unit(cv2.GaussianBlur(fg.astype(np.float32), (0, 0), 3)) if ok else np.zeros_like(sr)
    diff = cv2.absdiff(small, small_prev).astype(np.float32)
    motion = cv2.GaussianBlur(diff, (0, 0), 4)
    motion = np.clip(motion / max(8.0, float(np.percentile(motion, 99))), 0, 1)
    mix = 0.35 * sr + 0.25 * fg + 0.40 * motion
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = np.zeros_like(mix)
    for x, y, fw, fh in _CASCADE.detectMultiScale(small, 1.1, 5, minSize=(16, 16)):
        dx, dy = int(fw * 0.1), int(fh * 0.1)
        faces[max(0, y - dy) : y + fh + dy, max(0, x - dx) : x + fw + dx] = 1.0
    full = cv2.resize(np.maximum(mix, faces), (w, h), interpolation=cv2.INTER_LINEAR)
    return blocks(full)


def blocks(plane: np.ndarray) -> np.ndarray:
    """Mean of each 16x16 block (edge blocks over what they cover), divided by the largest."""
    h, w = plane.shape
    bh, bw = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.full((bh * BLOCK, bw * BLOCK), np.nan, np.float32)
    padded[:h, :w] = plane
    out = np.nanmean(padded.reshape(bh, BLOCK, bw, BLOCK), axis=(1, 3))
    top = float(out.max())
    return out / top if top > 1e-6 else out


class Saliency(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(2, 12, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(24, 24, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Conv2d(48, 24, 3, padding=1), nn.ReLU(),
            nn.Conv2d(24, 16, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(16, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Sizes as float tensors, so the exported graph computes them with Shape, Cast,
        # Mul and Div (in the allowlist) at any input size.
        shape = torch._shape_as_tensor(x).float()
        h, w = shape[2], shape[3]
        work_h = (h * WORK_WIDTH / w).long()
        y = F.interpolate(x, size=(work_h, torch.tensor(WORK_WIDTH)), mode="bilinear",
                          align_corners=False)  # fmt: skip
        f = self.down(y)
        g = f.mean(dim=(2, 3), keepdim=True)
        z = self.head(torch.cat([f, f - g], dim=1))
        grid = (((h + BLOCK - 1) / BLOCK).long(), ((w + BLOCK - 1) / BLOCK).long())
        return torch.sigmoid(F.interpolate(z, size=grid, mode="bilinear", align_corners=False))


def cc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1) - a.mean(), b.reshape(-1) - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 1e-9 else 0.0


def iou_top(a: np.ndarray, b: np.ndarray, share: float = 0.2) -> float:
    """IoU of the top `share` of blocks of each map."""
    k = max(1, int(round(a.size * share)))
    ta = set(np.argsort(a.reshape(-1))[-k:].tolist())
    tb = set(np.argsort(b.reshape(-1))[-k:].tolist())
    return len(ta & tb) / len(ta | tb)


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    return np.exp(-(((yy - cy) / (0.35 * shape[0])) ** 2 + ((xx - cx) / (0.35 * shape[1])) ** 2))


def tensor(prev: np.ndarray, cur: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([cur, prev]).astype(np.float32) / 255)[None]


def dataset() -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    out: dict[str, list] = {}
    for s in sources.load():
        try:
            args = sources.input_args(s)
        except Exception:  # not on this machine: `vmaftune corpus sources --fetch`
            continue
        if args[0] == "-i" and not Path(args[1].removeprefix("file:")).exists():
            continue
        pairs = frame_pairs(args, PAIRS)
        if pairs:
            out[s.id] = [(p, c, teacher(p, c)) for p, c in pairs]
            print(f"{s.id}: {len(pairs)} pairs, {pairs[0][1].shape[1]}x{pairs[0][1].shape[0]}",
                  flush=True)  # fmt: skip
    return out


def train(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], steps: int) -> Saliency:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = Saliency()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        loss = torch.zeros(())
        for i in rng.choice(len(data), 4, replace=False):
            prev, cur, label = data[i]
            if rng.random() < 0.5:  # mirror: saliency has no handedness
                prev, cur, label = prev[:, ::-1], cur[:, ::-1], label[:, ::-1]
            pred = model(tensor(np.ascontiguousarray(prev), np.ascontiguousarray(cur)))[0, 0]
            y = torch.from_numpy(np.ascontiguousarray(label))
            pc, yc = pred - pred.mean(), y - y.mean()
            corr = (pc * yc).sum() / torch.sqrt((pc * pc).sum() * (yc * yc).sum() + 1e-8)
            loss = loss + F.mse_loss(pred, y) + 0.5 * (1 - corr)
        opt.zero_grad()
        (loss / 4).backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            print(f"step {step}: loss {float(loss) / 4:.4f}", flush=True)
    return model.eval()


def evaluate(model: Saliency, data: dict[str, list]) -> dict[str, dict[str, float]]:
    out = {}
    with torch.no_grad():
        for sid, items in data.items():
            ccs, ious, prior_cc, prior_iou = [], [], [], []
            for prev, cur, label in items:
                pred = model(tensor(prev, cur))[0, 0].numpy()
                ccs.append(cc(pred, label))
                ious.append(iou_top(pred, label))
                prior = centre_prior(label.shape)
                prior_cc.append(cc(prior, label))
                prior_iou.append(iou_top(prior, label))
            out[sid] = {"cc": round(float(np.mean(ccs)), 3), "iou_top20": round(float(np.mean(ious)), 3),
                        "centre_prior_cc": round(float(np.mean(prior_cc)), 3),
                        "centre_prior_iou_top20": round(float(np.mean(prior_iou)), 3),
                        "pairs": len(items)}  # fmt: skip
    return out


def speed(path: Path) -> dict[str, float]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = {}
    for h, w in ((720, 1280), (1080, 1920)):
        x = np.random.default_rng(0).random((1, 2, h, w), dtype=np.float32)
        s.run(None, {"luma": x})
        times = []
        for _ in range(9):
            t = time.perf_counter()
            s.run(None, {"luma": x})
            times.append(time.perf_counter() - t)
        out[f"{h}p"] = round(1 / float(np.median(times)), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2500)
    args = ap.parse_args()
    t0 = time.time()
    data = dataset()
    t_data = time.time() - t0
    train_ids = [s for s in data if s not in HELD_OUT]
    model = train([x for s in train_ids for x in data[s]], args.steps)
    held = evaluate(model, {s: data[s] for s in HELD_OUT if s in data})
    seen = evaluate(model, {s: data[s] for s in train_ids})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "vmaf_saliency.onnx"
    torch.onnx.export(model, (torch.zeros(1, 2, 360, 640),), str(path), input_names=["luma"],
                      output_names=["saliency"],
                      dynamic_axes={"luma": {2: "H", 3: "W"}, "saliency": {2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)  # fmt: skip

    def mean(d: dict, k: str) -> float:
        return round(float(np.mean([v[k] for v in d.values()])), 3)

    report = {
        "held_out": held,
        "held_out_mean": {k: mean(held, k) for k in ("cc", "iou_top20", "centre_prior_cc", "centre_prior_iou_top20")},
        "trained_mean": {k: mean(seen, k) for k in ("cc", "iou_top20")},
        "training_sources": train_ids,
        "pairs": sum(len(v) for v in data.values()),
        "block": BLOCK,
        "work_width": WORK_WIDTH,
        "steps": args.steps,
        "cpu_fps": speed(path),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data_seconds": round(t_data, 1),
        "seconds": round(time.time() - t0, 1),
    }
    (args.out / "vmaf_saliency.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("held_out_mean", "trained_mean", "cpu_fps", "parameters")}))


if __name__ == "__main__":
    main()
