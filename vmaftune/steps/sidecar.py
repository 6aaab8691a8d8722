"""The per-shot sidecars written next to a target-quality encode: `OUT.shots.json` (the
full record, schema in docs/sidecar.md) and `OUT.shots.csv` (one row per shot)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.encoders import Encoder
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.decide.search import Target
from vmaftune.steps.hls import MASTER, MediaSegment, Variant
from vmaftune.steps.probe import MediaInfo
from vmaftune.steps.rungs import Rung
from vmaftune.steps.score import Pooled
from vmaftune.steps.trial import Trial

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
    parts: dict[str, float] | None = None  # wall seconds per part of the run, in order
    # OUT's VMAF frame by frame (the whole-file score), for the report's per-frame plot.
    frame_vmaf: tuple[float, ...] = ()
    roi: dict[str, Any] | None = None  # encode --roi: model, strength, per-shot offsets


def _vmaf(p: Pooled | None) -> dict[str, float] | None:
    if p is None:  # encoded without scoring (TRUSTED)
        return None
    return {
        "mean": round(p.mean, 4),
        "harmonic_mean": round(p.harmonic_mean, 4),
        "p5": round(p.p5, 4),
        "min": round(p.min, 4),
    }


def probe_record(p: Trial) -> dict[str, Any]:
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
        "probes": [probe_record(p) for p in r.trials],
        **({"prediction": r.prediction.record()} if r.prediction else {}),
    }


def source_record(source: MediaInfo) -> dict[str, Any]:
    return {
        "path": str(source.path),
        "frames": source.frame_count,
        "duration": round(source.duration, 6),
        "width": source.width,
        "height": source.height,
    }


def encoder_record(encoder: Encoder, version: str, preset: str, pix_fmt: str) -> dict[str, Any]:
    return {
        "name": encoder.name,
        "ffmpeg": encoder.ffmpeg,
        "version": version,
        "preset": preset,
        "pix_fmt": pix_fmt,
        "setting": encoder.quality.name,
    }


def totals(results: Sequence[ShotResult], seconds: float) -> dict[str, Any]:
    trials = [t for r in results for t in r.trials]
    return {
        "probes": len(trials),
        "encodes": sum(not t.resumed for t in trials),
        "seconds": round(seconds, 3),
    }


# Frame-by-frame lists (`output.frame_vmaf`) stay on one line: a 2-hour title has
# 170,000 frames, which one line each would make a 2 MB sidecar of mostly indentation.
_COMPACT = "\x00compact-{}\x00"


def as_json(doc: dict[str, Any]) -> str:
    lists: list[str] = []
    output = doc.get("output")
    if isinstance(output, dict) and isinstance(output.get("frame_vmaf"), list):
        lists.append(json.dumps(output["frame_vmaf"], separators=(",", ":")))
        doc = {**doc, "output": {**output, "frame_vmaf": _COMPACT.format(0)}}
    text = json.dumps(doc, indent=2)
    for i, compact in enumerate(lists):
        text = text.replace(json.dumps(_COMPACT.format(i)), compact)
    return text + "\n"


def _frame_vmaf(values: Sequence[float]) -> dict[str, list[float]]:
    return {"frame_vmaf": [round(v, 2) for v in values]} if values else {}


def document(facts: RunFacts, results: list[ShotResult]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "command": list(facts.command),
        "source": source_record(facts.source),
        "output": {
            "path": str(facts.output.path),
            "frames": facts.output.frame_count,
            "bytes": facts.output.file_bytes,
            "video_bytes": facts.output.video_bytes,
            "video_bitrate": round(facts.output.video_bitrate),
            "vmaf": _vmaf(facts.whole),
            **_frame_vmaf(facts.frame_vmaf),
        },
        "encoder": encoder_record(
            facts.encoder, facts.encoder_version, facts.preset, facts.pix_fmt
        ),
        "target": {
            "vmaf": facts.target.vmaf,
            "pool": facts.target.pool,
            "tolerance": facts.target.tolerance,
            "search": facts.target.method,
            "model": facts.model,
            "mode": facts.mode,
            **({"predictor": facts.predictor} if facts.predictor else {}),
            **({"verify": facts.verify} if facts.verify else {}),
            **({"roi": facts.roi} if facts.roi else {}),
        },
        "totals": {
            "shots": len(results),
            **totals(results, facts.seconds),
            **({"seconds_by_part": facts.parts} if facts.parts else {}),
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
             rec["bitrate"], len(r.trials),
             ";".join(f"{p.setting:g}:{p.pooled.mean:.2f}" if p.pooled else f"{p.setting:g}:-"
                      for p in r.trials)]
        )  # fmt: skip
    return buf.getvalue()


def paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".shots.json"), output.with_name(
        output.name + ".shots.csv"
    )


LADDER_SCHEMA = "vmaftune.ladder/1"


def ladder_document(
    command: Sequence[str],
    source: MediaInfo,
    encoder: dict[str, Any],
    target: dict[str, Any],
    rungs: Sequence[tuple[Rung, Sequence[ShotResult], Sequence[MediaSegment], Variant]],
    skipped: Sequence[str],
    seconds: float,
) -> dict[str, Any]:
    """What `ladder.json` holds (docs/ladder.md)."""
    every = [r for _, results, _, _ in rungs for r in results]
    return {
        "schema": LADDER_SCHEMA,
        "command": list(command),
        "source": source_record(source),
        "encoder": encoder,
        "target": target,
        "master": MASTER,
        "skipped": list(skipped),
        "totals": {"rungs": len(rungs), "shots": len(rungs[0][1]), **totals(every, seconds)},
        "rungs": [_rung_record(*r, target["pool"]) for r in rungs],
    }


def _rung_record(
    rung: Rung, results: Sequence[ShotResult], segments: Sequence[MediaSegment],
    variant: Variant, pool: str,
) -> dict[str, Any]:  # fmt: skip
    shots = [{**shot_record(r), "segment": s.name, "segment_bytes": s.bytes}
             for r, s in zip(results, segments, strict=True)]  # fmt: skip
    return {
        "name": rung.name,
        "width": rung.width,
        "height": rung.height,
        "target_vmaf": rung.vmaf,
        "playlist": variant.playlist,
        "codecs": variant.codecs,
        "bandwidth": variant.peak_bitrate,
        "average_bandwidth": variant.average_bitrate,
        "bytes": sum(s.bytes for s in segments),
        "vmaf": _rung_vmaf(results, pool),
        "shots": shots,
    }


def _rung_vmaf(results: Sequence[ShotResult], pool: str) -> dict[str, float]:
    """From the per-shot scores of the very segments served: the frame-weighted mean,
    and the lowest shot under the target's pooling."""
    frames = sum(r.shot.frames for r in results)
    mean = sum(r.chosen.scores.mean * r.shot.frames for r in results) / frames
    lowest = min(r.chosen.scores.get(pool) for r in results)
    return {"mean": round(mean, 4), "lowest_shot": round(lowest, 4)}
