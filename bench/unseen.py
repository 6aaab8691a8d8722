"""The per-shot issue's acceptance check on content that no tuning, test or benchmark has
used: FFmpeg lavfi sources (mandelbrot, gradients, life, sierpinski with grain) joined
with one hard cut, one cross-fade and one cut to a grainy shot.

1. `vmaftune encode --target-vmaf T` with x264, x265 and SVT-AV1; every shot of OUT is
   scored with stock libvmaf against the source (bench/stock.py) and must reach T.
2. kill -9 after three finished probes, run again: no finished probe is encoded again.
3. `vmaftune ladder` with x265: FFmpeg reads every variant of master.m3u8 back with the
   source's frame count and identical timestamps across variants; each shot of the
   middle rung, upscaled, reaches its target under stock libvmaf.

    python bench/unseen.py [--target 93]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.kill import kill_after_probes
from bench.stock import stock_vmaf
from vmaftune.edges.toolchain import resolve
from vmaftune.steps import probe as media

SIZE = "640x360"
PIECES = (
    f"mandelbrot=s={SIZE}:r=25,trim=duration=3,format=yuv420p",
    f"gradients=s={SIZE}:r=25:speed=0.03,trim=duration=2.5,format=yuv420p",
    f"life=s=160x90:r=25:mold=10:ratio=0.2:seed=7,scale={SIZE}:flags=neighbor,"
    "trim=duration=2,format=yuv420p",
    f"sierpinski=s={SIZE}:r=25:seed=7,noise=alls=14:allf=t:all_seed=7,trim=duration=2,"
    "format=yuv420p",
)


def build(ffmpeg: str, dest: Path) -> None:
    """mandelbrot -(0.6 s cross-fade)- gradients | life | sierpinski + grain."""
    graph = ";".join(f"{src},setpts=PTS-STARTPTS[p{i}]" for i, src in enumerate(PIECES))
    graph += ";[p0][p1]xfade=transition=fade:duration=0.6:offset=2.4[a]"
    graph += ";[a][p2][p3]concat=n=3:v=1:a=0[v]"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-filter_complex", graph, "-map", "[v]",
         "-c:v", "libx264", "-preset", "medium", "-crf", "10", str(dest)],
        check=True,
    )  # fmt: skip


def vmaftune(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmaftune", *map(str, args)],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_encodes(ffmpeg: str, src: Path, work: Path, target: float) -> list[str]:
    rows = []
    for codec in ("x264", "x265", "svtav1"):
        out = work / f"{codec}.mkv"
        started = time.monotonic()
        run = vmaftune("encode", src, "-o", out, "-c", codec, "-t", target, "--json")
        seconds = time.monotonic() - started
        if run.returncode:
            raise SystemExit(f"{codec}: {run.stderr.strip()}")
        doc = json.loads(Path(f"{out}.shots.json").read_text())
        stock = [stock_vmaf(ffmpeg, out, src, s["start_frame"], s["end_frame"])
                 for s in doc["shots"]]  # fmt: skip
        ours = [s["vmaf"]["mean"] for s in doc["shots"]]
        settings = ", ".join(f"{s['setting']:g} {s['verdict']}" for s in doc["shots"])
        gap = max(abs(a - b) for a, b in zip(stock, ours, strict=True))
        passing = sum(v >= target for v in stock)
        rows.append(
            f"| {codec} | {len(stock)} | {passing}/{len(stock)} | {min(stock):.2f} | "
            f"{max(stock) - target:.2f} | {gap:.3f} | {doc['totals']['probes'] / len(stock):.2f} | "
            f"{settings} | {seconds:.0f} s |"
        )
    return rows


def check_resume(src: Path, work: Path, target: float) -> str:
    out = work / "resume.mp4"
    argv = [sys.executable, "-m", "vmaftune", "encode", str(src), "-o", str(out), "-c",
            "x264", "-t", str(target), "--jobs", "1", "--json"]  # fmt: skip
    finished = set(kill_after_probes(argv, 3))
    again = subprocess.run(argv, capture_output=True, text=True, check=False)
    if again.returncode:
        raise SystemExit(f"resume: {again.stderr.strip()}")
    redone = [(e["shot"], e["setting"]) for e in events(again.stdout)
              if e["type"] == "probe-start" and (e["shot"], e["setting"]) in finished]  # fmt: skip
    resumed = sum(1 for e in events(again.stdout) if e["type"] == "probe-done" and e["resumed"])
    return (f"killed with SIGKILL after {len(finished)} finished probes; the second run read "
            f"{resumed} probes from the journal and encoded {len(redone)} of the finished "
            "ones again")  # fmt: skip


def check_ladder(ffmpeg: str, src: Path, work: Path) -> list[str]:
    out = work / "hls"
    rungs = "360:93,240:88,144:80"
    started = time.monotonic()
    run = vmaftune("ladder", src, "-o", out, "-c", "x265", "--rungs", rungs, "--json")
    seconds = time.monotonic() - started
    if run.returncode:
        raise SystemExit(f"ladder: {run.stderr.strip()}")
    doc = json.loads((out / "ladder.json").read_text())
    frames = media.probe(src).frame_count
    rows, stamps = [], []
    for k, rung in enumerate(doc["rungs"]):
        proc = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i",
             str(out / "master.m3u8"), "-map", f"0:v:{k}", "-f", "framemd5", "-"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        pts = [int(r.split(",")[2]) for r in proc.stdout.splitlines() if not r.startswith("#")]
        stamps.append(pts)
        w, h = media.probe(src).width, media.probe(src).height
        stock = []
        for shot in rung["shots"]:
            alone = work / "alone.mp4"
            alone.write_bytes((out / rung["name"] / "init.mp4").read_bytes()
                              + (out / rung["name"] / shot["segment"]).read_bytes())  # fmt: skip
            stock.append(stock_vmaf(ffmpeg, alone, src, shot["start_frame"], shot["end_frame"],
                                    dis_trimmed=True, upscale=(w, h)))  # fmt: skip
        ours = [s["vmaf"]["mean"] for s in rung["shots"]]
        warned = sum(s["verdict"] == "UNREACHABLE" for s in rung["shots"])
        gap = max(abs(a - b) for a, b in zip(stock, ours, strict=True))
        rows.append(
            f"| {rung['name']} | {rung['width']}x{rung['height']} | {rung['target_vmaf']:g} | "
            f"{len(pts)}/{frames} | {sum(v >= rung['target_vmaf'] for v in stock)}/"
            f"{len(stock)} | {warned} | {min(stock):.2f} | {gap:.3f} | "
            f"{rung['average_bandwidth'] / 1000:.0f} | {rung['bandwidth'] / 1000:.0f} |"
        )
    same = all(s == stamps[0] for s in stamps)
    rows.append(f"\nTimestamps identical across variants: {same}. Ladder wall time "
                f"{seconds:.0f} s ({doc['totals']['probes']} probes).")  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=93.0)
    args = ap.parse_args()
    ffmpeg = str(resolve().path)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "unseen.mp4"
        build(ffmpeg, src)
        shots = vmaftune("shots", src, "--json")
        print(f"Source: {SIZE}, {media.probe(src).frame_count} frames; shots found: "
              f"{[s['start_frame'] for s in json.loads(shots.stdout)['shots']]}\n")  # fmt: skip
        print(
            f"| encoder | shots | stock libvmaf ≥ {args.target:g} | lowest shot | "
            "highest overshoot | max abs(stock - ours) | probes/shot | settings | wall |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in check_encodes(ffmpeg, src, work, args.target):
            print(row)
        print(f"\nResume: {check_resume(src, work, args.target)}.\n")
        print(
            "| rung | size | target | frames read back | shots ≥ target (stock, "
            "upscaled) | UNREACHABLE (warned) | lowest shot | max abs(stock - ours) | "
            "avg kb/s | peak kb/s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for row in check_ladder(ffmpeg, src, work):
            print(row)


if __name__ == "__main__":
    main()
