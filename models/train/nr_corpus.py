"""The no-reference model's corpus: every source of models/data/sources.toml (the predict
issue's 45 real clips and 3 lavfi graphs), FRAMES contiguous frames each, at its own size
(at most 720 lines) and at half size, encoded by the bundled FFmpeg with x264, x265 and
SVT-AV1 at CRFS_PER_CODEC settings drawn per clip from stratified ranges, and scored per
frame with its libvmaf. For every distorted frame it keeps what the model may see: the
frame itself (the encode is kept), its packet's bits, the encode's mean bits, and the
block QPs where the decoder exports them (H.264 only among these codecs).

    python models/train/nr_corpus.py --work /tmp/nr2-work [--jobs 2]

Rows go to WORK/rows.json; encodes are cached in WORK, so a rerun costs seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from vmaftune.zoo import sources as source_table  # noqa: E402
from vmaftune.steps.score import INDEX_STAMPS  # noqa: E402
from vmaftune.zoo import stream  # noqa: E402

FRAMES = 24
START = 30  # skip titles and fades where the clip is long enough
MAX_LINES = 720
CRFS_PER_CODEC = 4
# (FFmpeg encoder, extra options, CRF range): ranges span visually lossless to broken.
CODECS = {
    "x264": ("libx264", ("-preset", "fast"), (14, 47)),
    "x265": ("libx265", ("-preset", "fast", "-x265-params", "log-level=error"), (16, 48)),
    "svtav1": ("libsvtav1", ("-preset", "10", "-svtav1-params", "lp=1"), (18, 63)),
}


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"failed: {' '.join(argv)}\n{r.stderr[-1500:]}")


def count(path: Path) -> int:
    import av

    with av.open(str(path)) as box:
        return sum(1 for _ in box.decode(video=0))


def reference(src: source_table.Source, work: Path) -> Path | None:
    """FRAMES frames of the source at its own size (at most MAX_LINES lines), or None."""
    ref = work / f"{src.id}.y4m"
    if ref.exists():
        return ref
    fit = f"scale=-2:'min({MAX_LINES},ih)':flags=bicubic,scale=trunc(iw/2)*2:trunc(ih/2)*2"
    for start in (START, 0):
        trim = f"trim=start_frame={start},setpts=PTS-STARTPTS,{fit}"
        tmp = work / f"{src.id}.part.y4m"
        run([ffmpeg(), "-y", "-v", "error", *source_table.input_args(src), "-vf", trim,
             "-frames:v", str(FRAMES), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(tmp)])
        if count(tmp) >= FRAMES // 2:
            tmp.rename(ref)
            return ref
    return None


def half(ref: Path, work: Path) -> Path | None:
    out = work / f"{ref.stem}@half.y4m"
    if out.exists():
        return out
    import av

    with av.open(str(ref)) as box:
        h = box.streams.video[0].codec_context.height
    if h < 240:
        return None
    tmp = work / f"{ref.stem}@half.part.y4m"
    run([ffmpeg(), "-y", "-v", "error", "-i", str(ref), "-vf",
         "scale=trunc(iw/4)*2:trunc(ih/4)*2:flags=bicubic", "-pix_fmt", "yuv420p",
         "-f", "yuv4mpegpipe", str(tmp)])
    tmp.rename(out)
    return out


def settings(variant: str, codec: str) -> list[int]:
    """CRFS_PER_CODEC settings, one in each equal part of the codec's range, drawn from a
    seed made of the variant and codec (the same on every machine)."""
    lo, hi = CODECS[codec][2]
    seed = int.from_bytes(hashlib.sha256(f"{variant}/{codec}".encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    edges = np.linspace(lo, hi + 1, CRFS_PER_CODEC + 1)
    return [int(rng.integers(int(a), max(int(a) + 1, int(b)))) for a, b in zip(edges, edges[1:])]


def encode(variant: str, group: str, label: str, ref: Path, codec: str, crf: int,
           work: Path) -> list[dict]:
    name = f"{variant}.{codec}.{crf}"
    # .idx: frames paired by index (libvmaf's framesync pairs by time, and Matroska's
    # millisecond stamps of a 1506/125 fps clip then pair the wrong frames).
    dis, log = work / f"{name}.mkv", work / f"{name}.vmaf.idx.json"
    if not dis.exists():
        encoder, extra, _ = CODECS[codec]
        run([ffmpeg(), "-y", "-v", "error", "-i", str(ref), "-c:v", encoder, *extra,
             "-crf", str(crf), "-pix_fmt", "yuv420p", f"{dis}.part.mkv"])
        Path(f"{dis}.part.mkv").rename(dis)
    if not log.exists():
        run([ffmpeg(), "-v", "error", "-i", str(dis), "-i", str(ref), "-lavfi",
             f"[0:v]{INDEX_STAMPS}[d];[1:v]{INDEX_STAMPS}[r];"
             f"[d][r]libvmaf=log_fmt=json:log_path={log}.part:n_threads=1",
             "-f", "null", "-"])
        Path(f"{log}.part").rename(log)
    scores = [f["metrics"]["vmaf"] for f in json.loads(log.read_text())["frames"]]
    facts = list(stream.frames(dis))
    mean_bits = float(np.mean([f.bits for f in facts]))
    rows = []
    for f, vmaf in zip(facts, scores):
        rows.append({
            "variant": variant, "group": group, "label": label, "codec": codec, "crf": crf,
            "file": dis.name, "frame": f.index, "vmaf": vmaf, "bits": f.bits,
            "mean_bits": mean_bits, "key": f.key, "qp": f.qp, "qp_std": f.qp_std,
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    jobs = []
    for src in source_table.load():
        ref = reference(src, work)
        if ref is None:
            print(f"{src.id}: fewer than {FRAMES // 2} frames, left out", flush=True)
            continue
        for variant_ref in (ref, half(ref, work)):
            if variant_ref is None:
                continue
            for codec in CODECS:
                for crf in settings(variant_ref.stem, codec):
                    jobs.append((variant_ref.stem, src.id, src.label, variant_ref, codec, crf))
    print(f"{len(jobs)} encodes", flush=True)
    rows: list[dict] = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for i, part in enumerate(pool.map(lambda j: encode(*j, work), jobs)):
            rows.extend(part)
            if i % 50 == 0:
                print(f"{i}/{len(jobs)} encodes", flush=True)
    (work / "rows.json").write_text(json.dumps(rows))
    print(f"{len(rows)} frames from {len({r['group'] for r in rows})} sources", flush=True)


if __name__ == "__main__":
    main()
