"""How big the report page gets and how fast a browser opens it, for titles from one shot
to a 2-hour film of 1,500 shots (issue 23: under 5 MB, open in under 2 s).

No 2-hour sidecar can be encoded on this machine in a bench's time, so the long titles
are made here: `title()` writes a sidecar (and `ladder()` a ladder.json) of the schema
vmaftune writes, with a plausible walk per shot (settings, bytes, VMAF, verdicts of
every kind, TRUSTED shots unscored). The page is drawn by vmaftune's own code and opened
in Debian's headless Chromium (bench/browser.py).

    .venv/bin/python bench/report_page.py [--shots 1,40,400,1500] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.steps import sidecar

VERDICTS = ("SEARCH", "CAPPED", "UNREACHABLE")
PREDICT_VERDICTS = ("GOSPEL", "RECALIBRATE", "FALL_BACK", "TRUSTED")


def _vmaf(mean: float, rng: np.random.Generator) -> dict[str, float]:
    p5, low = mean - rng.uniform(1, 5), mean - rng.uniform(3, 9)
    return {"mean": round(mean, 4), "harmonic_mean": round(mean - 0.2, 4), "p5": round(p5, 4),
            "min": round(low, 4)}  # fmt: skip


def _shot(i: int, start: int, frames: int, fps: float, target: float, verdict: str,
          rng: np.random.Generator, predict: bool) -> dict[str, Any]:  # fmt: skip
    """One shot whose trials walk towards the target on a curve VMAF = a - b * crf."""
    b = rng.uniform(0.8, 1.6)
    answer = round(float(rng.uniform(20, 36)) * 2) / 2
    a = target + 0.2 + b * answer
    settings = [answer + d for d in rng.permutation([-4.0, 3.0, 1.0, 0.5])[: rng.integers(1, 4)]]
    settings.append(answer)
    if verdict == "CAPPED":
        settings, a = [51.0], target + 3 + b * 51
    if verdict == "UNREACHABLE":
        settings, a = [22.0, 10.0, 0.0], target - 2 + b * 0.0
    bytes_at = lambda c: int(frames * 9000 * 2 ** ((26 - c) / 6))  # noqa: E731
    probes = []
    for c in settings:
        score = None if verdict == "TRUSTED" else _vmaf(float(min(100.0, a - b * c)), rng)
        probes.append({"setting": c, "vmaf": score, "bytes": bytes_at(c), "seconds": 1.0,
                       "encode_seconds": 0.7, "score_seconds": 0.3, "resumed": False})  # fmt: skip
    chosen = probes[-1]
    seconds = frames / fps
    shot = {
        "index": i, "start_frame": start, "end_frame": start + frames, "frames": frames,
        "start_time": round(start / fps, 6), "end_time": round((start + frames) / fps, 6),
        "cut": "start" if i == 0 else "hard", "setting": chosen["setting"], "verdict": verdict,
        "vmaf": chosen["vmaf"], "bytes": chosen["bytes"], "bits": chosen["bytes"] * 8,
        "bitrate": round(chosen["bytes"] * 8 / seconds), "probes": probes,
    }  # fmt: skip
    if predict:
        guess = settings[0]
        at = a - b * guess
        shot["prediction"] = {"setting": guess, "vmaf": round(at + 0.5, 3),
                              "interval": [round(at - 2, 3), round(at + 3, 3)],
                              "slope": round(-b, 4)}  # fmt: skip
    return shot


def title(shots: int, *, fps: float = 24.0, seconds: float = 4.8, seed: int = 0,
          predict: bool = True, target: float = 93.0) -> dict[str, Any]:  # fmt: skip
    """A sidecar (`vmaftune.shots/1`) of a title of `shots` shots, per-frame VMAF kept."""
    rng = np.random.default_rng(seed)
    kinds = PREDICT_VERDICTS + VERDICTS[1:] if predict else VERDICTS
    weights = np.array([6, 2, 1, 3, 0.3, 0.3] if predict else [10, 0.3, 0.3])
    lengths = np.maximum(1, rng.poisson(seconds * fps, shots))
    verdicts = [str(v) for v in rng.choice(kinds, size=shots, p=weights / weights.sum())]
    # Every verdict at least once when there is room (shots 1, 2, ...), shot 0 the first.
    for j, kind in enumerate(kinds[: max(0, shots - 1)]):
        verdicts[j + 1] = kind
    verdicts[0] = kinds[0]
    out, start = [], 0
    for i, (n, verdict) in enumerate(zip(lengths, verdicts, strict=True)):
        out.append(_shot(i, start, int(n), fps, target, verdict, rng, predict))
        start += int(n)
    frames = np.concatenate([
        np.clip((s["vmaf"] or {"mean": target + 1})["mean"] + rng.normal(0, 1.6, s["frames"]),
                0, 100) for s in out])  # fmt: skip
    total_bytes = sum(s["bytes"] for s in out)
    return {
        "schema": sidecar.SCHEMA,
        "command": ["vmaftune", "encode", "title.mkv", "-o", "out.mkv", "-c", "x264", "-t",
                    f"{target:g}", *(["--mode", "predict"] if predict else [])],
        "source": {"path": "title.mkv", "frames": start, "duration": round(start / fps, 6),
                   "width": 1920, "height": 1080},
        "output": {"path": "out.mkv", "frames": start, "bytes": total_bytes + 4096,
                   "video_bytes": total_bytes,
                   "video_bitrate": round(total_bytes * 8 * fps / start),
                   "vmaf": _vmaf(float(frames.mean()), rng),
                   "frame_vmaf": [round(float(v), 2) for v in frames]},
        "encoder": {"name": "x264", "ffmpeg": "libx264", "version": "x264 - core 165",
                    "preset": "medium", "pix_fmt": "yuv420p", "setting": "crf"},
        "target": {"vmaf": target, "pool": "mean", "tolerance": 0.5, "search": "interpolate",
                   "model": "vmaf_v0.6.1", "mode": "predict" if predict else "search"},
        "totals": {"shots": shots, "probes": sum(len(s["probes"]) for s in out),
                   "encodes": sum(len(s["probes"]) for s in out), "seconds": 1.0},
        "shots": out,
    }  # fmt: skip


def ladder(shots: int, *, seed: int = 0) -> dict[str, Any]:
    """A ladder.json (`vmaftune.ladder/1`) of three rungs over `shots` shots."""
    rungs = []
    for n, (height, vmaf) in enumerate(((1080, 95.0), (720, 93.0), (540, 88.0))):
        doc = title(shots, seed=seed + n, predict=False, target=vmaf)
        shot_list = [{**s, "segment": f"seg{s['index']:05d}.m4s", "segment_bytes": s["bytes"]}
                     for s in doc["shots"]]  # fmt: skip
        rate = doc["output"]["video_bitrate"]
        rungs.append({
            "name": f"{height}p", "width": height * 16 // 9, "height": height,
            "target_vmaf": vmaf, "playlist": f"{height}p/index.m3u8", "codecs": "avc1.640028",
            "bandwidth": int(rate * 1.6), "average_bandwidth": rate,
            "bytes": doc["output"]["video_bytes"],
            "vmaf": {"mean": doc["output"]["vmaf"]["mean"],
                     "lowest_shot": min((s["vmaf"] or {"mean": 100})["mean"] for s in shot_list)},
            "shots": shot_list,
        })  # fmt: skip
    return {
        "schema": sidecar.LADDER_SCHEMA,
        "command": ["vmaftune", "ladder", "title.mkv", "-o", "hls", "-c", "x264"],
        "source": doc["source"], "encoder": doc["encoder"],
        "target": {"pool": "mean", "tolerance": 0.5, "search": "interpolate",
                   "model": "vmaf_v0.6.1", "score_at": "source"},
        "master": "master.m3u8", "skipped": [],
        "totals": {"rungs": 3, "shots": shots, "seconds": 1.0,
                   "probes": sum(len(s["probes"]) for r in rungs for s in r["shots"]),
                   "encodes": sum(len(s["probes"]) for r in rungs for s in r["shots"])},
        "rungs": rungs,
    }  # fmt: skip


def main() -> int:
    from bench import browser
    from vmaftune.run.report import ReportRequest, report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", default="1,40,400,1500")
    ap.add_argument("--runs", type=int, default=3, help="browser opens per page")
    args = ap.parse_args()
    if browser.find_chromium() is None:
        print("report_page: chromium and chromedriver are not installed", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp, browser.chromium() as driver:
        for kind in ("shots", "ladder"):
            for n in (int(x) for x in args.shots.split(",")):
                doc = title(n) if kind == "shots" else ladder(n)
                src = Path(tmp) / f"{kind}{n}.json"
                src.write_text(sidecar.as_json(doc))
                page = Path(tmp) / f"{kind}{n}.html"
                started = time.perf_counter()
                report(ReportRequest(src, page, force=True)).wait(lambda _e: None)
                drawn = time.perf_counter() - started
                views = [browser.view(driver, page) for _ in range(args.runs)]
                rows.append({
                    "kind": kind, "shots": n, "json_mb": src.stat().st_size / 1e6,
                    "page_mb": page.stat().st_size / 1e6, "draw_s": drawn,
                    "load_ms": statistics.median(v.load_ms for v in views),
                    "painted_ms": statistics.median(v.painted_ms for v in views),
                    "wall_s": statistics.median(v.wall_s for v in views),
                    "errors": sum(len(v.errors) for v in views),
                })  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    print("| input | shots | JSON MB | page MB | draw s | load ms | painted ms | open s (wall) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['kind']} | {r['shots']} | {r['json_mb']:.2f} | {r['page_mb']:.2f} | "
              f"{r['draw_s']:.1f} | {r['load_ms']:.0f} | {r['painted_ms']:.0f} | "
              f"{r['wall_s']:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
