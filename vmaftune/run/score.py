"""Scoring a pair of files (`vmaftune score`): libvmaf's full-reference VMAF, and on
request the zoo's estimates beside it (no-reference vmaf_post, vmaf_tiny over libvmaf's
features, the pixel-domain vmaf_tiny_fr); or the no-reference model alone on one video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.edges.toolchain import FFmpeg, patched_ffmpeg, resolve
from vmaftune.errors import UsageError
from vmaftune.run.events import Emit, Run, progress_hook
from vmaftune.steps.probe import probe
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, Score, VmafOptions, score_files
from vmaftune.zoo import engines, scores
from vmaftune.zoo.scores import DEFAULT_FR_MODEL, DEFAULT_NR_MODEL, ModelScore


@dataclass(frozen=True)
class ScoreRequest:
    reference: Path  # with distorted None and nr: the one video to score
    distorted: Path | None = None
    model: str = DEFAULT_VMAF_MODEL
    threads: int = 0
    subsample: int = 1
    align: bool = False  # score the common frames when counts or rates differ
    nr: bool = False
    nr_model: str = DEFAULT_NR_MODEL
    device: str = "cpu"  # where zoo models run: cpu, cuda, auto
    engine: str = "auto"
    tiny: bool = False
    tiny_model: str = "vmaf_tiny"
    tiny_fr: bool = False
    tiny_fr_model: str = DEFAULT_FR_MODEL


@dataclass(frozen=True)
class ScoreResult:
    vmaf: Score | None  # None: the no-reference model alone
    nr: ModelScore | None = None
    tiny: dict[str, Any] | None = None  # vmaf_tiny's pooled scores and agreement
    tiny_fr: ModelScore | None = None


def score(request: ScoreRequest, ffmpeg: FFmpeg | None = None) -> Run[ScoreResult]:
    """VMAF of DIST against REF, and the zoo's estimates asked for."""
    return Run(lambda emit: _run(request, ffmpeg, emit))


def _check(req: ScoreRequest) -> None:
    if req.distorted is None and not req.nr:
        raise UsageError("score needs REF and DIST (or --nr and one video)")
    if req.tiny and (req.distorted is None or req.model == "vmaf_v0.6.1neg"):
        raise UsageError(
            "--tiny needs REF and DIST and libvmaf's plain features (not vmaf_v0.6.1neg)"
        )
    if req.tiny_fr and req.distorted is None:
        raise UsageError("--tiny-fr needs REF and DIST")
    if req.device not in engines.DEVICES:
        raise UsageError(f"--device must be cpu, cuda or auto, not {req.device!r}")


def _run(req: ScoreRequest, given: FFmpeg | None, emit: Emit) -> ScoreResult:
    _check(req)
    nr = None
    if req.nr:
        info = probe(req.distorted or req.reference)
        runner = engines.pick_engine(req.engine, patched_ffmpeg())
        nr = scores.nr_video(info, req.nr_model, runner, device=req.device,
                             on_progress=progress_hook("NR", info.frame_count, emit))  # fmt: skip
        if req.distorted is None:
            return ScoreResult(None, nr)
    assert req.distorted is not None
    ffmpeg = given or resolve()
    ref, dis = probe(req.reference), probe(req.distorted)
    options = VmafOptions(model=req.model, threads=req.threads, subsample=req.subsample)
    vmaf = score_files(ffmpeg, ref, dis, options, align=req.align,
                       on_progress=progress_hook("score", ref.frame_count, emit))  # fmt: skip
    tiny = scores.tiny_scores(vmaf, req.tiny_model) if req.tiny else None
    fr = None
    if req.tiny_fr:
        runner = engines.pick_engine(req.engine, patched_ffmpeg())
        fr = scores.fr_video(ref, dis, req.tiny_fr_model, runner, ffmpeg, device=req.device)
    return ScoreResult(vmaf, nr, tiny, fr)
