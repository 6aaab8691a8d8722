"""Per-shot target-quality encoding: for each shot, probe settings (encode the shot, score
it against the source shot) until the search says stop, in parallel across shots, with
every finished probe recorded in the journal so a killed run resumes where it stopped.

Shots are cut from the source by frame index (`cuts`: a seek to a keyframe before the
shot, then a counted number of decoded frames skipped, verified by hash); each shot is its
own encode, so each starts on a keyframe. Segments are Matroska (any codec), stamped
0, 1, 2, ... at the source's rate: the join gives them the source's timestamps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.outputs import atomic_output
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.encoders import Encoder
from vmaftune.errors import InternalError, OutputError, ToolError
from vmaftune.steps import cuts
from vmaftune.steps.cuts import Cut, Frames
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.probe import MediaInfo, Timeline, probe
from vmaftune.steps.score import Pooled, Score, VmafOptions, plan
from vmaftune.steps.score import pool as pool_values
from vmaftune.steps.score import run as run_score
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.work.journal import Journal

# How far a frame's VMAF in the whole-file pass may lie from the same frame's in the shot's
# accepted probe.
SHIPPED_TOLERANCE = 0.05
# Bumped when what the journal records changes meaning: an older journal is not resumed.
JOURNAL_FORMAT = 2


@dataclass(frozen=True)
class Job:
    """Everything one per-shot run depends on."""

    source: MediaInfo
    frames: Frames  # the source as decoded: what shots index
    encoder: Encoder
    preset: str
    pix_fmt: str
    target: Target
    vmaf: VmafOptions
    threads: int = 0  # encoder threads per shot; 0: the encoder's choice
    scale: tuple[int, int] | None = None  # a ladder rung's size; None: the source's
    score_at: str = "source"  # ladder: "source" upscales the encode, "rung" scales the source

    @property
    def timeline(self) -> Timeline:
        return self.frames.timeline

    def with_frames(self, frames: Frames) -> Job:
        """The job over the source as decoded (its frame count may differ from the
        packets': an edit list drops decoded frames)."""
        return replace(self, frames=frames, source=replace(self.source, frame_count=frames.count))

    def run_key(self, ffmpeg: FFmpeg, extra: dict[str, Any]) -> str:
        """Covers what changes a result. Threads do not: a resumed run may use other
        --jobs and keep the work already done."""
        stat = self.source.path.stat()
        identity = {
            "journal": JOURNAL_FORMAT,
            "source": str(self.source.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ffmpeg": ffmpeg.version,
            "encoder": self.encoder.name,
            "preset": self.preset,
            "pix_fmt": self.pix_fmt,
            "target": asdict(self.target),
            "vmaf": {"model": self.vmaf.model, "subsample": self.vmaf.subsample},
            "scale": self.scale,
            "score_at": self.score_at,
            **extra,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Probe:
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

    @property
    def scores(self) -> Pooled:
        if self.pooled is None:
            raise InternalError(f"the probe at {self.setting:g} was not scored")
        return self.pooled

    def point(self, pool: str) -> Point:
        return Point(self.setting, self.scores.get(pool))

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("resumed")
        return data

    @staticmethod
    def from_record(data: dict[str, Any]) -> Probe:
        pooled = Pooled(**data["pooled"]) if data.get("pooled") else None
        per_frame = tuple(data.get("per_frame", ()))
        return Probe(**{**data, "pooled": pooled, "resumed": True, "per_frame": per_frame})


@dataclass(frozen=True)
class ShotResult:
    shot: Shot
    chosen: Probe
    probes: tuple[Probe, ...]  # in the order they were measured
    verdict: str
    prediction: ShotPrediction | None = None  # --mode predict


# Events, in the order a shot produces them; handed to one callback, never concurrently.
@dataclass(frozen=True)
class ShotStart:
    shot: Shot


@dataclass(frozen=True)
class ProbeStart:
    shot: Shot
    setting: float


@dataclass(frozen=True)
class ProbeDone:
    shot: Shot
    probe: Probe


@dataclass(frozen=True)
class ShotDone:
    result: ShotResult


Event = ShotStart | ProbeStart | ProbeDone | ShotDone


@dataclass
class WorkDir:
    """`OUT.vmaftune-work/` beside the output: journal.sqlite and segments/."""

    path: Path
    journal: Journal = field(init=False)

    @staticmethod
    def beside(output: Path) -> Path:
        return output.parent / f"{output.name}.vmaftune-work"

    def open(self, run_key: str) -> WorkDir:
        try:
            (self.path / "segments").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create the work folder ({exc})") from exc
        # Half-written segments of a killed run: never recorded, so never trusted.
        for stale in (self.path / "segments").glob(".*.partial*"):
            stale.unlink(missing_ok=True)
        self.journal = Journal(self.path / "journal.sqlite", run_key)
        if not self.journal.resumed:
            for old in (self.path / "segments").iterdir():
                old.unlink(missing_ok=True)
        return self

    def segment(self, shot: Shot, encoder: Encoder, setting: float) -> Path:
        value = encoder.quality.render(setting)
        return self.path / "segments" / f"shot{shot.index:05d}-{encoder.quality.name}{value}.mkv"

    def remove(self) -> None:
        self.journal.close()
        shutil.rmtree(self.path, ignore_errors=True)


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


def check_shipped(
    ffmpeg: FFmpeg, results: Sequence[ShotResult], segments: Sequence[Path], joined: Path,
    whole: Score, pool: str,
) -> None:  # fmt: skip
    """What is about to be published is what was measured: the joined file's frames are,
    shot by shot, the scored segments' frames, and its whole-file VMAF equals, frame by
    frame, each shot's accepted probe. Raises naming the shots that are not."""
    cuts.check_frames(
        ffmpeg, joined, [(r.shot.index, s) for r, s in zip(results, segments, strict=True)]
    )
    values = np.array([f.vmaf for f in whole.frames], dtype=np.float64)
    if len(values) != sum(r.shot.frames for r in results):
        raise ToolError(f"the whole-file score covers {len(values)} frames, the shots "
                        f"{sum(r.shot.frames for r in results)}; not published")  # fmt: skip
    wrong = []
    for r in results:
        if r.chosen.pooled is None:
            continue  # trusted to the predictor: never scored alone
        # A shot's first and last frames are the ones libvmaf scores differently in the
        # whole file: its motion feature looks across the shot boundary there (at the
        # previous shot's last frame, the next shot's first) and sees nothing when the
        # shot is scored alone. Their identity is the hash check's.
        whole_shot = values[r.shot.start + 1 : r.shot.end - 1]
        alone = np.array(r.chosen.per_frame[1:-1], dtype=np.float64)
        if len(alone) != len(whole_shot):
            raise InternalError(f"shot {r.shot.index}: its accepted probe kept no per-frame VMAF")
        off = float(np.abs(whole_shot - alone).max()) if len(alone) else 0.0
        if off > SHIPPED_TOLERANCE:
            got = pool_values(values[r.shot.start : r.shot.end]).get(pool)
            wrong.append(
                f"{r.shot.index} ({pool} {got:.2f}, scored {r.chosen.scores.get(pool):.2f})"
            )
    if wrong:
        raise ToolError("the joined output's VMAF contradicts its shots: shot "
                        f"{', '.join(wrong)}; not published")  # fmt: skip


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


def encode_argv(
    ffmpeg: FFmpeg, job: Job, shot: Shot, cut: Cut, setting: float, dest: Path
) -> list[str]:
    rate = job.source.frame_rate
    chain = [cut.trim(), f"settb={rate.denominator}/{rate.numerator}", "setpts=N"]
    if job.scale:
        # Rungs are square-pixel: the size already carries the source's display aspect.
        chain += [f"scale={job.scale[0]}:{job.scale[1]}:flags=bicubic", "setsar=1"]
    return ffmpeg.argv(
        "-y",
        *cut.input_args(),
        "-i", f"file:{job.source.path.resolve()}",
        "-map", "0:v:0", "-an", "-sn", "-dn",
        "-frames:v", str(shot.frames),
        "-fps_mode", "passthrough",
        "-vf", ",".join(chain),
        *job.encoder.video_args(setting, job.preset, job.pix_fmt, job.threads),
        f"file:{dest}",
    )  # fmt: skip


def measure(
    ffmpeg: FFmpeg, job: Job, shot: Shot, setting: float, work: WorkDir, *, score: bool = True
) -> Probe:
    """One probe: encode the shot at `setting`, check its frame count, score it against
    the same source frames (unless `score` is false: a shot trusted to the predictor)."""
    dest = work.segment(shot, job.encoder, setting)
    cut = shot_cut(ffmpeg, job, shot, work.journal)
    started = time.monotonic()
    with atomic_output(dest) as tmp:
        process.run(
            encode_argv(ffmpeg, job, shot, cut, setting, tmp),
            what=f"encode of shot {shot.index} with {job.encoder.name}",
            env=dict(job.encoder.env),
        )
        encoded = probe(tmp)
    encoded = replace(encoded, path=dest)
    encode_seconds = time.monotonic() - started
    if encoded.frame_count != shot.frames:
        raise ToolError(
            f"shot {shot.index}: the encode holds {encoded.frame_count} frames, not {shot.frames}"
        )
    if not score:
        return Probe(setting=setting, pooled=None, frames=encoded.frame_count,
                     bytes=encoded.video_bytes, encode_seconds=round(encode_seconds, 3),
                     score_seconds=0.0, segment=dest.name)  # fmt: skip
    compare_at = job.scale if job.scale and job.score_at == "rung" else None
    started = time.monotonic()
    scored = run_score(
        ffmpeg, plan(job.source, encoded, job.vmaf, window=cut, compare_at=compare_at)
    )
    return Probe(
        setting=setting,
        pooled=scored.pooled,
        frames=len(scored.frames),
        per_frame=tuple(round(f.vmaf, 4) for f in scored.frames),
        bytes=encoded.video_bytes,
        encode_seconds=round(encode_seconds, 3),
        score_seconds=round(time.monotonic() - started, 3),
        segment=dest.name,
    )


def search_shot(
    ffmpeg: FFmpeg,
    job: Job,
    shot: Shot,
    work: WorkDir,
    emit: Callable[[Event], None],
    prediction: ShotPrediction | None = None,
) -> ShotResult:
    """Replay the search (or, with a prediction, predict-then-verify) over the journal's
    probes, measuring only what it lacks."""
    knob = job.encoder.quality
    target = job.target
    known = {round(s, 6): Probe.from_record(d) for s, d in work.journal.probes(shot.index).items()}
    emit(ShotStart(shot))
    measured: list[Probe] = []

    def step() -> float | None:
        points = [p.point(target.pool) for p in measured]
        if prediction is None:
            return search.next_setting(knob, points, target)
        means = [p.scores.mean for p in measured]
        return predict.next_setting(prediction, knob, points, means, target)

    while (setting := step()) is not None:
        found = known.get(round(setting, 6))
        if found is None:
            emit(ProbeStart(shot, setting))
            found = measure(ffmpeg, job, shot, setting, work)
            work.journal.add_probe(shot.index, setting, found.record())
        measured.append(found)
        emit(ProbeDone(shot, found))
    points = [p.point(target.pool) for p in measured]
    if prediction is None:
        best, verdict = search.choose(points, target, knob)
    else:
        means = [p.scores.mean for p in measured]
        best, verdict = predict.choose(prediction, points, means, target, knob)
    chosen = next(p for p in measured if p.setting == best.setting)
    if not (work.path / "segments" / chosen.segment).exists():
        # Its segment was lost (removed by hand): the one encode the join cannot do without.
        emit(ProbeStart(shot, chosen.setting))
        chosen = measure(ffmpeg, job, shot, chosen.setting, work)
        work.journal.add_probe(shot.index, chosen.setting, chosen.record())
    result = ShotResult(shot=shot, chosen=chosen, probes=tuple(measured), verdict=verdict,
                        prediction=prediction)  # fmt: skip
    work.journal.finish_shot(shot.index, {"setting": chosen.setting, "verdict": verdict})
    emit(ShotDone(result))
    return result


def run_shots(
    ffmpeg: FFmpeg,
    job: Job,
    shots: Sequence[Shot],
    work: WorkDir,
    *,
    jobs: int,
    on_event: Callable[[Event], None],
    keep_probes: bool = False,
    predictions: dict[int, ShotPrediction] | None = None,
) -> list[ShotResult]:
    """All shots, `jobs` at a time, longest first so the last ones to finish are short.
    Segments of probes that were not chosen are removed unless `keep_probes`."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            on_event(event)

    def one(shot: Shot) -> ShotResult:
        result = search_shot(ffmpeg, job, shot, work, emit, (predictions or {}).get(shot.index))
        if not keep_probes:
            for p in result.probes:
                if p.segment != result.chosen.segment:
                    (work.path / "segments" / p.segment).unlink(missing_ok=True)
        return result

    order = sorted(shots, key=lambda s: (-s.frames, s.index))
    results: dict[int, ShotResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="shot") as pool:
        futures = {pool.submit(one, s): s for s in order}
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise future.exception()  # type: ignore[misc]
        for future, shot in futures.items():
            results[shot.index] = future.result()
    if len(results) != len(shots):
        raise InternalError("a shot was lost between the workers")
    return [results[s.index] for s in shots]


TRUSTED = "TRUSTED"


def trust_shots(
    ffmpeg: FFmpeg,
    job: Job,
    shots: Sequence[Shot],
    work: WorkDir,
    predictions: dict[int, ShotPrediction],
    *,
    jobs: int,
    on_event: Callable[[Event], None],
) -> list[ShotResult]:
    """`--verify sample:K` after every sampled shot was GOSPEL: the other shots are encoded
    once at their predicted setting and not scored (verdict TRUSTED)."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            on_event(event)

    def one(shot: Shot) -> ShotResult:
        pred = predictions[shot.index]
        emit(ShotStart(shot))
        known = work.journal.probes(shot.index).get(pred.setting)
        chosen = Probe.from_record(known) if known else None
        if chosen is None or not (work.path / "segments" / chosen.segment).exists():
            emit(ProbeStart(shot, pred.setting))
            chosen = measure(ffmpeg, job, shot, pred.setting, work, score=False)
            work.journal.add_probe(shot.index, pred.setting, chosen.record())
        emit(ProbeDone(shot, chosen))
        result = ShotResult(shot, chosen, (chosen,), TRUSTED, pred)
        work.journal.finish_shot(shot.index, {"setting": chosen.setting, "verdict": TRUSTED})
        emit(ShotDone(result))
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="shot") as pool:
        return list(pool.map(one, shots))


def sample_shots(
    shots: Sequence[Shot], predictions: dict[int, ShotPrediction], k: int
) -> list[Shot]:
    """K shots spread across complexity: evenly through the shots ordered by predicted
    setting (a hard shot needs a low setting), the hardest and the easiest included."""
    order = sorted(shots, key=lambda s: (predictions[s.index].setting, s.index))
    if k >= len(order):
        return list(shots)
    picks = {order[round(i * (len(order) - 1) / max(1, k - 1))].index for i in range(k)}
    return [s for s in shots if s.index in picks]


def threads_per_job(jobs: int) -> int:
    """Divide the cores between parallel shots; one shot alone keeps the encoder's own
    choice (all cores)."""
    cores = os.cpu_count() or 1
    return 0 if jobs <= 1 else max(1, cores // jobs)
