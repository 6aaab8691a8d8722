"""The per-shot target run behind `vmaftune encode --target-vmaf`.

probe → shots (or the journal's) → per shot: decide ⇄ trial (encode + score), in parallel
→ join in the work folder → whole-file VMAF → check → sidecars → rename onto OUT →
remove the work folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vmaftune import encoders
from vmaftune.edges.outputs import atomic_output, check_output, output_lock
from vmaftune.edges.toolchain import FFmpeg, honours_roi, patched_ffmpeg, resolve
from vmaftune.encoders import QualityKnob
from vmaftune.errors import Interrupted, UsageError, VmaftuneError
from vmaftune.run.events import Emit, Note, Resuming, Run, ShotsFound, progress_hook
from vmaftune.run.ray_shots import joined, ray_shots
from vmaftune.run.report import render_page, report_path
from vmaftune.run.roi import with_shot_regions
from vmaftune.run.shots import (
    EXECUTORS,
    OneFolder,
    Placement,
    ShotFolders,
    parallel_shots,
    run_shots,
    shot_threads,
    shots_and_frames,
    unreachable,
)
from vmaftune.steps import cuts, encode, join, sidecar
from vmaftune.steps.cuts import Cut, Frames
from vmaftune.steps.decide import (
    Decision,
    PredictThenVerify,
    Search,
    ShotResult,
    Trust,
    sample_shots,
)
from vmaftune.steps.decide.predict import MAX_HALF_WIDTH, ShotPrediction
from vmaftune.steps.decide.search import Target
from vmaftune.steps.decide.verdict import Verdict
from vmaftune.steps.probe import MediaInfo, Timeline, probe, read
from vmaftune.steps.report.document import Document
from vmaftune.steps.roi import RoiSpec
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, Score, VmafOptions, plan, require_libvmaf
from vmaftune.steps.score import run as run_score
from vmaftune.steps.shots import Shot, ShotOptions
from vmaftune.steps.trial import Job
from vmaftune.steps.verify import check_shipped, composed_whole
from vmaftune.work.pershot import PerShot
from vmaftune.work.workdir import WorkDir, run_key
from vmaftune.zoo import features
from vmaftune.zoo.predictor import DEFAULT_PREDICTOR, CurveModel
from vmaftune.zoo.registry import load as load_model

MODES = ("search", "predict")
SHARDS = "shards"  # plan/run/join (vmaftune.run.shards): not an --executor choice
FINAL_SCORES = ("composed", "full")


@dataclass(frozen=True)
class TargetRequest:
    input: Path
    output: Path
    codec: str  # see `vmaftune encoders`
    target_vmaf: float
    preset: str | None = None  # None: the encoder's default
    pix_fmt: str | None = None  # None: from the source's bit depth
    pool: str = "mean"
    tolerance: float = 0.5
    search: str = "interpolate"
    min_shot: float = 1.0
    max_shot: float = 10.0
    model: str = DEFAULT_VMAF_MODEL
    jobs: int = 0  # shots at once; 0: one per core
    keep_work: bool = False
    force: bool = False
    audio: bool = True
    mode: str = "search"  # or "predict"
    predictor: str = DEFAULT_PREDICTOR
    verify: str = "all"  # or "sample:K" (predict mode)
    max_interval: float = MAX_HALF_WIDTH
    # OUT's whole-file VMAF: "composed" from the trials (libvmaf only across each cut),
    # or "full" (libvmaf over all of OUT); composed falls back to full when it cannot.
    final_score: str = "composed"
    # Score trials on every n-th frame; each shot's answer is scored on all frames before
    # it is accepted (and the search goes on when that changes it).
    trial_subsample: int = 1
    report: bool = False  # also OUT.report.html (vmaftune.run.report)
    # Where shots are decided: "local" threads (--jobs), or "ray": one Ray task per shot
    # on the cluster at ray_address (None: $RAY_ADDRESS, else a Ray started here).
    executor: str = "local"
    ray_address: str | None = None
    # Saliency ROI (steps/roi.py): "saliency[:model=ID][:strength=S][:smooth=A]"; each
    # shot's encodes carry its map as region-of-interest offsets (x264, x265, qsv).
    roi: str | None = None
    command: tuple[str, ...] = ()  # recorded in the sidecar


@dataclass(frozen=True)
class TargetResult:
    output: Path
    sidecars: tuple[Path, Path]  # OUT.shots.json, OUT.shots.csv
    shots: tuple[ShotResult, ...]
    whole: Score  # OUT against the source
    document: dict[str, Any]  # what OUT.shots.json holds
    report: Path | None = None  # OUT.report.html, with request.report


def encode_target(request: TargetRequest, ffmpeg: FFmpeg | None = None) -> Run[TargetResult]:
    """Encode each shot at the cheapest setting that reaches the target VMAF, join them
    into OUT and write the sidecars."""
    return Run(lambda emit: _run(request, ffmpeg or resolve(), emit))


@dataclass(frozen=True)
class Plan:
    job: Job
    target: Target
    shots: ShotOptions
    jobs: int
    curve: CurveModel | None
    sample: int | None  # --verify sample:K


def make_plan(req: TargetRequest, ffmpeg: FFmpeg, *, publish: bool = True) -> tuple[Plan, Timeline]:
    """Check the request and read the source. `publish=False`: the run writes no OUT
    (`vmaftune plan`, `vmaftune run --shard`), so OUT's checks wait for the join."""
    encoder = encoders.get(req.codec)
    if publish:
        encode.require_container(req.output, encoder)
    target = Target(req.target_vmaf, req.tolerance, req.pool, req.search).checked()
    shot_options = ShotOptions(req.min_shot, req.max_shot).checked()
    jobs = parallel_shots(req.jobs)
    if req.executor not in (*EXECUTORS, SHARDS):
        raise UsageError(f"--executor must be local or ray, not {req.executor!r}")
    for path in (req.output, *sidecar.paths(req.output), *_report_paths(req)) if publish else ():
        check_output(path, [req.input], force=req.force)
    source, demuxed = read(req.input)
    pix_fmt = encoder.pick_pix_fmt(req.pix_fmt, source.bit_depth)
    encode.require_size(source, encoder, pix_fmt)
    if publish and req.audio and source.has_audio:
        join.require_audio(req.input, req.output)
    encode.require_encoder(ffmpeg, encoder, pix_fmt)
    require_libvmaf(ffmpeg)
    threads = shot_threads(req.executor, jobs)
    roi, encode_with = _roi_spec(req, encoder, ffmpeg)
    job = Job(
        source=source,
        frames=Frames((), demuxed),  # until the shot detection's decode
        encoder=encoder,
        preset=encoder.pick_preset(req.preset),
        pix_fmt=pix_fmt,
        vmaf=VmafOptions(model=req.model, threads=threads).checked(),
        threads=threads,
        trial_subsample=req.trial_subsample,
        roi=roi,
        encode_with=encode_with,
    )
    if not 1 <= req.trial_subsample <= 30:
        raise UsageError(f"--trial-subsample must be 1..30, not {req.trial_subsample}")
    if req.mode not in MODES:
        raise UsageError(f"--mode must be search or predict, not {req.mode!r}")
    if req.final_score not in FINAL_SCORES:
        raise UsageError(f"--final-score must be composed or full, not {req.final_score!r}")
    sample = _sample_size(req.verify, req.mode)
    if req.max_interval <= 0:
        raise UsageError("--max-interval must be above 0")
    curve = CurveModel(req.predictor) if req.mode == "predict" else None
    return Plan(job, target, shot_options, jobs, curve, sample), demuxed


