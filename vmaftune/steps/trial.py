"""One trial of one shot: encode its frames at a setting, score the encode against the
same source frames (the `encode` and `score` steps applied to a shot). The per-shot runs
and the predictor's corpus measure their shots through `measure`.

The shot's frames come from a cut (`cuts`: a seek to a keyframe before the shot, then a
counted number of decoded frames skipped, verified by hash); each shot is its own encode,
so each starts on a keyframe. Segments are stamped 0, 1, 2, ... at the source's rate: the
join gives them the source's timestamps.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vmaftune.edges import process
from vmaftune.edges.outputs import atomic_output
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.encoders import Encoder
from vmaftune.errors import InternalError, ToolError
from vmaftune.steps.cuts import Cut, Frames
from vmaftune.steps.decide.search import Point
from vmaftune.steps.probe import MediaInfo, Timeline, probe
from vmaftune.steps.roi import RoiSpec
from vmaftune.steps.score import Pooled, Score, VmafOptions, plan
from vmaftune.steps.score import run as run_score
from vmaftune.steps.shots import Shot


@dataclass(frozen=True)
class Job:
    """How every shot of a run is encoded and scored."""

    source: MediaInfo
    frames: Frames  # the source as decoded: what shots index
    encoder: Encoder
    preset: str
    pix_fmt: str
    vmaf: VmafOptions
    threads: int = 0  # encoder threads per shot; 0: the encoder's choice
    scale: tuple[int, int] | None = None  # a ladder rung's size; None: the source's
    score_at: str = "source"  # ladder: "source" upscales the encode, "rung" scales the source
    # Trials scored on every n-th frame (libvmaf n_subsample); a shot's answer is then
    # scored again on every frame before it is accepted (run/shots.py).
    trial_subsample: int = 1
    # encode --roi: the spec (part of the identity), and per shot index the addroi
    # filters every encode of that shot runs (steps/roi.py; filled once shots are known).
    roi: RoiSpec | None = None
    roi_shots: tuple[tuple[str, ...], ...] = ()
    # The FFmpeg that runs the encodes when the run's cannot apply the regions (--roi with
    # SVT-AV1: the patched build, whose libsvtav1 takes ROI maps but which has no libvmaf,
    # so scoring stays with the run's FFmpeg). None: the run's FFmpeg encodes.
    encode_with: FFmpeg | None = None

    @property
    def timeline(self) -> Timeline:
        return self.frames.timeline

    def with_frames(self, frames: Frames) -> Job:
        """The job over the source as decoded (its frame count may differ from the
        packets': an edit list drops decoded frames)."""
        return replace(self, frames=frames, source=replace(self.source, frame_count=frames.count))

    def identity(self, ffmpeg: FFmpeg) -> dict[str, Any]:
        """What of the job changes a result. Threads do not: a resumed run may use other
        --jobs and keep the work already done."""
        stat = self.source.path.stat()
        return {
            "source": str(self.source.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ffmpeg": ffmpeg.version,
            "encoder": self.encoder.name,
            "preset": self.preset,
            "pix_fmt": self.pix_fmt,
            "vmaf": {"model": self.vmaf.model, "subsample": self.vmaf.subsample},
            "scale": self.scale,
            "score_at": self.score_at,
            **({"trial_subsample": self.trial_subsample} if self.trial_subsample > 1 else {}),
            **({"roi": self.roi.spec()} if self.roi is not None else {}),
            **({"encode_with": self.encode_with.version} if self.encode_with else {}),
        }


@dataclass(frozen=True)
class Trial:
    """One encode of one shot at one setting, and its score (a "probe" in the sidecar and
    the NDJSON events)."""

    setting: float
    pooled: Pooled | None  # None: encoded without scoring (a shot trusted to the predictor)
    frames: int
    bytes: int  # video bytes of the segment
    encode_seconds: float
    score_seconds: float
    segment: str  # file name inside the work folder's segments/
    resumed: bool = False  # read back from the journal, not encoded by this run
    # Each frame's VMAF (4 decimals): what the finished output is checked against.
    per_frame: tuple[float, ...] = ()
    # What the encoder reported of its own work (encoder_stats); {} for older journals.
    stats: dict[str, float] = field(default_factory=dict)
    subsample: int = 1  # libvmaf scored every n-th frame: per_frame holds only those

    @property
    def scores(self) -> Pooled:
        if self.pooled is None:
            raise InternalError(f"the trial at {self.setting:g} was not scored")
        return self.pooled

    def point(self, pool: str) -> Point:
        return Point(self.setting, self.scores.get(pool))

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("resumed")
        return data

    @staticmethod
    def from_record(data: dict[str, Any]) -> Trial:
        pooled = Pooled(**data["pooled"]) if data.get("pooled") else None
        per_frame = tuple(data.get("per_frame", ()))
        return Trial(**{**data, "pooled": pooled, "resumed": True, "per_frame": per_frame,
                        "stats": dict(data.get("stats", {}))})  # fmt: skip


def encode_argv(
    ffmpeg: FFmpeg,
    job: Job,
    shot: Shot,
    cut: Cut,
    setting: float,
    dest: Path,
    stats: Path | None = None,
) -> list[str]:
    rate = job.source.frame_rate
    chain = [cut.trim(), f"settb={rate.denominator}/{rate.numerator}", "setpts=N"]
    if job.scale:
        # Rungs are square-pixel: the size already carries the source's display aspect.
        chain += [f"scale={job.scale[0]}:{job.scale[1]}:flags=bicubic", "setsar=1"]
    if job.roi_shots:
        chain += job.roi_shots[shot.index]
    return ffmpeg.argv(
        "-y",
        *cut.input_args(),
        "-i", f"file:{job.source.path.resolve()}",
        "-map", "0:v:0", "-an", "-sn", "-dn",
        "-frames:v", str(shot.frames),
        "-fps_mode", "passthrough",
        "-vf", ",".join(chain),
        *job.encoder.video_args(setting, job.preset, job.pix_fmt, job.threads),
        # FFmpeg's per-frame report of the encoder's QP, frame size and type: free, and
        # what the encoder itself knows of the shot's difficulty.
        *(("-vstats_file", str(stats)) if stats else ()),
        f"file:{dest}",
    )  # fmt: skip


_VSTATS = re.compile(r"\bq=\s*(-?[\d.]+).*?\bf_size=\s*(\d+).*?\btype=\s*(\w)")


def encoder_stats(vstats: str) -> dict[str, float]:
    """A shot's encode summarised from FFmpeg's -vstats_file lines: the mean QP (q as the
    encoder reports it: x264/x265 QP, SVT-AV1 its qindex scale) over all frames, over
    intra and over inter frames, its spread, the intra frames' share of the bytes and of
    the frames. {} when the file holds no frame."""
    rows = [(float(q), int(size), kind) for q, size, kind in _VSTATS.findall(vstats)]
    if not rows:
        return {}
    q = [r[0] for r in rows]
    intra = [r for r in rows if r[2] == "I"]
    inter = [r for r in rows if r[2] != "I"]
    total = sum(r[1] for r in rows) or 1
    mean = sum(q) / len(q)
    return {
        "qp_mean": round(mean, 4),
        "qp_std": round((sum((x - mean) ** 2 for x in q) / len(q)) ** 0.5, 4),
        "qp_intra": round(sum(r[0] for r in intra) / len(intra), 4) if intra else mean,
        "qp_inter": round(sum(r[0] for r in inter) / len(inter), 4) if inter else mean,
        "intra_bytes": round(sum(r[1] for r in intra) / total, 4),
        "intra_frames": round(len(intra) / len(rows), 4),
    }


def measure(
    ffmpeg: FFmpeg,
    job: Job,
    shot: Shot,
    cut: Cut,
    setting: float,
    dest: Path,
    *,
    score: bool = True,
) -> tuple[Trial, Score | None]:
    """Encode the shot at `setting` into `dest`, check its frame count, and score it
    against the same source frames (unless `score` is false: a shot trusted to the
    predictor)."""
    started = time.monotonic()
    vstats = dest.with_name(f".{dest.name}.vstats")
    with atomic_output(dest) as tmp:
        try:
            process.run(
                encode_argv(job.encode_with or ffmpeg, job, shot, cut, setting, tmp, stats=vstats),
                what=f"encode of shot {shot.index} with {job.encoder.name}",
                env=dict(job.encoder.env),
                writes=tmp,
            )
            stats = encoder_stats(vstats.read_text(errors="replace") if vstats.exists() else "")
        finally:
            vstats.unlink(missing_ok=True)
        encoded = probe(tmp)
    encoded = replace(encoded, path=dest)
    encode_seconds = round(time.monotonic() - started, 3)
    if encoded.frame_count != shot.frames:
        raise ToolError(
            f"shot {shot.index}: the encode holds {encoded.frame_count} frames, not {shot.frames}"
        )
    if not score:
        unscored = Trial(setting=setting, pooled=None, frames=encoded.frame_count,
                         bytes=encoded.video_bytes, encode_seconds=encode_seconds,
                         score_seconds=0.0, segment=dest.name, stats=stats)  # fmt: skip
        return unscored, None
    started = time.monotonic()
    options = replace(job.vmaf, subsample=max(job.vmaf.subsample, job.trial_subsample))
    scored = _score(ffmpeg, job, encoded, cut, options)
    trial = Trial(
        setting=setting,
        pooled=scored.pooled,
        frames=len(scored.frames),
        per_frame=tuple(round(f.vmaf, 4) for f in scored.frames),
        bytes=encoded.video_bytes,
        encode_seconds=encode_seconds,
        score_seconds=round(time.monotonic() - started, 3),
        segment=dest.name,
        stats=stats,
        subsample=options.subsample,
    )
    return trial, scored


def _score(ffmpeg: FFmpeg, job: Job, encoded: MediaInfo, cut: Cut, options: VmafOptions) -> Score:
    """The encode of a shot against the shot's source frames, as the job compares them."""
    compare_at = job.scale if job.scale and job.score_at == "rung" else None
    return run_score(ffmpeg, plan(job.source, encoded, options, window=cut, compare_at=compare_at))


def rescore(ffmpeg: FFmpeg, job: Job, cut: Cut, trial: Trial, segment: Path) -> Trial:
    """A subsampled trial scored again on every frame (its segment is kept), for the answer
    that a shot's decision accepts."""
    started = time.monotonic()
    scored = _score(ffmpeg, job, probe(segment), cut, job.vmaf)
    return replace(
        trial,
        pooled=scored.pooled,
        frames=len(scored.frames),
        per_frame=tuple(round(f.vmaf, 4) for f in scored.frames),
        score_seconds=round(trial.score_seconds + time.monotonic() - started, 3),
        subsample=job.vmaf.subsample,
        resumed=False,
    )


def threads_per_job(jobs: int) -> int:
    """Divide the cores between parallel shots; one shot alone keeps the encoder's own
    choice (all cores)."""
    cores = os.cpu_count() or 1
    return 0 if jobs <= 1 else max(1, cores // jobs)
