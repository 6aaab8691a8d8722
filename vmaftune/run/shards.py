"""Plan, run, join: a per-shot encode split for batch arrays (Kubernetes Indexed Jobs, AWS
Batch array jobs, a shell loop), with no service to run.

- `plan`: probe, shots and (with --mode predict) predictions, once, into PLAN (JSON) and
  its work folder `PLAN.vmaftune-work/`;
- `run_shard`: shard I of N decides its share of the shots, each in its own folder
  (vmaftune.work.pershot), and records what it did in `shards/I-of-N.json`; a rerun redoes
  nothing finished;
- `join_plan`: every shot finished (else one line naming the shards), then the same finish
  as a local run (vmaftune.run.target.finish): the same segments give the same OUT.

Every encoder runs single-threaded per shot, as in a local run with one shot per core:
x264 and x265 give other bytes with other thread counts.
"""

from __future__ import annotations

import heapq
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from vmaftune.edges.outputs import atomic_output, check_output, output_lock
from vmaftune.edges.toolchain import FFmpeg, resolve
from vmaftune.errors import InputError, UsageError
from vmaftune.run.events import Emit, Run, ShotsFound
from vmaftune.run.shots import ShotFolders, run_shots, shots_and_frames
from vmaftune.run.target import (
    SHARDS,
    Laps,
    Plan,
    TargetRequest,
    TargetResult,
    decisions,
    finish,
    make_plan,
    open_work,
    predictions_for,
    run_identity,
)
from vmaftune.steps.cuts import Frames
from vmaftune.steps.decide import Decision, ShotResult
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.shots import Shot
from vmaftune.work.pershot import PerShot
from vmaftune.work.workdir import WorkDir, run_key

PLAN_SCHEMA = "vmaftune.plan/1"
# Batch arrays name the child's index in these (Kubernetes Indexed Job, AWS Batch).
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
COUNT_VARIABLE = "VMAFTUNE_SHARDS"
# What a plan keeps of the request; output, force and the rest belong to the join.
_KEPT = ("codec", "target_vmaf", "preset", "pix_fmt", "pool", "tolerance", "search",
         "min_shot", "max_shot", "model", "audio", "mode", "predictor", "max_interval",
         "final_score", "trial_subsample")  # fmt: skip


@dataclass(frozen=True)
class PlanRequest:
    target: TargetRequest  # the per-shot encode to plan; its output is not used
    plan: Path  # the plan file to write (its work folder: PLAN.vmaftune-work/)
    force: bool = False
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanResult:
    plan: Path
    work: Path
    shots: tuple[Shot, ...]


@dataclass(frozen=True)
class ShardRequest:
    plan: Path
    shard: str  # "I/N", "auto/N", or "auto" (I from the batch array, N from $VMAFTUNE_SHARDS)
    jobs: int = 1  # this shard's shots at once


@dataclass(frozen=True)
class ShardResult:
    index: int
    count: int
    shots: tuple[int, ...]  # the shots this shard decided
    encodes: int  # trials encoded by this run (0 on a rerun of a finished shard)
    record: Path  # shards/I-of-N.json


@dataclass(frozen=True)
class JoinRequest:
    plan: Path
    output: Path
    force: bool = False
    keep_work: bool = False
    report: bool = False
    command: tuple[str, ...] = ()


def plan(request: PlanRequest, ffmpeg: FFmpeg | None = None) -> Run[PlanResult]:
    """Shots, cuts and predictions of a per-shot encode, written for shards to share."""
    return Run(lambda emit: _plan(request, ffmpeg or resolve(), emit))


def run_shard(request: ShardRequest, ffmpeg: FFmpeg | None = None) -> Run[ShardResult]:
    """Decide shard I of N's shots of a plan."""
    return Run(lambda emit: _shard(request, ffmpeg or resolve(), emit))


def join_plan(request: JoinRequest, ffmpeg: FFmpeg | None = None) -> Run[TargetResult]:
    """Check every shot of a plan is decided, then join, score and write OUT."""
    return Run(lambda emit: _join(request, ffmpeg or resolve(), emit))


def _target(kept: dict[str, Any], input: Path, output: Path, **more: Any) -> TargetRequest:
    return TargetRequest(input=input, output=output, executor=SHARDS, jobs=1, **kept, **more)