def _roi_spec(
    req: TargetRequest, encoder: encoders.Encoder, ffmpeg: FFmpeg
) -> tuple[RoiSpec | None, FFmpeg | None]:
    """The --roi spec, and the FFmpeg that must run the encodes when the run's own ignores
    regions but the patched build applies them (SVT-AV1)."""
    if req.roi is None:
        return None, None
    spec = RoiSpec.parse(req.roi)
    encode_with = None
    if not honours_roi(ffmpeg, encoder):
        patched = patched_ffmpeg()
        if patched is None or not honours_roi(patched, encoder):
            hint = (
                "build the patched FFmpeg (make ffmpeg), whose libsvtav1 takes them, or "
                "write the map with vmaftune roi --format svt-roi-map for SvtAv1EncApp"
                if encoder.roi_option
                else "x264, x265, QSV, or SVT-AV1 with the patched FFmpeg of make ffmpeg"
            )
            raise UsageError(
                f"--roi: {encoder.name} in {ffmpeg.path} ignores region-of-interest offsets; "
                + hint
            )
        encode_with = patched
    if req.executor == SHARDS:
        raise UsageError("--roi is not available to plan/run/join yet; use --executor local|ray")
    load_model(spec.model, kind="saliency")  # a bad model fails before any work
    return spec, encode_with


