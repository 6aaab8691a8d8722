"""Does saliency-guided bit allocation pay? Encodes with and without the vmaf_roi filter,
scored on the whole frame and inside the salient region (issue 20, item 6).

Clips: the first FRAMES frames of sources the saliency model never trained on (its
HELD_OUT: vtest, office-talk, pampi-tour, lab-throw), stored losslessly. Each is encoded by
x264 and x265 (medium) at CRF 22/27/32/37 and SVT-AV1 (preset 8; its libsvtav1 takes the
regions through our patch 0007) at CRF 30/38/46/54, through `vmaf_roi=model=vmaf_saliency`
at strength 0.25, 0.5 and 1 and without it (the patched FFmpeg, `make ffmpeg`).

Salient region: per frame, the blocks the filter put at level >= 1 at strength 1 (the
same map for every encode of a clip, read from its frame metadata). Two measures:
- salient VMAF ("masked"): libvmaf (vmaf_v0.6.1) of a picture that is the encode inside
  the salient blocks and the source everywhere else, against the source: only distortion
  in the salient region lowers it (it reads higher than a whole-frame score: the rest is
  perfect);
- salient PSNR: luma MSE over the salient blocks only.
Whole-frame VMAF: libvmaf of the encode against the source.

From the rate-quality points of each encode set: at equal bitrate (log-rate interpolation
over the range both curves cover), the salient VMAF gain and the whole-frame VMAF change
of each strength against no ROI; and the BD-rate on salient VMAF (bits saved at equal
salient-region quality; negative: fewer bits).

Run: .venv/bin/python bench/roi.py [--frames 90] [--clips vtest,office-talk] [--codecs svtav1]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bdrate import bd_rate, vmaf  # noqa: E402
from vmaftune.edges.toolchain import patched_ffmpeg, resolve  # noqa: E402
from vmaftune.zoo import sources  # noqa: E402

CLIPS = ("vtest", "office-talk", "pampi-tour", "lab-throw")
STRENGTHS = (0.25, 0.5, 1.0)
# codec: FFmpeg encoder, its arguments, the CRFs of its curve.
CODECS = {
    "x264": ("libx264", ["-preset", "medium"], (22, 27, 32, 37)),
    "x265": ("libx265", ["-preset", "medium", "-x265-params", "log-level=error"], (22, 27, 32, 37)),
    "svtav1": ("libsvtav1", ["-preset", "8"], (30, 38, 46, 54)),
    # SVT-AV1 without its own adaptive quantization (aq-mode 0), against which the maps
    # are the only bit allocation across the frame.
    "svtav1-aq0": ("libsvtav1", ["-preset", "8", "-svtav1-params", "aq-mode=0"], (30, 38, 46, 54)),
}
MODELS = ROOT / "models"


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, **kw)  # type: ignore[call-overload]
    if r.returncode:
        err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
        raise SystemExit(f"failed: {' '.join(argv)}\n{err[-2000:]}")
    return r


def source(clip: str, frames: int, work: Path, ff: str) -> tuple[Path, int, int]:
    s = next(x for x in sources.load() if x.id == clip)
    out = work / f"{clip}.mkv"
    run([ff, "-v", "error", "-y", *sources.input_args(s), "-frames:v", str(frames),
         "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p", "-c:v", "ffv1",
         str(out)])  # fmt: skip
    probe = subprocess.run([ff, "-i", str(out)], capture_output=True, text=True).stderr
    w, h = map(int, re.search(r", (\d{2,5})x(\d{2,5})", probe).groups())  # type: ignore[union-attr]
    return out, w, h


def salient_masks(pff: str, clip: Path, w: int, h: int) -> np.ndarray:
    graph = f"vmaf_roi=model=vmaf_saliency:registry={MODELS}:strength=1,metadata=print:file=-"
    out = run([pff, "-v", "error", "-i", str(clip), "-vf", graph, "-f", "null", "-"],
              text=True).stdout  # fmt: skip
    maps = re.findall(r"lavfi\.vmaf_roi\.map=(\S+)", out)
    masks = []
    for m in maps:
        lv = np.array([[int(c) - 3 for c in row] for row in m.split("/")])
        masks.append(np.kron(lv >= 1, np.ones((16, 16), bool))[:h, :w])
    return np.stack(masks)


def yuv(ff: str, path: Path, w: int, h: int) -> np.ndarray:
    raw = run([ff, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-"]).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, w * h * 3 // 2)


def measure(bff: str, enc: Path, src: Path, src_yuv: np.ndarray, masks: np.ndarray,
            w: int, h: int, work: Path) -> dict[str, float]:  # fmt: skip
    d = yuv(bff, enc, w, h).copy()
    n = min(len(d), len(src_yuv), len(masks))
    luma_mask = masks[:n].reshape(n, -1)
    cw, ch = w // 2, h // 2
    cmask = masks[:n, ::2, ::2].reshape(n, -1)
    mixed = src_yuv[:n].copy()
    y = mixed[:, : w * h]
    y[luma_mask] = d[:n, : w * h][luma_mask]
    for k in (0, 1):
        sl = slice(w * h + k * cw * ch, w * h + (k + 1) * cw * ch)
        part = mixed[:, sl]
        part[cmask] = d[:n, sl][cmask]
    comp = work / "masked.yuv"
    comp.write_bytes(mixed.tobytes())
    masked = work / "masked.mkv"
    run([bff, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}",
         "-i", str(comp), "-c:v", "ffv1", str(masked)])  # fmt: skip
    err = (d[:n, : w * h].astype(np.float64) - src_yuv[:n, : w * h]) ** 2
    mse = err[luma_mask].mean() if luma_mask.any() else 0.0
    return {
        "kbps": enc.stat().st_size * 8 * 25 / n / 1000,
        "vmaf": vmaf(bff, enc, src)[0],  # vmaf_v0.6.1
        "salient_vmaf": vmaf(bff, masked, src)[0],
        "salient_psnr": 10 * np.log10(255**2 / max(mse, 1e-9)),
    }


def at_equal_rate(base: list[dict], test: list[dict], key: str) -> float:
    """Mean difference of `key` (test minus base) over the log-rate range both cover."""
    rb, rt = np.log10([p["kbps"] for p in base]), np.log10([p["kbps"] for p in test])
    lo, hi = max(rb.min(), rt.min()), min(rb.max(), rt.max())
    if hi <= lo:
        return float("nan")
    grid = np.linspace(lo, hi, 50)
    fb = np.polyval(np.polyfit(rb, [p[key] for p in base], 2), grid)
    ft = np.polyval(np.polyfit(rt, [p[key] for p in test], 2), grid)
    return float(np.mean(ft - fb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--codecs", default="x264,x265,svtav1", help=f"of {','.join(CODECS)}")
    ap.add_argument("--json", type=Path, help="also write every point here")
    args = ap.parse_args()
    patched = patched_ffmpeg()
    if patched is None:
        raise SystemExit("roi.py needs the patched FFmpeg: make ffmpeg")
    pff, bff = str(patched.path), str(resolve().path)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="vmaftune-roi-") as tmp:
        work = Path(tmp)
        for clip in args.clips.split(","):
            src, w, h = source(clip, args.frames, work, bff)
            masks = salient_masks(pff, src, w, h)
            src_yuv = yuv(bff, src, w, h)
            results[clip] = {"size": f"{w}x{h}", "salient_share": round(float(masks.mean()), 3)}
            for codec in args.codecs.split(","):
                lib, extra, crfs = CODECS[codec]
                curves: dict[str, list[dict]] = {}
                for strength in (0.0, *STRENGTHS):
                    label = "none" if strength == 0 else f"{strength:g}"
                    vf = (
                        []
                        if strength == 0
                        else [
                            "-vf",
                            f"vmaf_roi=model=vmaf_saliency:registry={MODELS}:strength={strength}",
                        ]
                    )
                    points = []
                    for crf in crfs:
                        enc = work / f"enc.{codec}.mkv"
                        run([pff, "-v", "error", "-y", "-i", str(src), *vf, "-c:v", lib,
                             "-crf", str(crf), *extra, str(enc)])  # fmt: skip
                        p = measure(bff, enc, src, src_yuv, masks, w, h, work)
                        points.append({"crf": crf, **{k: round(v, 3) for k, v in p.items()}})
                    curves[label] = points
                    print(f"{clip} {codec} {label}: {points}", file=sys.stderr, flush=True)
                results[clip][codec] = curves
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(
        "Salient VMAF: libvmaf of the encode inside the salient blocks (level >= 1 at "
        "strength 1) over the source elsewhere. At equal bitrate: mean difference over "
        "the rate range both curves cover. BD-rate: bits at equal salient VMAF.\n"
    )
    print(
        "| clip | codec | strength | salient VMAF at equal rate | whole-frame VMAF at equal "
        "rate | salient PSNR at equal rate | BD-rate at equal salient VMAF |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for clip, res in results.items():
        for codec in args.codecs.split(","):
            base = res[codec]["none"]
            for label, pts in res[codec].items():
                if label == "none":
                    continue
                sv = at_equal_rate(base, pts, "salient_vmaf")
                wv = at_equal_rate(base, pts, "vmaf")
                sp = at_equal_rate(base, pts, "salient_psnr")
                bd = bd_rate([(p["kbps"], p["salient_vmaf"]) for p in base],
                             [(p["kbps"], p["salient_vmaf"]) for p in pts])  # fmt: skip
                print(
                    f"| {clip} ({res['size']}, salient {res['salient_share']:.0%}) | {codec} | "
                    f"{label} | {sv:+.2f} | {wv:+.2f} | {sp:+.2f} dB | {bd:+.1f} % |"
                )


if __name__ == "__main__":
    main()
