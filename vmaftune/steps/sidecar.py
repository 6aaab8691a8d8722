"""The per-shot sidecars written next to a target-quality encode: `OUT.shots.json` (the
full record, schema in docs/sidecar.md) and `OUT.shots.csv` (one row per shot)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.encoders import Encoder
from vmaftune.steps.decide.search import Target
from vmaftune.steps.probe import MediaInfo
from vmaftune.steps.score import Pooled
from vmaftune.steps.trial import Probe, ShotResult

SCHEMA = "vmaftune.shots/1"


@dataclass(frozen=True)
class RunFacts:
    command: tuple[str, ...]
    source: MediaInfo
    output: MediaInfo
    whole: Pooled  # OUT against the source, whole file
    encoder: Encoder
    encoder_version: str
    preset: str
    pix_fmt: str
    target: Target
    model: str
    seconds: float
    mode: str = "search"
    predictor: dict[str, Any] | None = None  # --mode predict: id, sha256, half_width
    verify: dict[str, Any] | None = None  # --verify sample:K: mode, sampled, trusted


def _vmaf(p: Pooled | None) -> dict[str, float] | None:
    if p is None:  # encoded without scoring (TRUSTED)
        return None
    return {
        "mean": round(p.mean, 4),
        "harmonic_mean": round(p.harmonic_mean, 4),
        "p5": round(p.p5, 4),
        "min": round(p.min, 4),
    }


def probe_record(p: Probe) -> dict[str, Any]:
    return {
        "setting": p.setting,
        "vmaf": _vmaf(p.pooled),
        "bytes": p.bytes,
        "seconds": round(p.encode_seconds + p.score_seconds, 3),
        "encode_seconds": p.encode_seconds,
        "score_seconds": p.score_seconds,
        "resumed": p.resumed,
    }


def shot_record(r: ShotResult) -> dict[str, Any]:
    s, c = r.shot, r.chosen
    bits = c.bytes * 8
    return {
        "index": s.index,
        "start_frame": s.start,
        "end_frame": s.end,
        "frames": s.frames,
        "start_time": round(s.start_time, 6),
        "end_time": round(s.end_time, 6),
        "cut": s.cut,
        "setting": c.setting,
        "verdict": r.verdict,
        "vmaf": _vmaf(c.pooled),
        "bytes": c.bytes,
        "bits": bits,
        "bitrate": round(bits / s.duration) if s.duration > 0 else 0,
        "probes": [probe_record(p) for p in r.probes],
        **({"prediction": r.prediction.record()} if r.prediction else {}),
    }


def document(facts: RunFacts, results: list[ShotResult]) -> dict[str, Any]:
    probes = [p for r in results for p in r.probes]
    return {
        "schema": SCHEMA,
        "command": list(facts.command),
        "source": {
            "path": str(facts.source.path),
            "frames": facts.source.frame_count,
            "duration": round(facts.source.duration, 6),
            "width": facts.source.width,
            "height": facts.source.height,
        },
        "output": {
            "path": str(facts.output.path),
            "frames": facts.output.frame_count,
            "bytes": facts.output.file_bytes,
            "video_bytes": facts.output.video_bytes,
            "video_bitrate": round(facts.output.video_bitrate),
            "vmaf": _vmaf(facts.whole),
        },
        "encoder": {
            "name": facts.encoder.name,
            "ffmpeg": facts.encoder.ffmpeg,
            "version": facts.encoder_version,
            "preset": facts.preset,
            "pix_fmt": facts.pix_fmt,
            "setting": facts.encoder.quality.name,
        },
        "target": {
            "vmaf": facts.target.vmaf,
            "pool": facts.target.pool,
            "tolerance": facts.target.tolerance,
            "search": facts.target.method,
            "model": facts.model,
            "mode": facts.mode,
            **({"predictor": facts.predictor} if facts.predictor else {}),
            **({"verify": facts.verify} if facts.verify else {}),
        },
        "totals": {
            "shots": len(results),
            "probes": len(probes),
            "encodes": sum(not p.resumed for p in probes),
            "seconds": round(facts.seconds, 3),
        },
        "shots": [shot_record(r) for r in results],
    }


CSV_COLUMNS = (
    "index", "start_frame", "end_frame", "frames", "start_time", "end_time", "setting",
    "verdict", "vmaf_mean", "vmaf_harmonic_mean", "vmaf_p5", "vmaf_min", "bytes", "bits",
    "bitrate", "probes", "probe_settings",
)  # fmt: skip


def table(results: list[ShotResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        rec = shot_record(r)
        v = rec["vmaf"] or dict.fromkeys(("mean", "harmonic_mean", "p5", "min"), "")
        writer.writerow(
            [rec["index"], rec["start_frame"], rec["end_frame"], rec["frames"],
             rec["start_time"], rec["end_time"], rec["setting"], rec["verdict"], v["mean"],
             v["harmonic_mean"], v["p5"], v["min"], rec["bytes"], rec["bits"],
             rec["bitrate"], len(r.probes),
             ";".join(f"{p.setting:g}:{p.pooled.mean:.2f}" if p.pooled else f"{p.setting:g}:-"
                      for p in r.probes)]
        )  # fmt: skip
    return buf.getvalue()


def paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".shots.json"), output.with_name(
        output.name + ".shots.csv"
    )
