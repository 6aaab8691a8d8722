"""Full-reference scoring with libvmaf through FFmpeg (the `score` step).

The graph is the one stock FFmpeg runs, `[distorted][reference]libvmaf`, with only what
makes two files comparable added in front: frames paired by index, the distorted scaled to
the reference's size (bicubic), a shared pixel format. Per-frame numbers are libvmaf's own
JSON log, so on constant-rate inputs they equal a stock `ffmpeg -lavfi libvmaf` run.

Why index pairing: stock libvmaf pairs by timestamp, and on VFR inputs whose two
containers round timestamps differently it repeats frames (tree.avi, 68 frames, against
its own Matroska encode: 69 pairs). Restamping both sides 0, 1, 2, ... pairs frame i with
frame i, which is what a score of an encode against its source means.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.progress import PROGRESS_ARGS, Progress, ProgressParser
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError, InternalError, ToolError, UsageError
from vmaftune.steps.cuts import Cut
from vmaftune.steps.probe import MediaInfo

# User-facing model names → libvmaf's built-in model versions.
MODELS = {
    "vmaf_v0.6.1": "vmaf_v0.6.1",
    "vmaf_4k": "vmaf_4k_v0.6.1",
    "vmaf_4k_v0.6.1": "vmaf_4k_v0.6.1",
    "vmaf_v0.6.1neg": "vmaf_v0.6.1neg",
}
DEFAULT_VMAF_MODEL = "vmaf_v0.6.1"
# The six elementary features vmaf_v0.6.1 fuses, in its order (FACTS.md).
CANONICAL6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
# Pixel formats vf_libvmaf.c accepts (FFmpeg 9.0.2).
LIBVMAF_PIX_FMTS = frozenset(
    f"yuv{s}p{d}" for s in ("420", "422", "444") for d in ("", "10le", "12le", "16le")
)
# The one pooling vocabulary: what every score reports, and what a target may pool by.
POOLS = ("mean", "harmonic_mean", "min", "p1", "p5")
POOL_ALIASES = {"harmonic": "harmonic_mean"}
# Both inputs are restamped 0, 1, 2, ... in one time base so framesync pairs by index.
INDEX_STAMPS = "settb=1/1000,setpts=N"
# Rates this close are the same rate (30000/1001 written as 29.97).
_RATE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class VmafOptions:
    model: str = DEFAULT_VMAF_MODEL
    threads: int = 0  # 0: one per core
    subsample: int = 1

    def checked(self) -> VmafOptions:
        if self.model not in MODELS:
            raise UsageError(
                f"unknown VMAF model {self.model!r}; choose from vmaf_v0.6.1, vmaf_4k, "
                "vmaf_v0.6.1neg"
            )
        if self.threads < 0:
            raise UsageError("--threads must be 0 (one per core) or more")
        if self.subsample < 1:
            raise UsageError("--subsample must be 1 or more")
        return self

    def libvmaf(self, log_path: str, *, shortest: bool) -> str:
        threads = self.threads or os.cpu_count() or 1
        opts = [
            f"model=version={MODELS[self.model]}",
            "log_fmt=json",
            f"log_path={log_path}",
            f"n_threads={threads}",
        ]
        if self.subsample > 1:
            opts.append(f"n_subsample={self.subsample}")
        if shortest:
            opts.append("shortest=1")
        return "libvmaf=" + ":".join(opts)


@dataclass(frozen=True)
class FrameScore:
    frame: int
    vmaf: float
    features: tuple[float, ...]  # CANONICAL6 order


@dataclass(frozen=True)
class Pooled:
    mean: float
    harmonic_mean: float
    min: float
    p1: float
    p5: float

    def get(self, name: str) -> float:
        return float(getattr(self, POOL_ALIASES.get(name, name)))


def pool(values: np.ndarray) -> Pooled:
    """Pooled statistics of per-frame values. Harmonic mean as libvmaf defines it,
    1 / mean(1 / (x + 1)) - 1, so that a zero score does not divide by zero; percentiles
    with linear interpolation between frames."""
    if values.size == 0:
        raise InternalError("pooling an empty score list")
    return Pooled(
        mean=float(values.mean()),
        harmonic_mean=float(1.0 / np.mean(1.0 / (values + 1.0)) - 1.0),
        min=float(values.min()),
        p1=float(np.percentile(values, 1)),
        p5=float(np.percentile(values, 5)),
    )


@dataclass(frozen=True)
class ScorePlan:
    """Everything decided before FFmpeg runs: pure, testable, printable."""

    reference: MediaInfo
    distorted: MediaInfo
    options: VmafOptions
    distorted_chain: tuple[str, ...]
    reference_chain: tuple[str, ...]
    aligned: bool
    counts_differ: bool = False  # --align over unequal counts or rates: say how many paired
    notes: tuple[str, ...] = field(default=())
    window: Cut | None = None  # a run of the reference's frames

    def filtergraph(self, log_path: str) -> str:
        dis = ",".join(self.distorted_chain)
        ref = ",".join(self.reference_chain)
        vmaf = self.options.libvmaf(log_path, shortest=self.aligned)
        return f"[0:v]{dis}[dis];[1:v]{ref}[ref];[dis][ref]{vmaf}"


@dataclass(frozen=True)
class Score:
    model: str
    frames: tuple[FrameScore, ...]
    pooled: Pooled
    notes: tuple[str, ...]

    def feature_matrix(self) -> np.ndarray:
        """One row per frame: vmaf, then the canonical-6."""
        return np.array([(f.vmaf, *f.features) for f in self.frames], dtype=np.float64)


def same_rate(a: Fraction, b: Fraction) -> bool:
    return abs(float(a) - float(b)) <= _RATE_TOLERANCE * float(b)


def plan(
    reference: MediaInfo,
    distorted: MediaInfo,
    options: VmafOptions,
    *,
    align: bool = False,
    window: Cut | None = None,
    compare_at: tuple[int, int] | None = None,
) -> ScorePlan:
    """`window` scores the distorted against a run of the reference's frames; `compare_at`
    scales the reference to that size instead of the distorted to the reference's."""
    options = options.checked()
    notes: list[str] = []
    dis_chain: list[str] = []
    ref_chain: list[str] = []
    ref_frames = window.frames if window else reference.frame_count
    if window:
        ref_chain.append(window.trim())
    # A window's own rate is not the whole reference's (VFR): frames pair by index anyway.
    rates_differ = not window and not same_rate(reference.frame_rate, distorted.frame_rate)
    counts_differ = ref_frames != distorted.frame_count
    if (rates_differ or counts_differ) and not align:
        what = []
        if counts_differ:
            what.append(
                f"frame counts differ (reference {ref_frames}, distorted {distorted.frame_count})"
            )
        if rates_differ:
            what.append(
                f"frame rates differ (reference {float(reference.frame_rate):.3f}, "
                f"distorted {float(distorted.frame_rate):.3f} fps)"
            )
        raise InputError("; ".join(what) + "; use --align to score the common frames")
    if rates_differ:
        rate = reference.frame_rate
        dis_chain.append(f"fps={rate.numerator}/{rate.denominator}")
        notes.append(
            f"distorted resampled from {float(distorted.frame_rate):.3f} to "
            f"{float(rate):.3f} fps (--align)"
        )
    if compare_at and compare_at != (reference.width, reference.height):
        w, h = compare_at
        ref_chain.append(f"scale={w}:{h}:flags=bicubic")
        notes.append(f"reference scaled from {reference.width}x{reference.height} to {w}x{h}")
        if (distorted.width, distorted.height) != compare_at:
            dis_chain.append(f"scale={w}:{h}:flags=bicubic")
    elif (distorted.width, distorted.height) != (reference.width, reference.height):
        dis_chain.append(f"scale={reference.width}:{reference.height}:flags=bicubic")
        notes.append(
            f"distorted scaled from {distorted.width}x{distorted.height} to "
            f"{reference.width}x{reference.height} (bicubic)"
        )
    target = _common_pix_fmt(reference)
    if reference.pix_fmt != target:
        ref_chain.append(f"format={target}")
        notes.append(f"reference converted from {reference.pix_fmt} to {target} for libvmaf")
    if distorted.pix_fmt != target:
        dis_chain.append(f"format={target}")
        if distorted.pix_fmt != reference.pix_fmt:
            notes.append(f"distorted converted from {distorted.pix_fmt} to {target}")
    # After any resampling: the stamps must describe the frames libvmaf will see.
    dis_chain.append(INDEX_STAMPS)
    ref_chain.append(INDEX_STAMPS)
    return ScorePlan(
        reference=reference,
        distorted=distorted,
        options=options,
        distorted_chain=tuple(dis_chain),
        reference_chain=tuple(ref_chain),
        aligned=align,
        counts_differ=align and (counts_differ or rates_differ),
        notes=tuple(notes),
        window=window,
    )