def _report_paths(req: TargetRequest) -> tuple[Path, ...]:
    return (report_path(req.output),) if req.report else ()


def _sample_size(verify: str, mode: str) -> int | None:
    if verify == "all":
        return None
    kind, _, count = verify.partition(":")
    if kind != "sample" or not count.isdigit() or int(count) < 1:
        raise UsageError(f"--verify must be all or sample:K (K at least 1), not {verify!r}")
    if mode != "predict":
        raise UsageError("--verify sample:K needs --mode predict")
    return int(count)


def open_work(req: TargetRequest, p: Plan, ffmpeg: FFmpeg) -> WorkDir:
    return WorkDir(WorkDir.beside(req.output)).open(run_key(run_identity(req, p, ffmpeg)))


def run_identity(req: TargetRequest, p: Plan, ffmpeg: FFmpeg) -> dict[str, Any]:
    """What of a run changes its result: the work folder's key."""
    o = p.shots
    identity = {
        **p.job.identity(ffmpeg),
        "target": asdict(p.target),
        "shots": [o.min_seconds, o.max_seconds, o.sensitivity],
        "mode": req.mode,
        "verify": req.verify,
        "max_interval": req.max_interval,
    }
    if p.curve is not None:
        identity["predictor"] = p.curve.sha256
    return identity


def _run(req: TargetRequest, ffmpeg: FFmpeg, emit: Emit) -> TargetResult:
    started = time.monotonic()
    p, demuxed = make_plan(req, ffmpeg)
    with joined(req.executor, req.ray_address), output_lock(req.output):
        return _locked(req, ffmpeg, emit, p, demuxed, started)


def _locked(
    req: TargetRequest, ffmpeg: FFmpeg, emit: Emit, p: Plan, demuxed: Timeline, started: float
) -> TargetResult:
    work = open_work(req, p, ffmpeg)
    try:
        return _decided(req, ffmpeg, emit, p, demuxed, started, work)
    except VmaftuneError as exc:
        # Refused before any trial: nothing worth keeping. An interrupt keeps the folder
        # (its shot list and cuts spare the next run a decode).
        if not isinstance(exc, Interrupted) and not work.journal.has_trials():
            work.remove()
        raise


def _decided(
    req: TargetRequest, ffmpeg: FFmpeg, emit: Emit, p: Plan, demuxed: Timeline, started: float,
    work: WorkDir,
) -> TargetResult:  # fmt: skip
    if work.journal.resumed:
        emit(Resuming(work.path))
    lap = Laps(started)
    lap("plan")
    shots, frames = shots_and_frames(ffmpeg, p.job.source, demuxed, p.shots, [work])
    job, roi = with_shot_regions(p.job.with_frames(frames), shots)
    if roi:
        work.journal.set_meta("roi", roi)
    lap("shots")
    predictions = predictions_for(ffmpeg, p.curve, job, p.target, shots, work, req.max_interval)
    lap("features")
    emit(ShotsFound(tuple(shots), frames.count, p.jobs, work.journal.resumed))
    p = replace(p, job=job)
    placement: Placement = OneFolder(work)
    if req.executor == "ray":
        placement = ShotFolders(PerShot(work.path.resolve(), work.key))
    results, verify = _decide(ffmpeg, p, shots, work, placement, predictions, req, emit)
    lap("trials")
    return finish(req, ffmpeg, emit, p, results, verify, placement, work, started, lap)


