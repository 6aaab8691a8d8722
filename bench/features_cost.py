"""What the cheap features cost against one production-preset encode of the same video.

For each real clip: the wall time of vmaftune.zoo.features.video_features (one pass over the
whole clip, all its shots) against one encode of the whole clip at the default preset of
x264 (medium), x265 (medium) and SVT-AV1 (8), to the null muxer, each the median of 3
runs. Goal (issue 4): features at most 25 % of one production encode.
Run: make bench  (or .venv/bin/python bench/features_cost.py)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmaftune import encoders  # noqa: E402
from vmaftune.edges.toolchain import resolve  # noqa: E402
from vmaftune.steps.probe import read  # noqa: E402
from vmaftune.steps.shots import ShotOptions, detect  # noqa: E402
from vmaftune.zoo import corpus, features  # noqa: E402

RUNS = 3


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ff = resolve()
    print("| clip | size | frames | shots | features (s) | x264 medium (s) | x265 medium (s) "
          "| SVT-AV1 8 (s) | features / x264 | / x265 | / SVT-AV1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    clips = [(sid, Path(args[-1].removeprefix("file:")))
             for sid, args in corpus.originals() if not sid.startswith("lavfi")]  # fmt: skip
    # The feature pass works at 320 wide whatever the source: at HD it weighs less. Big
    # Buck Bunny lanczos-scaled to 1080p (FFV1, so decoding is cheap) shows how much.
    work = Path(tempfile.mkdtemp(prefix="vmaftune-featcost-"))
    hd = work / "bigbuckbunny-1080p.mkv"
    bbb = dict(clips)["bigbuckbunny"]
    scale = ["-vf", "scale=1920:1080:flags=lanczos", "-c:v", "ffv1"]
    subprocess.run([str(ff.path), "-v", "error", "-i", str(bbb), *scale, str(hd)], check=True)
    clips.append(("bigbuckbunny@1080p", hd))
    for sid, path in clips:
        media, timeline = read(path)
        shots, _ = detect(ff, media, timeline, ShotOptions())
        t_feat = timed(lambda m=media, s=shots: features.video_features(ff, m, s))
        encs = []
        for name in ("x264", "x265", "svtav1"):
            enc = encoders.get(name)
            argv = ff.argv("-i", f"file:{path}", "-map", "0:v:0", "-fps_mode", "passthrough",
                           *enc.video_args(enc.quality.default, enc.default_preset, "yuv420p"),
                           "-f", "null", "-")  # fmt: skip
            encs.append(timed(lambda a=argv: subprocess.run(a, check=True, capture_output=True)))
        ratios = " | ".join(f"{100 * t_feat / e:.0f} %" for e in encs)
        print(f"| {sid} | {media.width}x{media.height} | {media.frame_count} | {len(shots)} | "
              f"{t_feat:.2f} | {' | '.join(f'{e:.2f}' for e in encs)} | {ratios} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