def _plan(req: PlanRequest, ffmpeg: FFmpeg, emit: Emit) -> PlanResult:
    if req.target.verify != "all":
        raise UsageError("--verify sample:K decides the sample before the rest: not in a plan")
    target = replace(req.target, input=req.target.input.absolute(), output=req.plan,
                     executor=SHARDS, jobs=1)  # fmt: skip
    check_output(req.plan, [target.input], force=req.force)
    p, demuxed = make_plan(target, ffmpeg, publish=False)
    with output_lock(req.plan):
        work = open_work(target, p, ffmpeg)
        try:
            shots, frames = shots_and_frames(ffmpeg, p.job.source, demuxed, p.shots, [work])
            job = p.job.with_frames(frames)
            predicted = predictions_for(ffmpeg, p.curve, job, p.target, shots, work,
                                        target.max_interval)  # fmt: skip
            emit(ShotsFound(tuple(shots), frames.count, 1, work.journal.resumed))
            doc = {
                "schema": PLAN_SCHEMA,
                "command": list(req.command),
                "key": work.key,
                "work": work.path.name,  # beside the plan, wherever the storage is mounted
                "input": str(target.input),
                "request": {k: getattr(target, k) for k in _KEPT},
                "threads": job.threads,
                "frames": frames.record(),
                "shots": [asdict(s) for s in shots],
                "predictions": ([asdict(predicted[s.index]) for s in shots] if predicted else None),
            }
            with atomic_output(req.plan) as tmp:
                tmp.write_text(json.dumps(doc, indent=1) + "\n")
        finally:
            work.journal.close()
    return PlanResult(req.plan, work.path, tuple(shots))


@dataclass(frozen=True)
class _Loaded:
    doc: dict[str, Any]
    target: TargetRequest
    plan: Plan
    shots: list[Shot]
    predictions: dict[int, ShotPrediction] | None
    per_shot: PerShot
    work: Path


