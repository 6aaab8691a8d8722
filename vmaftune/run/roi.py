"""`vmaftune roi IN -o MAP --format svt-roi-map|json|png`: saliency QP maps for encoders run
outside FFmpeg (SvtAv1EncApp's --roi-map-file), for tools (JSON) and for people (a PNG
heat map per shot)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.edges.toolchain import FFmpeg, patched_ffmpeg
from vmaftune.errors import UsageError
from vmaftune.run.events import Emit, Run
from vmaftune.steps import roi as maps
from vmaftune.steps.probe import read
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.steps.trial import Job
from vmaftune.zoo import registry as models
from vmaftune.zoo.saliency import DEFAULT_MODEL, FrameMap, frame_maps, video_levels

FORMATS = ("svt-roi-map", "json", "png")


@dataclass(frozen=True)
class RoiRequest:
    input: Path
    output: Path  # a file (svt-roi-map, json) or a folder (png)
    format: str = "json"
    model: str = DEFAULT_MODEL
    options: maps.RoiOptions = field(default_factory=maps.RoiOptions)
    frames: int | None = None  # the first N frames only
    force: bool = False


@dataclass(frozen=True)
class RoiResult:
    output: Path
    format: str
    model: str
    frames: int
    width: int
    height: int
    mean_abs_qp_offset: float  # over frames and blocks, libx264/libx265 QP
    files: tuple[Path, ...]


def roi(request: RoiRequest, ffmpeg: FFmpeg | None = None) -> Run[RoiResult]:
    """Write the saliency QP map of a video in one of FORMATS."""
    return Run(lambda emit: _run(request, ffmpeg, emit))


def _run(req: RoiRequest, ffmpeg: FFmpeg | None, emit: Emit) -> RoiResult:
    if req.format not in FORMATS:
        raise UsageError(f"--format {req.format}: use one of {', '.join(FORMATS)}")
    if req.frames is not None and req.frames < 1:
        raise UsageError(f"--frames {req.frames}: give at least 1")
    options = req.options.checked()
    video, timeline = read(req.input)
    if req.format == "png":
        if req.output.exists() and not req.output.is_dir():
            raise UsageError(f"{req.output}: --format png writes a folder; this is a file")
    else:
        check_output(req.output, [req.input], force=req.force)
    loaded = models.load(req.model, kind="saliency")
    name = loaded.entry.id if loaded.entry is not None else req.model
    found = list(frame_maps(video, loaded, options, limit=req.frames))
    w, h = video.width, video.height
    qp = [np.abs(maps.qp_offsets(f.levels, options.strength)).mean() for f in found]
    files: tuple[Path, ...]
    if req.format == "json":
        _write_json(req, name, loaded.entry.sha256 if loaded.entry else None, found, w, h)
        files = (req.output,)
    elif req.format == "svt-roi-map":
        with atomic_output(req.output) as tmp:
            lines = [maps.svt_line(f.index, maps.svt_offsets(f.levels, w, h, options.strength))
                     for f in found]  # fmt: skip
            tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
        files = (req.output,)
    else:
        if ffmpeg is None:
            raise UsageError("--format png needs FFmpeg to find the shots")
        shots, _ = detect(ffmpeg, video, timeline, ShotOptions())
        files = _write_pngs(req, found, [(s.start, s.end) for s in shots])
    return RoiResult(req.output, req.format, name, len(found), w, h,
                     round(float(np.mean(qp)) if qp else 0.0, 3), files)  # fmt: skip


def _write_json(req: RoiRequest, model: str, sha256: str | None, found: list[FrameMap],
                w: int, h: int) -> None:  # fmt: skip
    o = req.options
    doc = {
        "schema": "vmaftune.roi/1",
        "source": str(req.input),
        "model": model,
        "model_sha256": sha256,
        "width": w,
        "height": h,
        "block": maps.BLOCK,
        "strength": o.strength,
        "smooth": o.smooth,
        # What a level means to an encoder: FFmpeg's AVRegionOfInterest qoffset and the
        # libx264/libx265 QP offset (8-bit) it becomes.
        "levels": {str(lv): _level(lv, o.strength) for lv in range(-maps.LEVELS, maps.LEVELS + 1)},
        "frames": [_frame(f, o.strength) for f in found],
    }
    with atomic_output(req.output) as tmp:
        tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def _level(lv: int, strength: float) -> dict[str, object]:
    qp = float(maps.qp_offsets(np.array([lv]), strength)[0])
    return {"qoffset": str(maps.qoffset(lv, strength)), "qp": round(qp, 3) + 0.0}


def _frame(f: FrameMap, strength: float) -> dict[str, object]:
    mean = float(maps.qp_offsets(f.levels, strength).mean())
    return {"frame": f.index, "time": round(f.time, 6), "mean_qp_offset": round(mean, 3),
            "levels": f.levels.tolist()}  # fmt: skip


def _write_pngs(req: RoiRequest, found: list[FrameMap], shots: list[tuple[int, int]]
                ) -> tuple[Path, ...]:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [req.output / f"shot-{i:04d}.png" for i in range(len(shots))]
    for p in paths:
        if p.exists() and not req.force:
            raise UsageError(f"{p} exists; add --force to replace it")
    req.output.mkdir(parents=True, exist_ok=True)
    written = []
    for (start, end), path in zip(shots, paths, strict=True):
        inside = [f.levels for f in found if start <= f.index < end]
        if not inside:
            continue
        qp = maps.qp_offsets(np.mean(inside, axis=0), req.options.strength)
        fig, ax = plt.subplots(figsize=(6, 6 * qp.shape[0] / max(1, qp.shape[1]) + 0.8))
        lim = max(1e-6, float(np.abs(qp).max()))
        im = ax.imshow(qp, cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"frames {start}-{end - 1}: mean QP offset per 16x16 block (blue: more bits)",
                     fontsize=8)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        written.append(path)
    return tuple(written)


# --- encode --roi: one map per shot ------------------------------------------------------------


def with_shot_regions(job: Job, shots: list[Shot]) -> tuple[Job, dict[str, Any]]:
    """The job with each shot's addroi filters (its frames' levels averaged, steps/roi.py),
    and what the sidecar records of them. The maps come from the patched FFmpeg's vmaf_roi
    filter when it is built, else from Python: the same maps."""
    spec = job.roi
    if spec is None:
        return job, {}
    loaded = models.load(spec.model, kind="saliency")
    frame_levels, engine = video_levels(job.source, loaded, spec.options, patched_ffmpeg())
    w, h = job.source.width, job.source.height
    filters, means = [], []
    for shot in shots:
        inside = frame_levels[shot.start : min(shot.end, len(frame_levels))] or frame_levels[-1:]
        lv = maps.shot_levels(inside)
        found = maps.regions(lv, w, h, spec.options.max_regions)
        filters.append(maps.addroi_filters(found, spec.options.strength))
        means.append(round(float(maps.qp_offsets(maps.applied(found, lv.shape),
                                                 spec.options.strength).mean()), 3))  # fmt: skip
    record = roi_record(
        loaded, spec, job.encode_with,
        engine=engine,
        map="per shot: the mean of its frames' levels, as addroi regions",
        per_shot_mean_qp_offset=means,
        per_shot_regions=[len(f) for f in filters],
    )  # fmt: skip
    return replace(job, roi_shots=tuple(filters)), record


def roi_record(
    loaded: models.LoadedModel, spec: maps.RoiSpec, encoded_with: FFmpeg | None, **more: Any
) -> dict[str, Any]:
    """What a run's output records of its --roi maps (the sidecar, the done event)."""
    return {
        "model": loaded.entry.id if loaded.entry is not None else spec.model,
        "model_sha256": loaded.entry.sha256 if loaded.entry is not None else None,
        "strength": spec.options.strength,
        "smooth": spec.options.smooth,
        **more,
        # The encodes ran in another FFmpeg than the scoring (SVT-AV1: the patched build).
        **({"encoded_with": str(encoded_with.path)} if encoded_with else {}),
    }
