"""The labelled corpus of the frame scorers (vmaf_tiny, vmaf_tiny_fr and their INT8
variants; vmaf_post_nr v1 was trained on it too): each clip of models/train/sources.py (its
first FRAMES frames; also at half size) and three synthetic lavfi sources, encoded with x264
and x265 over a CRF grid by the bundled FFmpeg and scored per frame with its libvmaf.
Built once in a work folder (about 8 min on 2 cores); vmaf_post_nr v2 has its own, larger
corpus (nr_corpus.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from sources import Source, luma_frames, real_sources

FRAMES = 48
GRID = {"libx264": (16, 24, 30, 36, 42, 48), "libx265": (18, 26, 32, 38, 44, 50)}


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
    "life": "life=s=640x360:r=25:mold=10:ratio=0.1:death_color=#303050:life_color=#e0d0a0,"
    "format=yuv420p",
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


def load_planes(work: Path, rows: list[dict]) -> dict[str, list[np.ndarray]]:
    planes = {}
    for name in sorted({r["file"] for r in rows}):
        planes[name] = luma_frames(work / name, 10**9)
    return planes


def correlations(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    return {
        "plcc": round(float(pearsonr(pred, true)[0]), 4),
        "srocc": round(float(spearmanr(pred, true)[0]), 4),
        "rmse": round(float(np.sqrt(np.mean((pred - true) ** 2))), 3),
        "bias": round(float(np.mean(pred - true)), 3),  # predicted minus libvmaf
    }
