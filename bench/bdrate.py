"""BD-rate of pre-filters on grainy real video: bits saved at equal VMAF against the clean
source, and each filter's frames per second, in one run.

Sources: the first 60 frames of the opencv-doc clips tree.avi (320x240) and vtest.avi
(768x576), which no zoo denoiser was trained on, plus bikes (640x272, training content of
both denoisers, marked). Each gets FFmpeg's temporal noise (`noise=alls=12:allf=t`, fixed
seed; the grain a camera or film scan adds) and is stored losslessly. Every pre-filter
runs in the patched FFmpeg (`make ffmpeg`) into a lossless file, timed; each result is
encoded by x264 and x265 (medium) at CRF 20/25/30/35/40, and every encode is scored with
libvmaf (vmaf_v0.6.1, bundled FFmpeg) against the clean source, never the noisy one.

BD-rate (Bjontegaard): log10 bitrate as a least-squares cubic in VMAF for each curve,
integrated over the VMAF range both curves cover; negative is fewer bits than encoding
the noisy clip as it is.

Run: make bench  (or .venv/bin/python bench/bdrate.py)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmaftune.edges.toolchain import patched_ffmpeg, resolve  # noqa: E402
from vmaftune.zoo import corpus  # noqa: E402

FRAMES = 60
CLIPS = ("tree", "vtest", "bikes")
TRAINED_ON = {"bikes"}
NOISE = "noise=alls=12:allf=t:all_seed=7"
CRFS = (20, 25, 30, 35, 40)
CODECS = {"x264": ("libx264", "medium"), "x265": ("libx265", "medium")}
FILTERS = {
    "none": "null",
    "hqdn3d": "hqdn3d",
    "nlmeans": "nlmeans",
    "nlmeans s=4": "nlmeans=s=4",
    "vmaf_pre": "vmaf_pre=model=vmaf_pre_dn",
    "vmaf_pre_temporal": "vmaf_pre_temporal=model=vmaf_pre_tdn",
    "vmaf_pre_temporal strength=0.5": "vmaf_pre_temporal=model=vmaf_pre_tdn:strength=0.5",
}


def run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(argv)}\n{r.stderr[-2000:]}")


def source(name: str) -> Path:
    for sid, args in corpus.originals():
        if sid == name:
            return Path(args[-1].removeprefix("file:"))
    raise SystemExit(f"clip {name} not found (make setup; apt-get install opencv-doc)")


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """Percent bitrate change of `test` against `anchor` at equal quality; points are
    (bitrate, VMAF)."""
    fits, lo, hi = [], -np.inf, np.inf
    for pts in (anchor, test):
        r = np.log10([p[0] for p in pts])
        q = np.array([p[1] for p in pts])
        fits.append(np.polyint(np.polyfit(q, r, 3)))
        lo, hi = max(lo, q.min()), min(hi, q.max())
    if hi <= lo:
        return float("nan")
    area = [np.polyval(f, hi) - np.polyval(f, lo) for f in fits]
    return float((10 ** ((area[1] - area[0]) / (hi - lo)) - 1) * 100)


def vmaf(ff: str, dist: Path, ref: Path) -> float:
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "v.json"
        run([ff, "-v", "error", "-i", str(dist), "-i", str(ref), "-lavfi",
             f"[0:v]setpts=N[d];[1:v]setpts=N[r];[d][r]libvmaf=log_fmt=json:log_path={log}:n_threads=2",
             "-f", "null", "-"])  # fmt: skip
        return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def measure(clips: tuple[str, ...], filters: dict[str, str], work: Path) -> dict[str, dict]:
    """Per clip: the noisy clip's VMAF and, per filter label, its fps and rate-VMAF points
    for each codec (the data every BD-rate here is computed from)."""
    patched = patched_ffmpeg()
    if patched is None:
        raise SystemExit("bdrate.py needs the patched FFmpeg: make ffmpeg")
    pff, bff = str(patched.path), str(resolve().path)
    results: dict[str, dict] = {}
    for clip in clips:
        clean, noisy = work / f"{clip}.clean.mkv", work / f"{clip}.noisy.mkv"
        run([bff, "-v", "error", "-y", "-i", str(source(clip)), "-frames:v", str(FRAMES),
             "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(clean)])  # fmt: skip
        run([bff, "-v", "error", "-y", "-i", str(clean), "-vf", NOISE, "-c:v", "ffv1", str(noisy)])
        results[clip] = {"noisy_vmaf": round(vmaf(bff, noisy, clean), 2), "filters": {}}
        for label, vf in filters.items():
            filtered = work / f"{clip}.{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.mkv"
            start = time.perf_counter()
            proc = subprocess.run(
                [pff, "-v", "error", "-benchmark", "-i", str(noisy), "-vf", vf,
                 "-c:v", "rawvideo", "-f", "nut", "-y", "/dev/null"],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode:
                raise SystemExit(f"{label} failed: {proc.stderr[-1500:]}")
            m = re.search(r"rtime=([0-9.]+)s", proc.stderr)
            seconds = float(m.group(1)) if m else time.perf_counter() - start
            run([pff, "-v", "error", "-y", "-i", str(noisy), "-vf", vf, "-c:v", "ffv1",
                 str(filtered)])  # fmt: skip
            entry = {"fps": round(FRAMES / seconds, 1),
                     "prefiltered_vmaf": round(vmaf(bff, filtered, clean), 2)}  # fmt: skip
            for codec, (lib, preset) in CODECS.items():
                points = []
                for crf in CRFS:
                    enc = work / f"enc.{codec}.{crf}.mkv"
                    extra = ["-x265-params", "log-level=error"] if lib == "libx265" else []
                    run([bff, "-v", "error", "-y", "-i", str(filtered), "-c:v", lib,
                         "-preset", preset, "-crf", str(crf), *extra, str(enc)])  # fmt: skip
                    rate = enc.stat().st_size * 8 * 25 / FRAMES
                    points.append((rate, vmaf(bff, enc, clean)))
                entry[codec] = [(round(r), round(q, 2)) for r, q in points]
            results[clip]["filters"][label] = entry
            print(f"{clip} {label}: {entry}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    # The zoo's registry for the filters' model ids, wherever the binary was built.
    os.environ.setdefault("VMAFTUNE_MODELS", str(ROOT / "models"))
    with tempfile.TemporaryDirectory(prefix="vmaftune-bdrate-") as tmp:
        results = measure(CLIPS, FILTERS, Path(tmp))
    print(
        f"Noise `{NOISE}` on the first {FRAMES} frames; x264/x265 medium at CRF "
        f"{'/'.join(map(str, CRFS))}; VMAF against the clean clip. BD-rate against no "
        "pre-filter (negative: fewer bits at equal VMAF). fps: the pre-filter alone, "
        "patched FFmpeg, 2 cores.\n"
    )
    print("| clip | filter | fps | VMAF of the pre-filtered clip | BD-rate x264 | BD-rate x265 |")
    print("|---|---|---|---|---|---|")
    means: dict[str, list[float]] = {}
    for clip, res in results.items():
        base = res["filters"]["none"]
        tag = f"{clip} (seen in training)" if clip in TRAINED_ON else clip
        for label, e in res["filters"].items():
            bd = [bd_rate(base[c], e[c]) if label != "none" else 0.0 for c in CODECS]
            if clip not in TRAINED_ON:
                means.setdefault(label, []).extend(bd)
            print(f"| {tag} | {label} | {e['fps']} | {e['prefiltered_vmaf']} "
                  f"(noisy {res['noisy_vmaf']}) | {bd[0]:+.1f} % | {bd[1]:+.1f} % |")  # fmt: skip
    print("\n| filter | mean BD-rate, held-out clips (x264 and x265) |")
    print("|---|---|")
    for label, values in means.items():
        print(f"| {label} | {np.mean(values):+.1f} % |")


if __name__ == "__main__":
    main()