def finish(
    req: TargetRequest, ffmpeg: FFmpeg, emit: Emit, p: Plan, results: list[ShotResult],
    verify: dict[str, Any] | None, placement: Placement, work: WorkDir, started: float,
    lap: Laps,
) -> TargetResult:  # fmt: skip
    """From decided shots to OUT: join in the work folder, OUT's whole-file VMAF and its
    checks, the sidecars (and the report), then OUT renamed into place. A local run, a Ray
    run and `vmaftune join` all end here, so the same segments make the same OUT."""
    job, frames = p.job, p.job.frames
    joined = work.path / f"joined{req.output.suffix}"
    segments = [placement.segment(r) for r in results]
    audio = req.audio and job.source.has_audio
    pairs = [(r.shot, s) for r, s in zip(results, segments, strict=True)]
    join.join(pairs, frames.timeline, req.input, joined, audio=audio)
    lap("join")
    composed = None
    if req.final_score == "composed":
        composed = composed_whole(ffmpeg, job, results, segments, work.path)
    if composed is None:
        encoded, whole = _score_whole(ffmpeg, job, joined, frames, emit)
        check_shipped(ffmpeg, results, segments, joined, whole, p.target.pool)
    else:
        # What makes the trials' scores the output's: the source frames each shot was
        # cut from are its own, and the output's frames are the segments'.
        windows = [(r.shot.index, r.shot.start, placement.shot_cut(ffmpeg, job, r.shot))
                   for r in results]  # fmt: skip
        cuts.check_windows(ffmpeg, job.source, frames, windows)
        by_shot = [(r.shot.index, s) for r, s in zip(results, segments, strict=True)]
        cuts.check_frames(ffmpeg, joined, by_shot)
        encoded, whole = probe(joined), composed
        for note in whole.notes:
            emit(Note(note, kind="score"))
    lap("final_score")
    facts = _facts(req, p, job, replace(encoded, path=req.output), whole, work, verify, started,
                   ffmpeg, lap.seconds)  # fmt: skip
    doc = sidecar.document(facts, results)
    paths = _publish(req, doc, results, joined, work)
    for warning in unreachable(results, p.target.vmaf, p.target.pool, job.encoder.name):
        emit(warning)
    page = report_path(req.output) if req.report else None
    return TargetResult(req.output, paths, tuple(results), whole, doc, page)


class Laps:
    """Wall time of each part of a run (this run's, not a resumed one's before it): where
    the time beside the trials goes (issue 18, item 7)."""

    def __init__(self, started: float) -> None:
        self.last = started
        self.seconds: dict[str, float] = {}

    def __call__(self, part: str) -> None:
        now = time.monotonic()
        self.seconds[part] = round(now - self.last, 3)
        self.last = now


def predictions_for(
    ffmpeg: FFmpeg, curve: CurveModel | None, job: Job, target: Target, shots: list[Shot],
    work: WorkDir, max_interval: float,
) -> dict[int, ShotPrediction] | None:  # fmt: skip
    """Each shot's prediction, kept in the journal: the feature pass is not bit-exact
    across runs (x264 threads), and a resumed run must replay the same decisions."""
    if curve is None:
        return None
    saved = work.journal.meta("predictions")
    if saved is None:
        feats = features.video_features(ffmpeg, job.source, shots)
        preds = [curve.predict(f, job.encoder.name, job.encoder.quality, target, max_interval)
                 for f in feats]  # fmt: skip
        work.journal.set_meta("predictions", [asdict(p) for p in preds])
        work.journal.set_meta("features_seconds", sum(f.seconds for f in feats))
    else:
        preds = [ShotPrediction(**p) for p in saved]
    return {p.shot: p for p in preds}


def decisions(
    predictions: dict[int, ShotPrediction] | None, knob: QualityKnob, target: Target
) -> Callable[[Shot], Decision]:
    """Each shot's decision: the search, or predict-then-verify from its prediction."""

    def decision(shot: Shot) -> Decision:
        if predictions is None:
            return Search(knob, target)
        return PredictThenVerify(predictions[shot.index], knob, target)

    return decision


