"""`vmaftune encode --target-vmaf`: per-shot search, joined output, sidecars.

Flow: probe → shots (or the journal's) → per-shot search in parallel → join in the work
folder → whole-file VMAF → sidecars → rename onto OUT → remove the work folder."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from vmaftune.cli.common import emit, err, fan_out, out
from vmaftune.cli.progress_view import frame_progress
from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.encoders import Encoder
from vmaftune.errors import UsageError
from vmaftune.steps import encode as encoding
from vmaftune.steps import join, sidecar
from vmaftune.steps import trial as pershot
from vmaftune.steps.cuts import Cut, Frames
from vmaftune.steps.decide import predict
from vmaftune.steps.decide.search import Target
from vmaftune.steps.probe import probe, read
from vmaftune.steps.score import VmafOptions, plan, require_libvmaf
from vmaftune.steps.score import run as run_score
from vmaftune.steps.shots import Shot, ShotOptions
from vmaftune.steps.trial import Event, ProbeDone, ProbeStart, ShotDone, ShotStart
from vmaftune.zoo import features


@dataclass(frozen=True)
class Request:
    input: Path
    output: Path
    encoder: Encoder
    preset: str
    pix_fmt: str | None
    target: Target
    shots: ShotOptions
    model: str
    jobs: int
    keep_work: bool
    force: bool
    audio: bool
    as_json: bool
    mode: str = "search"  # or "predict"
    predictor: str = "vmaf_predictor"
    verify: str = "all"  # or "sample:K" (predict mode)
    max_interval: float = predict.MAX_HALF_WIDTH


def run(ffmpeg: FFmpeg, req: Request) -> None:
    started = time.monotonic()
    target = req.target.checked()
    shot_options = req.shots.checked()
    if req.jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more")
    check_output(req.output, [req.input], force=req.force)
    source, demuxed = read(req.input)
    pix_fmt = req.encoder.pick_pix_fmt(req.pix_fmt, source.bit_depth)
    encoding.require_encoder(ffmpeg, req.encoder, pix_fmt)
    require_libvmaf(ffmpeg)
    jobs = req.jobs or os.cpu_count() or 1
    threads = pershot.threads_per_job(jobs)
    job = pershot.Job(
        source=source,
        frames=Frames((), demuxed),  # until the decode below
        encoder=req.encoder,
        preset=req.preset,
        pix_fmt=pix_fmt,
        target=target,
        vmaf=VmafOptions(model=req.model, threads=threads).checked(),
        threads=threads,
    )
    if req.mode not in ("search", "predict"):
        raise UsageError(f"--mode must be search or predict, not {req.mode!r}")
    sample_k = _sample_size(req.verify, req.mode)
    if req.max_interval <= 0:
        raise UsageError("--max-interval must be above 0")
    curve = predict.CurveModel(req.predictor) if req.mode == "predict" else None
    extra: dict[str, Any] = {
        "shots": [shot_options.min_seconds, shot_options.max_seconds, shot_options.sensitivity],
        "mode": req.mode,
        "verify": req.verify,
        "max_interval": req.max_interval,
    }
    if curve is not None:
        extra["predictor"] = curve.sha256
    key = job.run_key(ffmpeg, extra)
    work = pershot.WorkDir(pershot.WorkDir.beside(req.output)).open(key)
    if work.journal.resumed and not req.as_json:
        err.print(f"resuming from {work.path}", markup=False)
    shots, frames = pershot.shots_and_frames(ffmpeg, source, demuxed, shot_options, [work])
    job = job.with_frames(frames)
    source = job.source
    predictions = None
    if curve is not None:
        predictions = _predictions(ffmpeg, curve, job, shots, work, req.max_interval)
    if req.as_json:
        emit({"type": "shots", "count": len(shots), "frames": source.frame_count,
              "jobs": jobs, "resumed": work.journal.resumed})  # fmt: skip
    view = LiveView(shots, enabled=err.is_terminal)
    on_event = fan_out(view.update, _ndjson if req.as_json else None)
    sampled: list[int] | None = None
    trusted = False
    with view:
        if predictions is None or sample_k is None:
            results = pershot.run_shots(
                ffmpeg, job, shots, work, jobs=min(jobs, len(shots)), on_event=on_event,
                keep_probes=req.keep_work, predictions=predictions,
            )  # fmt: skip
        else:
            # The seed's pattern: verify K shots spread across complexity; when all are
            # GOSPEL, trust the predictor for the rest (one unscored encode each).
            sample = pershot.sample_shots(shots, predictions, sample_k)
            sampled = [s.index for s in sample]
            rest = [s for s in shots if s.index not in sampled]
            results = pershot.run_shots(
                ffmpeg, job, sample, work, jobs=min(jobs, len(sample)), on_event=on_event,
                keep_probes=req.keep_work, predictions=predictions,
            )  # fmt: skip
            trusted = all(r.verdict == predict.GOSPEL for r in results)
            if rest and trusted:
                results += pershot.trust_shots(
                    ffmpeg, job, rest, work, predictions, jobs=min(jobs, len(rest)),
                    on_event=on_event,
                )  # fmt: skip
            elif rest:
                results += pershot.run_shots(
                    ffmpeg, job, rest, work, jobs=min(jobs, len(rest)), on_event=on_event,
                    keep_probes=req.keep_work, predictions=predictions,
                )  # fmt: skip
            results.sort(key=lambda r: r.shot.index)
    joined = work.path / f"joined{req.output.suffix}"
    segments = [work.path / "segments" / r.chosen.segment for r in results]
    join.join(
        [(r.shot, s) for r, s in zip(results, segments, strict=True)],
        frames.timeline, req.input, joined, audio=req.audio and source.has_audio,
    )  # fmt: skip
    encoded = probe(joined)
    with frame_progress("VMAF", source.frame_count) as bar:
        # Frames pair by index: the output holds the source's decoded frames, whatever
        # rate either container declares.
        everything = Cut(None, 0, frames.count)
        whole = run_score(ffmpeg, plan(source, encoded, job.vmaf, window=everything), bar)
    pershot.check_shipped(ffmpeg, results, segments, joined, whole, target.pool)
    facts = sidecar.RunFacts(
        command=tuple(["vmaftune", *sys.argv[1:]]),
        source=source,
        output=replace(encoded, path=req.output),
        whole=whole.pooled,
        encoder=req.encoder,
        encoder_version=encoding.encoder_version(ffmpeg, req.encoder),
        preset=req.preset,
        pix_fmt=pix_fmt,
        target=target,
        model=req.model,
        seconds=time.monotonic() - started,
        mode=req.mode,
        predictor=(
            {
                "id": curve.name,
                "sha256": curve.sha256,
                "half_width": curve.half_width,
                "features_seconds": round(float(work.journal.meta("features_seconds") or 0), 3),
            }
            if curve
            else None
        ),
        verify=(
            {"mode": req.verify, "sampled": sampled, "trusted": trusted}
            if sampled is not None
            else None
        ),
    )
    doc = sidecar.document(facts, results)
    json_path, csv_path = sidecar.paths(req.output)
    for path, text in ((json_path, _json(doc)), (csv_path, sidecar.table(results))):
        with atomic_output(path) as tmp:
            tmp.write_text(text)
    os.replace(joined, req.output)
    if req.keep_work:
        work.journal.close()
    else:
        work.remove()
    below = [r for r in results if r.verdict == "UNREACHABLE"]
    for r in below:
        err.print(f"warning: shot {r.shot.index} cannot reach VMAF {target.vmaf:g} with "
                  f"{req.encoder.name} (best {r.chosen.scores.get(target.pool):.2f})",
                  markup=False)  # fmt: skip
    if req.as_json:
        emit({"type": "done", "output": str(req.output), **doc["totals"],
              "bytes": doc["output"]["bytes"], "video_bitrate": doc["output"]["video_bitrate"],
              "frames": doc["output"]["frames"], "vmaf": doc["output"]["vmaf"],
              "sidecars": [str(json_path), str(csv_path)]})  # fmt: skip
        return
    _summary(req, doc)


def _sample_size(verify: str, mode: str) -> int | None:
    if verify == "all":
        return None
    kind, _, count = verify.partition(":")
    if kind != "sample" or not count.isdigit() or int(count) < 1:
        raise UsageError(f"--verify must be all or sample:K (K at least 1), not {verify!r}")
    if mode != "predict":
        raise UsageError("--verify sample:K needs --mode predict")
    return int(count)


def _predictions(
    ffmpeg: FFmpeg, curve: predict.CurveModel, job: pershot.Job, shots: list[Shot],
    work: pershot.WorkDir, max_interval: float,
) -> dict[int, predict.ShotPrediction]:  # fmt: skip
    """Each shot's prediction, kept in the journal: the feature pass is not bit-exact
    across runs (x264 threads), and a resumed run must replay the same decisions."""
    saved = work.journal.meta("predictions")
    if saved is None:
        feats = features.video_features(ffmpeg, job.source, shots)
        preds = [curve.predict(f, job.encoder.name, job.encoder.quality, job.target, max_interval)
                 for f in feats]  # fmt: skip
        work.journal.set_meta("predictions", [asdict(p) for p in preds])
        work.journal.set_meta("features_seconds", sum(f.seconds for f in feats))
    else:
        preds = [predict.ShotPrediction(**p) for p in saved]
    return {p.shot: p for p in preds}


def _json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, indent=2) + "\n"


def event_record(event: Event) -> dict[str, Any]:
    """An event as its NDJSON object (documented in docs/cli.md)."""
    match event:
        case ShotStart(shot=s):
            return {"type": "shot-start", "shot": s.index, "start_frame": s.start,
                    "end_frame": s.end, "start_time": round(s.start_time, 6),
                    "end_time": round(s.end_time, 6)}  # fmt: skip
        case ProbeStart(shot=s, setting=v):
            return {"type": "probe-start", "shot": s.index, "setting": v}
        case ProbeDone(shot=s, probe=p):
            return {"type": "probe-done", "shot": s.index, **sidecar.probe_record(p)}
        case ShotDone(result=r):
            rec = sidecar.shot_record(r)
            rec.pop("probes")
            return {"type": "shot-done", "shot": rec.pop("index"), **rec,
                    "probes": len(r.probes)}  # fmt: skip
    raise AssertionError(event)


def _ndjson(event: Event) -> None:
    emit(event_record(event))


class LiveView:
    """Per-shot state on stderr: running shots with their current probe, the count done,
    and an ETA from the frames finished so far."""

    def __init__(self, shots: list[Shot], *, enabled: bool, label: str = "") -> None:
        self.label = f"{label}: " if label else ""
        self.shots = {s.index: s for s in shots}
        self.total = sum(s.frames for s in shots)
        self.state: dict[int, str] = {}
        self.done_frames = 0
        self.done = 0
        self.started = time.monotonic()
        self.live = Live(console=err, transient=True, refresh_per_second=4) if enabled else None

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.__exit__(None, None, None)

    def update(self, event: Event) -> None:
        match event:
            case ShotStart(shot=s):
                self.state[s.index] = "starting"
            case ProbeStart(shot=s, setting=v):
                self.state[s.index] = f"encoding {v:g}"
            case ProbeDone(shot=s, probe=p):
                note = " (journal)" if p.resumed else ""
                score = f"{p.pooled.mean:.2f}" if p.pooled else "encoded (trusted)"
                self.state[s.index] = f"{p.setting:g} → {score}{note}"
            case ShotDone(result=r):
                self.state.pop(r.shot.index, None)
                self.done += 1
                self.done_frames += r.shot.frames
        if self.live:
            self.live.update(self.render())

    def render(self) -> Group:
        elapsed = time.monotonic() - self.started
        eta = ""
        if self.done_frames:
            rest = elapsed * (self.total - self.done_frames) / self.done_frames
            eta = f", about {rest:.0f} s left"
        head = Text(f"{self.label}shots {self.done}/{len(self.shots)}, {elapsed:.0f} s{eta}")
        table = Table(box=None, show_header=True)
        table.add_column("shot", justify="right")
        table.add_column("frames", justify="right")
        table.add_column("probe")
        for index, state in sorted(self.state.items()):
            table.add_row(str(index), str(self.shots[index].frames), state)
        return Group(head, table)


def _summary(req: Request, doc: dict[str, Any]) -> None:
    o, t = doc["output"], doc["totals"]
    table = Table(show_header=False, box=None, title=req.output.name)
    table.add_row("encoder", f"{req.encoder.name} preset {req.preset}, target VMAF "
                  f"{req.target.vmaf:g} ({req.target.pool})")  # fmt: skip
    table.add_row("shots", f"{t['shots']} ({t['probes']} probes, {t['encodes']} encoded now)")
    table.add_row("size", f"{o['bytes'] / 1e6:.3f} MB, {o['video_bitrate'] / 1000:.1f} kb/s")
    v = o["vmaf"]
    table.add_row("VMAF", f"mean {v['mean']:.2f}  harmonic {v['harmonic_mean']:.2f}  "
                  f"p5 {v['p5']:.2f}  min {v['min']:.2f}")  # fmt: skip
    table.add_row("sidecars", ", ".join(str(p.name) for p in sidecar.paths(req.output)))
    table.add_row("time", f"{t['seconds']:.1f} s")
    out.print(table)
