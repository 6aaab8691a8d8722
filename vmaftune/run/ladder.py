"""The ladder run behind `vmaftune ladder INPUT -o DIR --rungs 1080:95,720:93`: one
per-shot target encode per rung over one shot list, packaged as HLS (fMP4) with
`ladder.json`.

probe → shots (once, shared by every rung, so every rung has a keyframe at every shot
start) → per rung: the per-shot loop at the rung's size → HLS segments per rung in a
staging folder → master playlist + ladder.json → the staging folder replaces DIR.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vmaftune import encoders
from vmaftune.edges.outputs import atomic_folder, check_folder, output_lock
from vmaftune.edges.toolchain import FFmpeg, resolve
from vmaftune.errors import UsageError
from vmaftune.run.events import Emit, Note, Resuming, Run, RungStart, ShotsFound
from vmaftune.run.ray_shots import joined, ray_shots
from vmaftune.run.report import render_page
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
from vmaftune.steps import cuts, encode, hls, join, rungs, sidecar
from vmaftune.steps.cuts import Frames
from vmaftune.steps.decide import Decision, Search, ShotResult
from vmaftune.steps.decide.search import Target
from vmaftune.steps.probe import Timeline, read
from vmaftune.steps.report.document import Document
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, VmafOptions, require_libvmaf
from vmaftune.steps.shots import Shot, ShotOptions
from vmaftune.steps.trial import Job
from vmaftune.work.pershot import PerShot
from vmaftune.work.workdir import WorkDir, run_key

REPORT = "report.html"  # with --report, beside ladder.json


@dataclass(frozen=True)
class LadderRequest:
    input: Path
    output: Path  # the folder to write
    codec: str
    rungs: str = "1080:95,720:93,540:88"  # HEIGHT:VMAF or WIDTHxHEIGHT:VMAF, comma separated
    score_at: str = "source"  # or "rung"
    preset: str | None = None
    pix_fmt: str | None = None
    pool: str = "mean"
    tolerance: float = 0.5
    search: str = "interpolate"
    model: str = DEFAULT_VMAF_MODEL
    jobs: int = 0
    keep_work: bool = False
    min_shot: float = 1.0
    # Apple's HLS authoring guidance targets 6 s segments; a segment here is a shot.
    max_shot: float = 6.0
    force: bool = False
    report: bool = False  # also DIR/report.html (vmaftune.run.report)
    executor: str = "local"  # or "ray", as TargetRequest.executor
    ray_address: str | None = None
    command: tuple[str, ...] = ()  # recorded in ladder.json


@dataclass(frozen=True)
class RungResult:
    rung: rungs.Rung
    results: list[ShotResult]
    segments: list[hls.MediaSegment]
    variant: hls.Variant


@dataclass(frozen=True)
class LadderResult:
    output: Path
    master: Path
    ladder: Path  # ladder.json
    rungs: tuple[RungResult, ...]
    document: dict[str, Any]  # what ladder.json holds
    report: Path | None = None  # DIR/report.html, with request.report


def encode_ladder(request: LadderRequest, ffmpeg: FFmpeg | None = None) -> Run[LadderResult]:
    """Encode INPUT into an HLS ladder: each rung per shot at its own target VMAF,
    keyframes aligned across rungs at shot starts."""
    return Run(lambda emit: _run(request, ffmpeg or resolve(), emit))


@dataclass(frozen=True)
class _Plan:
    rungs: list[rungs.Rung]
    skipped: list[str]
    jobs: dict[str, Job]
    targets: dict[str, Target]
    shots: ShotOptions
    parallel: int


def _plan(req: LadderRequest, ffmpeg: FFmpeg) -> tuple[_Plan, Timeline]:
    encoder = encoders.get(req.codec)
    if req.executor not in EXECUTORS:
        raise UsageError(f"--executor must be local or ray, not {req.executor!r}")
    if req.score_at not in rungs.SCORE_AT:
        raise UsageError(f"--score-at must be one of {', '.join(rungs.SCORE_AT)}")
    specs = rungs.parse(req.rungs)
    targets = {s.height: Target(s.vmaf, req.tolerance, req.pool, req.search).checked()
               for s in specs}  # fmt: skip
    shot_options = ShotOptions(req.min_shot, req.max_shot).checked()
    parallel = parallel_shots(req.jobs)
    check_folder(req.output, [req.input], force=req.force)
    source, demuxed = read(req.input)
    planned, skipped = rungs.plan(specs, source)
    if not planned:
        raise UsageError(
            f"no rung fits the source ({source.width}x{source.height}): every rung is taller"
        )
    pix_fmt = encoder.pick_pix_fmt(req.pix_fmt, source.bit_depth)
    encode.require_encoder(ffmpeg, encoder, pix_fmt)
    require_libvmaf(ffmpeg)
    threads = shot_threads(req.executor, parallel)
    vmaf = VmafOptions(model=req.model, threads=threads).checked()
    jobs = {}
    for rung in planned:
        at_source = (rung.width, rung.height) == (source.width, source.height)
        jobs[rung.name] = Job(
            source=source, frames=Frames((), demuxed), encoder=encoder,
            preset=encoder.pick_preset(req.preset), pix_fmt=pix_fmt, vmaf=vmaf, threads=threads,
            scale=None if at_source else (rung.width, rung.height), score_at=req.score_at,
        )  # fmt: skip
    by_name = {r.name: targets[r.height] for r in planned}
    return _Plan(planned, skipped, jobs, by_name, shot_options, parallel), demuxed


def _run(req: LadderRequest, ffmpeg: FFmpeg, emit: Emit) -> LadderResult:
    started = time.monotonic()
    p, demuxed = _plan(req, ffmpeg)
    with joined(req.executor, req.ray_address), output_lock(req.output):
        return _locked(req, ffmpeg, emit, p, demuxed, started)


def _locked(
    req: LadderRequest, ffmpeg: FFmpeg, emit: Emit, p: _Plan, demuxed: Timeline, started: float
) -> LadderResult:
    for note in p.skipped:
        emit(Note(note))
    root = WorkDir.beside(req.output)
    o = p.shots
    shot_key = {"shots": [o.min_seconds, o.max_seconds, o.sensitivity]}
    work = {
        name: WorkDir(root / name).open(
            run_key({**job.identity(ffmpeg), "target": asdict(p.targets[name]), **shot_key})
        )
        for name, job in p.jobs.items()
    }
    if any(w.journal.resumed for w in work.values()):
        emit(Resuming(root))
    first = next(iter(p.jobs.values()))
    shots, decoded = shots_and_frames(ffmpeg, first.source, demuxed, o, list(work.values()))
    jobs = {name: j.with_frames(decoded) for name, j in p.jobs.items()}
    emit(ShotsFound(tuple(shots), decoded.count, p.parallel, False, tuple(jobs)))
    per_shot = {name: PerShot(w.path.resolve(), w.key) for name, w in work.items()}
    place: dict[str, Placement] = {
        name: ShotFolders(per_shot[name]) if req.executor == "ray" else OneFolder(w)
        for name, w in work.items()
    }
    done: list[tuple[rungs.Rung, list[ShotResult]]] = []
    for rung in p.rungs:
        emit(RungStart(rung))
        job, target = jobs[rung.name], p.targets[rung.name]
        search = Search(job.encoder.quality, target)

        def decision(_shot: Shot, search: Search = search) -> Decision:
            return search

        if req.executor == "ray":
            results = ray_shots(ffmpeg, job, shots, per_shot[rung.name], decision,
                                address=req.ray_address, emit=emit,
                                keep_trials=req.keep_work)  # fmt: skip
        else:
            results = run_shots(ffmpeg, job, shots, work[rung.name], decision, jobs=p.parallel,
                                emit=emit, keep_trials=req.keep_work)  # fmt: skip
        done.append((rung, results))
    source = jobs[p.rungs[0].name].source
    result = _write(req, ffmpeg, p, source, done, place, decoded.timeline, started)
    _clean(req, root, work)
    for rung_result in result.rungs:
        r = rung_result.rung
        for warning in unreachable(rung_result.results, r.vmaf, req.pool, first.encoder.name,
                                   r.name):  # fmt: skip
            emit(warning)
    return result


def _write(
    req: LadderRequest, ffmpeg: FFmpeg, p: _Plan, source: Any,
    done: list[tuple[rungs.Rung, list[ShotResult]]], place: dict[str, Placement],
    frames: Timeline, started: float,
) -> LadderResult:  # fmt: skip
    chosen = {rung.name: [(r.shot, place[rung.name].segment(r))
                          for r in results] for rung, results in done}  # fmt: skip
    # One decode delay for all rungs: a frame has the same timestamp in every rung.
    delay = max(join.reorder_delay(c, frames) for c in chosen.values())
    encoder = next(iter(p.jobs.values()))
    with atomic_folder(req.output) as staging:
        packaged = [_package(rung, results, chosen[rung.name], frames, staging, delay, ffmpeg)
                    for rung, results in done]  # fmt: skip
        (staging / hls.MASTER).write_text(hls.master_playlist([q.variant for q in packaged]))
        version = encode.encoder_version(ffmpeg, encoder.encoder)
        doc = sidecar.ladder_document(
            req.command, source, sidecar.encoder_record(encoder.encoder, version,
                                                        encoder.preset, encoder.pix_fmt),
            {"pool": req.pool, "tolerance": req.tolerance, "search": req.search,
             "model": req.model, "score_at": req.score_at},
            [(q.rung, q.results, q.segments, q.variant) for q in packaged], p.skipped,
            time.monotonic() - started,
        )  # fmt: skip
        (staging / "ladder.json").write_text(json.dumps(doc, indent=2) + "\n")
        if req.report:
            html = render_page(Document(req.output / "ladder.json", "ladder", doc))
            (staging / REPORT).write_text(html, encoding="utf-8")
    page = req.output / REPORT if req.report else None
    return LadderResult(req.output, req.output / hls.MASTER, req.output / "ladder.json",
                        tuple(packaged), doc, page)  # fmt: skip


def _package(
    rung: rungs.Rung, results: list[ShotResult], chosen: list[tuple[Shot, Path]],
    frames: Timeline, staging: Path, delay: int, ffmpeg: FFmpeg,
) -> RungResult:  # fmt: skip
    folder = staging / rung.name
    folder.mkdir()
    segments, codec = hls.write_rung(
        chosen, frames, folder, delay=delay,
        check=lambda whole: cuts.check_frames(ffmpeg, whole, [(s.index, p) for s, p in chosen]),
    )  # fmt: skip
    peak, average = hls.bitrates(segments, (folder / hls.INIT).stat().st_size)
    variant = hls.Variant(
        playlist=f"{rung.name}/{hls.PLAYLIST}", width=rung.width, height=rung.height,
        codecs=codec, peak_bitrate=peak, average_bitrate=average,
        frame_rate=hls.frame_rate(frames),
    )  # fmt: skip
    return RungResult(rung, results, segments, variant)


def _clean(req: LadderRequest, root: Path, work: dict[str, WorkDir]) -> None:
    for w in work.values():
        w.journal.close()
    if not req.keep_work:
        for w in work.values():
            w.remove()
        with contextlib.suppress(OSError):  # something else lives there: leave it
            root.rmdir()
