"""The per-shot loop that the target and ladder runs share: for each shot, ask its
decision for settings and measure them until it chooses, in parallel across shots, with
every finished trial recorded in the journal so a killed run resumes where it stopped."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InternalError, Interrupted, UsageError
from vmaftune.run.events import (
    Emit,
    ShotDone,
    ShotStart,
    TrialDone,
    TrialStart,
    Unreachable,
)
from vmaftune.steps import cuts
from vmaftune.steps.cuts import Cut, Frames
from vmaftune.steps.decide import Decision, ShotResult
from vmaftune.steps.decide.verdict import Verdict
from vmaftune.steps.probe import MediaInfo, Timeline
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.steps.trial import Job, Trial, measure, rescore, threads_per_job
from vmaftune.work.journal import Journal
from vmaftune.work.pershot import PerShot
from vmaftune.work.workdir import WorkDir

# Where shots are decided (--executor): threads here, or Ray tasks (run/ray_shots.py).
EXECUTORS = ("local", "ray")


def shot_threads(executor: str, jobs: int) -> int:
    """Encoder threads per shot. A Ray task or a shard's shot runs its encoder on one
    thread, as a local run with one shot per core does, so all give the same bytes."""
    return threads_per_job(jobs) if executor == "local" else 1


def parallel_shots(jobs: int) -> int:
    """`--jobs`: shots at once, 0 for one per core."""
    if jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more")
    return jobs or os.cpu_count() or 1


def shots_and_frames(
    ffmpeg: FFmpeg, source: MediaInfo, demuxed: Timeline, options: ShotOptions,
    work: Sequence[WorkDir],
) -> tuple[list[Shot], Frames]:  # fmt: skip
    """The shot list and the decoded frames: a resumed journal's, or one fresh decode.
    Several work folders (a ladder's rungs) share them."""
    for w in work:
        shots, frames = w.journal.shots(), w.journal.meta("frames")
        if shots is not None and frames is not None:
            found = [Shot(**s) for s in shots], Frames.from_record(frames)
            break
    else:
        found = detect(ffmpeg, source, demuxed, options)
    for w in work:
        if w.journal.shots() is None:
            w.journal.set_meta("frames", found[1].record())
            w.journal.save_shots([asdict(s) for s in found[0]])
    return found


def shot_cut(ffmpeg: FFmpeg, job: Job, shot: Shot, journal: Journal) -> Cut:
    """Where the shot's frames lie in the source (kept in the journal: finding it costs a
    decode of the shot)."""
    key = f"cut{shot.index}"
    saved = journal.meta(key)
    if saved is not None:
        return Cut(**saved)
    cut = cuts.locate(ffmpeg, job.source, job.frames, shot.start, shot.frames)
    journal.set_meta(key, asdict(cut))
    return cut


def _measure(
    ffmpeg: FFmpeg, job: Job, shot: Shot, setting: float, work: WorkDir, score: bool
) -> Trial:
    cut = shot_cut(ffmpeg, job, shot, work.journal)
    dest = work.segment(shot, job.encoder, setting)
    trial, _ = measure(ffmpeg, job, shot, cut, setting, dest, score=score)
    work.journal.add_probe(shot.index, setting, trial.record())
    return trial


def decide_shot(
    ffmpeg: FFmpeg, job: Job, shot: Shot, work: WorkDir, decision: Decision, emit: Emit
) -> ShotResult:
    """Replay the decision over the journal's trials, measuring only what it lacks."""
    known = {round(s, 6): Trial.from_record(d) for s, d in work.journal.probes(shot.index).items()}
    emit(ShotStart(shot))
    measured: list[Trial] = []
    while True:
        while (setting := decision.next_setting(measured)) is not None:
            found = known.get(round(setting, 6))
            if found is None:
                emit(TrialStart(shot, setting))
                found = _measure(ffmpeg, job, shot, setting, work, decision.scores)
            measured.append(found)
            emit(TrialDone(shot, found))
        best, verdict = decision.choose(measured)
        chosen = next(t for t in measured if t.setting == best)
        segment = work.path / "segments" / chosen.segment
        if not segment.exists():
            # Its segment was lost (removed by hand): the one encode the join cannot do
            # without.
            emit(TrialStart(shot, chosen.setting))
            again = _measure(ffmpeg, job, shot, chosen.setting, work, decision.scores)
            measured = [again if t is chosen else t for t in measured]
            chosen = again
        if chosen.subsample <= job.vmaf.subsample or chosen.pooled is None:
            break
        # The answer was scored on every n-th frame: scored on all of them it replaces its
        # trial, and the decision runs again over that point; it settles once the answer
        # it chooses was scored on every frame.
        full = rescore(ffmpeg, job, shot_cut(ffmpeg, job, shot, work.journal), chosen, segment)
        work.journal.add_probe(shot.index, chosen.setting, full.record())
        known[round(chosen.setting, 6)] = full
        measured = [full if t is chosen else t for t in measured]
        emit(TrialDone(shot, full))
    prediction = getattr(decision, "prediction", None)
    result = ShotResult(shot, chosen, tuple(measured), verdict, prediction)
    work.journal.finish_shot(shot.index, {"setting": chosen.setting, "verdict": verdict})
    emit(ShotDone(result))
    return result


def _drop_unchosen(work: WorkDir, result: ShotResult) -> None:
    for t in result.trials:
        if t.segment != result.chosen.segment:
            (work.path / "segments" / t.segment).unlink(missing_ok=True)


def decide_alone(
    ffmpeg: FFmpeg, job: Job, shot: Shot, per_shot: PerShot, decision: Decision, emit: Emit,
    keep_trials: bool = False,
) -> ShotResult:  # fmt: skip
    """One shot decided in its own work folder: what a Ray task or a shard does, and what
    a join replays (nothing is encoded again when the shot's journal is complete)."""
    work = per_shot.open(shot)
    try:
        result = decide_shot(ffmpeg, job, shot, work, decision, emit)
        if not keep_trials:
            _drop_unchosen(work, result)
        return result
    finally:
        work.journal.close()


class Placement(Protocol):
    """Where a decided shot's chosen segment and its cut are kept."""

    def segment(self, result: ShotResult) -> Path: ...

    def shot_cut(self, ffmpeg: FFmpeg, job: Job, shot: Shot) -> Cut: ...


@dataclass(frozen=True)
class OneFolder:
    """A local run's layout: one journal, every segment in WORK/segments/."""

    work: WorkDir

    def segment(self, result: ShotResult) -> Path:
        return self.work.path / "segments" / result.chosen.segment

    def shot_cut(self, ffmpeg: FFmpeg, job: Job, shot: Shot) -> Cut:
        return shot_cut(ffmpeg, job, shot, self.work.journal)


@dataclass(frozen=True)
class ShotFolders:
    """Shots decided elsewhere, each in its own folder (vmaftune.work.pershot)."""

    per_shot: PerShot

    def segment(self, result: ShotResult) -> Path:
        return self.per_shot.segment(result)

    def shot_cut(self, ffmpeg: FFmpeg, job: Job, shot: Shot) -> Cut:
        return self.per_shot.cut(shot) or cuts.locate(
            ffmpeg, job.source, job.frames, shot.start, shot.frames
        )


def run_shots(
    ffmpeg: FFmpeg,
    job: Job,
    shots: Sequence[Shot],
    work: WorkDir | PerShot,
    decision: Callable[[Shot], Decision],
    *,
    jobs: int,
    emit: Emit,
    keep_trials: bool = False,
) -> list[ShotResult]:
    """All shots, `jobs` at a time, longest first so the last ones to finish are short.
    Segments of trials that were not chosen are removed unless `keep_trials`. `work` is
    the run's one folder, or per-shot folders (shards, a join's replay)."""
    lock = threading.Lock()

    def one_at_a_time(event: object) -> None:
        with lock:
            emit(event)  # type: ignore[arg-type]

    def one(shot: Shot) -> ShotResult:
        if isinstance(work, PerShot):
            return decide_alone(ffmpeg, job, shot, work, decision(shot), one_at_a_time,
                                keep_trials)  # fmt: skip
        result = decide_shot(ffmpeg, job, shot, work, decision(shot), one_at_a_time)
        if not keep_trials:
            _drop_unchosen(work, result)
        return result

    order = sorted(shots, key=lambda s: (-s.frames, s.index))
    results: dict[int, ShotResult] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(shots))), thread_name_prefix="shot")
    try:
        futures = {pool.submit(one, s): s for s in order}
        pending = set(futures)
        while pending:
            # Timed, so that Ctrl-C reaches us at once: the kernel may hand a process's
            # SIGINT to a worker thread, and CPython runs the handler in the main thread
            # only when it next runs Python code, which an untimed wait never does.
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise future.exception()  # type: ignore[misc]
        for future, shot in futures.items():
            results[shot.index] = future.result()
    except BaseException as exc:
        if not isinstance(exc, Exception) or isinstance(exc, Interrupted):
            # Ctrl-C or SIGTERM: queued shots never start, running children are killed;
            # the journal keeps every trial that finished.
            process.stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
            process.resume()
        raise
    finally:
        pool.shutdown(wait=True)
    if len(results) != len(shots):
        raise InternalError("a shot was lost between the workers")
    return [results[s.index] for s in shots]


def unreachable(
    results: Sequence[ShotResult], target: float, pool: str, encoder: str, rung: str | None = None
) -> Iterator[Unreachable]:
    for r in results:
        if r.verdict == Verdict.UNREACHABLE:
            yield Unreachable(r.shot.index, target, encoder, r.chosen.scores.get(pool), rung)