def _load(path: Path, ffmpeg: FFmpeg, output: Path | None = None, **more: Any) -> _Loaded:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such plan") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a vmaftune plan ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA:
        raise InputError(f"{path}: not a vmaftune plan (expected schema {PLAN_SCHEMA})")
    try:
        known = {f.name for f in fields(TargetRequest)}
        kept = {k: v for k, v in doc["request"].items() if k in known}
        target = _target(kept, Path(doc["input"]), output or path, **more)
        p, _ = make_plan(target, ffmpeg, publish=output is not None)
        frames = Frames.from_record(doc["frames"])
        p = replace(p, job=replace(p.job.with_frames(frames), threads=int(doc["threads"])))
        shots = [Shot(**s) for s in doc["shots"]]
        preds = doc.get("predictions")
        predictions = {int(q["shot"]): ShotPrediction(**q) for q in preds} if preds else None
        work = path.parent / str(doc["work"])
        key = str(doc["key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{path}: a plan vmaftune cannot read ({type(exc).__name__}: {exc})"
        ) from exc
    if run_key(run_identity(target, p, ffmpeg)) != key:
        raise InputError(
            f"{path}: the source, FFmpeg or the zoo changed since the plan was made; plan again"
        )
    return _Loaded(doc, target, p, shots, predictions, PerShot(work.resolve(), key), work)


def _decision(loaded: _Loaded) -> Callable[[Shot], Decision]:
    return decisions(loaded.predictions, loaded.plan.job.encoder.quality, loaded.plan.target)


def parse_shard(spec: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    """`I/N`, `auto/N` or `auto` → (I, N), I counted from 0."""
    env = dict(os.environ) if env is None else env
    index_text, _, count_text = spec.partition("/")
    if index_text == "auto":
        found = [env[v] for v in INDEX_VARIABLES if env.get(v, "") != ""]
        if not found:
            raise UsageError(f"--shard auto: none of {', '.join(INDEX_VARIABLES)} is set")
        index_text = found[0]
        count_text = count_text or env.get(COUNT_VARIABLE, "")
        if not count_text:
            raise UsageError(f"--shard auto needs the count: auto/N or ${COUNT_VARIABLE}")
    if not (index_text.isdigit() and count_text.isdigit()):
        raise UsageError(f"--shard must be I/N (0 <= I < N), auto/N or auto, not {spec!r}")
    index, count = int(index_text), int(count_text)
    if not 0 <= index < count:
        raise UsageError(f"--shard {index}/{count}: I must be at least 0 and below N")
    return index, count


def assign(shots: Sequence[Shot], count: int) -> list[list[Shot]]:
    """The shots of each of `count` shards: longest first, each to the least-loaded shard
    (by frames; ties to the lower shard), so the shards finish close together. A pure
    function of the plan and N: every shard computes the same split on its own."""
    loads = [(0, i) for i in range(count)]
    heapq.heapify(loads)
    out: list[list[Shot]] = [[] for _ in range(count)]
    for shot in sorted(shots, key=lambda s: (-s.frames, s.index)):
        load, i = heapq.heappop(loads)
        out[i].append(shot)
        heapq.heappush(loads, (load + shot.frames, i))
    return [sorted(x, key=lambda s: s.index) for x in out]


def _shard(req: ShardRequest, ffmpeg: FFmpeg, emit: Emit) -> ShardResult:
    index, count = parse_shard(req.shard)
    if req.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    loaded = _load(req.plan, ffmpeg)
    mine = assign(loaded.shots, count)[index]
    record = loaded.work / "shards" / f"{index}-of-{count}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    state = {"shard": index, "of": count, "shots": [s.index for s in mine],
             "host": socket.gethostname(), "started": time.time(), "finished": None}  # fmt: skip
    _write_record(record, state)
    emit(ShotsFound(tuple(mine), loaded.plan.job.frames.count, req.jobs, False))
    results = run_shots(ffmpeg, loaded.plan.job, mine, loaded.per_shot, _decision(loaded),
                        jobs=req.jobs, emit=emit)  # fmt: skip
    encodes = sum(not t.resumed for r in results for t in r.trials)
    _write_record(record, {**state, "finished": time.time(), "encodes": encodes})
    return ShardResult(index, count, tuple(s.index for s in mine), encodes, record)


def _write_record(path: Path, state: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(state) + "\n")


def _join(req: JoinRequest, ffmpeg: FFmpeg, emit: Emit) -> TargetResult:
    started = time.monotonic()
    loaded = _load(req.plan, ffmpeg, req.output, force=req.force, keep_work=req.keep_work,
                   report=req.report, command=req.command)  # fmt: skip
    missing = [s for s in loaded.shots if not loaded.per_shot.finished(s)]
    if missing:
        raise InputError(f"{req.plan}: {_missing(loaded, missing)}")
    with output_lock(req.output):
        work = WorkDir(loaded.work).open(loaded.per_shot.key)
        lap = Laps(started)
        emit(ShotsFound(tuple(loaded.shots), loaded.plan.job.frames.count, 1, True))
        # Every shot replayed from its own journal: nothing is encoded again.
        results: list[ShotResult] = run_shots(
            ffmpeg, loaded.plan.job, loaded.shots, loaded.per_shot, _decision(loaded), jobs=1,
            emit=emit,
        )  # fmt: skip
        lap("trials")
        return finish(loaded.target, ffmpeg, emit, loaded.plan, results, None,
                      ShotFolders(loaded.per_shot), work, started, lap)  # fmt: skip


def _missing(loaded: _Loaded, missing: list[Shot]) -> str:
    """One line: which shards did not finish the shots that are missing."""
    records = []
    for path in sorted((loaded.work / "shards").glob("*-of-*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    lost = {s.index for s in missing}
    blamed: list[str] = []
    covered: set[int] = set()
    for r in records:
        theirs = sorted(lost & set(r.get("shots", [])))
        if theirs:
            state = "started, not finished" if r.get("finished") is None else "finished, shots lost"
            blamed.append(f"shard {r['shard']}/{r['of']} ({state}: shots "
                          f"{', '.join(map(str, theirs))})")  # fmt: skip
            covered |= set(theirs)
    nobody = sorted(lost - covered)
    if nobody:
        blamed.append(f"no shard ran shots {', '.join(map(str, nobody))}")
    return (f"{len(missing)} of {len(loaded.shots)} shots are not finished: "
            f"{'; '.join(blamed)}; run those shards again")  # fmt: skip