def _decide(
    ffmpeg: FFmpeg, p: Plan, shots: list[Shot], work: WorkDir, placement: Placement,
    predictions: dict[int, ShotPrediction] | None, req: TargetRequest, emit: Emit,
) -> tuple[list[ShotResult], dict[str, Any] | None]:  # fmt: skip
    """Every shot decided; with --verify sample:K, the sample first (the seed's pattern:
    verify K shots spread across complexity; when all are GOSPEL, trust the predictor for
    the rest: one unscored encode each)."""
    knob = p.job.encoder.quality

    def run(chosen: list[Shot], decision: Any) -> list[ShotResult]:
        if isinstance(placement, ShotFolders):
            return ray_shots(ffmpeg, p.job, chosen, placement.per_shot, decision,
                             address=req.ray_address, emit=emit,
                             keep_trials=req.keep_work)  # fmt: skip
        return run_shots(ffmpeg, p.job, chosen, work, decision, jobs=p.jobs, emit=emit,
                         keep_trials=req.keep_work)  # fmt: skip

    verified = decisions(predictions, knob, p.target)

    if predictions is None or p.sample is None:
        return run(shots, verified), None
    sample = sample_shots(shots, predictions, p.sample)
    sampled = [s.index for s in sample]
    rest = [s for s in shots if s.index not in sampled]
    results = run(sample, verified)
    trusted = all(r.verdict == Verdict.GOSPEL for r in results)
    if rest:
        # A shot outside the training data is never trusted unmeasured.
        def unmeasured(s: Shot) -> Decision:
            inside = not predictions[s.index].outside
            return Trust(predictions[s.index]) if trusted and inside else verified(s)

        results += run(rest, unmeasured)
    results.sort(key=lambda r: r.shot.index)
    return results, {"mode": req.verify, "sampled": sampled, "trusted": trusted}


def _score_whole(
    ffmpeg: FFmpeg, job: Job, joined: Path, frames: Frames, emit: Emit
) -> tuple[MediaInfo, Score]:
    encoded = probe(joined)
    progress = progress_hook("score", job.source.frame_count, emit)
    # Frames pair by index: the output holds the source's decoded frames, whatever rate
    # either container declares.
    everything = Cut(None, 0, frames.count)
    whole = run_score(ffmpeg, plan(job.source, encoded, job.vmaf, window=everything), progress)
    return encoded, whole


def _facts(
    req: TargetRequest, p: Plan, job: Job, output: MediaInfo, whole: Score, work: WorkDir,
    verify: dict[str, Any] | None, started: float, ffmpeg: FFmpeg, parts: dict[str, float],
) -> sidecar.RunFacts:  # fmt: skip
    curve = p.curve
    predictor = None
    if curve is not None:
        spent = round(float(work.journal.meta("features_seconds") or 0), 3)
        predictor = {"id": curve.name, "sha256": curve.sha256, "half_width": curve.half_width,
                     "features_seconds": spent}  # fmt: skip
    return sidecar.RunFacts(
        command=req.command,
        source=job.source,
        output=output,
        whole=whole.pooled,
        frame_vmaf=_frame_vmaf(whole, output),
        encoder=job.encoder,
        encoder_version=encode.encoder_version(job.encode_with or ffmpeg, job.encoder),
        preset=job.preset,
        pix_fmt=job.pix_fmt,
        target=p.target,
        model=req.model,
        seconds=time.monotonic() - started,
        parts=parts,
        mode=req.mode,
        predictor=predictor,
        verify=verify,
        roi=work.journal.meta("roi") if p.job.roi is not None else None,
    )


def _frame_vmaf(whole: Score, output: MediaInfo) -> tuple[float, ...]:
    """Every frame's VMAF, in order, when the whole-file score has one per output frame."""
    indices = [f.frame for f in whole.frames]
    if indices != list(range(output.frame_count)):
        return ()
    return tuple(f.vmaf for f in whole.frames)


def _publish(
    req: TargetRequest, doc: dict[str, Any], results: list[ShotResult], joined: Path,
    work: WorkDir,
) -> tuple[Path, Path]:  # fmt: skip
    json_path, csv_path = sidecar.paths(req.output)
    files = [(json_path, sidecar.as_json(doc)), (csv_path, sidecar.table(results))]
    if req.report:
        page = render_page(Document(json_path, "shots", doc))
        files.insert(0, (report_path(req.output), page))
    for path, text in files:
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    os.replace(joined, req.output)
    if req.keep_work:
        work.journal.close()
    else:
        work.remove()
    return json_path, csv_path