def _common_pix_fmt(reference: MediaInfo) -> str:
    if reference.pix_fmt in LIBVMAF_PIX_FMTS:
        return reference.pix_fmt
    # VMAF's features are computed on luma: a 4:2:0 format of the source's depth keeps
    # every luma sample.
    return "yuv420p" if reference.bit_depth <= 8 else "yuv420p10le"


def argv(ffmpeg: FFmpeg, score_plan: ScorePlan, log_path: str) -> list[str]:
    window = score_plan.window
    seek = window.input_args() if window else []
    return ffmpeg.argv(
        "-i", f"file:{score_plan.distorted.path.resolve()}",
        *seek,
        "-i", f"file:{score_plan.reference.path.resolve()}",
        "-filter_complex", score_plan.filtergraph(log_path),
        "-an", "-sn", "-dn",
        *PROGRESS_ARGS,
        "-f", "null", "-",
    )  # fmt: skip


def require_libvmaf(ffmpeg: FFmpeg) -> None:
    if not ffmpeg.has_filter("libvmaf"):
        raise ToolError(f"{ffmpeg.path} was built without libvmaf; use the bundled FFmpeg")


def run(
    ffmpeg: FFmpeg,
    score_plan: ScorePlan,
    on_progress: Callable[[Progress], None] | None = None,
) -> Score:
    require_libvmaf(ffmpeg)
    # FFmpeg runs inside a private folder and writes the log under a plain relative name:
    # no user path ever needs escaping inside the filtergraph.
    with tempfile.TemporaryDirectory(prefix="vmaftune-score-") as work:
        parser = ProgressParser(on_progress or (lambda _p: None))
        process.stream_lines(
            argv(ffmpeg, score_plan, "vmaf.json"),
            what="VMAF scoring",
            on_line=parser.feed,
            cwd=Path(work),
        )
        try:
            log = json.loads((Path(work) / "vmaf.json").read_text())
        except (OSError, ValueError) as exc:
            raise ToolError(f"libvmaf wrote no readable log: {exc}") from exc
    score = parse_log(log, score_plan.options.model, score_plan.notes)
    if score_plan.counts_differ:
        # Counted from libvmaf's log: after an fps resample the counts before it mislead.
        note = f"scored the {len(score.frames)} common frames (--align)"
        score = replace(score, notes=(*score.notes, note))
    return score


def _feature(metrics: dict[str, float], name: str) -> float:
    # vmaf_v0.6.1neg logs its features with an "_egl_1" suffix (enhancement gain limit).
    for key in (f"integer_{name}", f"integer_{name}_egl_1"):
        if key in metrics:
            return float(metrics[key])
    raise ToolError(f"libvmaf log lacks feature {name!r}")


def parse_log(log: dict[str, object], model: str, notes: tuple[str, ...] = ()) -> Score:
    frames_raw = log.get("frames")
    if not isinstance(frames_raw, list) or not frames_raw:
        raise InputError("libvmaf scored no frames: are both inputs decodable videos?")
    frames = tuple(
        FrameScore(
            frame=int(f["frameNum"]),
            vmaf=float(f["metrics"]["vmaf"]),
            features=tuple(_feature(f["metrics"], n) for n in CANONICAL6),
        )
        for f in frames_raw
    )
    values = np.array([f.vmaf for f in frames], dtype=np.float64)
    return Score(model=model, frames=frames, pooled=pool(values), notes=notes)


def score_files(
    ffmpeg: FFmpeg,
    reference: MediaInfo,
    distorted: MediaInfo,
    options: VmafOptions,
    *,
    align: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> Score:
    return run(ffmpeg, plan(reference, distorted, options, align=align), on_progress)
