"""`vmaftune ladder INPUT -o DIR --rungs 1080:95,720:93`: one per-shot target encode per
rung over one shot list, packaged as HLS (fMP4) with `ladder.json`.

Flow: probe → shots (once, shared by every rung, so every rung has a keyframe at every
shot start) → per rung: per-shot search at the rung's size → HLS segments per rung in a
staging folder → master playlist + ladder.json → the staging folder replaces DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune import encoders
from vmaftune.cli.common import emit, err, fan_out, out, settings
from vmaftune.cli.shots import Jobs, KeepWork, MaxShot, MinShot, Pool, SearchMethod, Tolerance
from vmaftune.cli.target import LiveView, event_record
from vmaftune.edges.outputs import atomic_folder, check_folder
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.encoders import Encoder
from vmaftune.errors import UsageError
from vmaftune.steps import cuts, hls, join, sidecar
from vmaftune.steps import encode as encoding
from vmaftune.steps import rungs as ladder
from vmaftune.steps import trial as pershot
from vmaftune.steps.cuts import Frames
from vmaftune.steps.decide.search import Target
from vmaftune.steps.probe import MediaInfo, Timeline, read
from vmaftune.steps.score import DEFAULT_MODEL, VmafOptions, require_libvmaf
from vmaftune.steps.shots import Shot, ShotOptions

SCHEMA = "vmaftune.ladder/1"


@dataclass(frozen=True)
class Request:
    input: Path
    output: Path
    encoder: Encoder
    preset: str
    pix_fmt: str | None
    rungs: list[ladder.RungSpec]
    score_at: str
    pool: str
    tolerance: float
    search: str
    shots: ShotOptions
    model: str
    jobs: int
    keep_work: bool
    force: bool
    as_json: bool


@dataclass(frozen=True)
class RungResult:
    rung: ladder.Rung
    results: list[pershot.ShotResult]
    segments: list[hls.MediaSegment]
    variant: hls.Variant


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Source video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the ladder to.")],
    codec: Annotated[str, typer.Option("--codec", "-c", help="See `vmaftune encoders`.")],
    rungs: Annotated[
        str,
        typer.Option(
            help="HEIGHT:VMAF (or WIDTHxHEIGHT:VMAF) per rung, comma separated; rungs "
            "taller than the source are skipped."
        ),
    ] = "1080:95,720:93,540:88",
    score_at: Annotated[
        str,
        typer.Option(
            "--score-at",
            help="source: upscale each rung to the source's size and score it there (what "
            "a viewer sees full screen); rung: downscale the source to the rung's size.",
        ),
    ] = "source",
    preset: Annotated[str | None, typer.Option(help="Encoder preset.")] = None,
    pix_fmt: Annotated[
        str | None, typer.Option("--pix-fmt", help="Output pixel format (10-bit: *10le).")
    ] = None,
    pool: Pool = "mean",
    tolerance: Tolerance = 0.5,
    search_method: SearchMethod = "interpolate",
    model: Annotated[str, typer.Option(help="VMAF model.")] = DEFAULT_MODEL,
    jobs: Jobs = 0,
    keep_work: KeepWork = False,
    min_shot: MinShot = 1.0,
    # Apple's HLS authoring guidance targets 6 s segments; a segment here is a shot.
    max_shot: MaxShot = 6.0,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace DIR's content.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="NDJSON events on stdout.")] = False,
) -> None:
    """Encode INPUT into an HLS ladder: each rung per shot at its own target VMAF,
    keyframes aligned across rungs at shot starts, DIR/master.m3u8 and DIR/ladder.json."""
    encoder = encoders.get(codec)
    if score_at not in ladder.SCORE_AT:
        raise UsageError(f"--score-at must be one of {', '.join(ladder.SCORE_AT)}")
    request = Request(
        input=input, output=output, encoder=encoder, preset=encoder.pick_preset(preset),
        pix_fmt=pix_fmt, rungs=ladder.parse(rungs), score_at=score_at, pool=pool,
        tolerance=tolerance, search=search_method, shots=ShotOptions(min_shot, max_shot),
        model=model, jobs=jobs, keep_work=keep_work, force=force, as_json=as_json,
    )  # fmt: skip
    run(settings(ctx).ffmpeg(), request)


def run(ffmpeg: FFmpeg, req: Request) -> None:
    started = time.monotonic()
    targets = {s.height: Target(s.vmaf, req.tolerance, req.pool, req.search).checked()
               for s in req.rungs}  # fmt: skip
    shot_options = req.shots.checked()
    if req.jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more")
    check_folder(req.output, [req.input], force=req.force)
    source, demuxed = read(req.input)
    rungs, skipped = ladder.plan(req.rungs, source)
    if not rungs:
        raise UsageError(
            f"no rung fits the source ({source.width}x{source.height}): every rung is taller"
        )
    pix_fmt = req.encoder.pick_pix_fmt(req.pix_fmt, source.bit_depth)
    encoding.require_encoder(ffmpeg, req.encoder, pix_fmt)
    require_libvmaf(ffmpeg)
    for note in skipped:
        if req.as_json:
            emit({"type": "note", "text": note})
        else:
            err.print(f"note: {note}", markup=False)
    jobs = req.jobs or os.cpu_count() or 1
    threads = pershot.threads_per_job(jobs)
    vmaf = VmafOptions(model=req.model, threads=threads).checked()
    shot_key = {"shots": [shot_options.min_seconds, shot_options.max_seconds,
                          shot_options.sensitivity]}  # fmt: skip
    root = pershot.WorkDir.beside(req.output)
    work: dict[str, pershot.WorkDir] = {}
    job: dict[str, pershot.Job] = {}
    for rung in rungs:
        at_source = (rung.width, rung.height) == (source.width, source.height)
        job[rung.name] = pershot.Job(
            source=source, frames=Frames((), demuxed), encoder=req.encoder, preset=req.preset,
            pix_fmt=pix_fmt, target=targets[rung.height], vmaf=vmaf, threads=threads,
            scale=None if at_source else (rung.width, rung.height), score_at=req.score_at,
        )  # fmt: skip
        key = job[rung.name].run_key(ffmpeg, shot_key)
        work[rung.name] = pershot.WorkDir(root / rung.name).open(key)
    if any(w.journal.resumed for w in work.values()) and not req.as_json:
        err.print(f"resuming from {root}", markup=False)
    shots, decoded = pershot.shots_and_frames(
        ffmpeg, source, demuxed, shot_options, list(work.values())
    )
    job = {name: j.with_frames(decoded) for name, j in job.items()}
    source = next(iter(job.values())).source
    frames = decoded.timeline
    if req.as_json:
        emit({"type": "shots", "count": len(shots), "frames": source.frame_count,
              "jobs": jobs, "rungs": [r.name for r in rungs]})  # fmt: skip
    done: list[tuple[ladder.Rung, list[pershot.ShotResult]]] = []
    for rung in rungs:
        if req.as_json:
            emit({"type": "rung-start", "rung": rung.name, "width": rung.width,
                  "height": rung.height, "target_vmaf": rung.vmaf})  # fmt: skip

        def ndjson(event: pershot.Event, name: str = rung.name) -> None:
            emit({**event_record(event), "rung": name})

        view = LiveView(shots, enabled=err.is_terminal, label=rung.name)
        with view:
            results = pershot.run_shots(
                ffmpeg, job[rung.name], shots, work[rung.name], jobs=min(jobs, len(shots)),
                on_event=fan_out(view.update, ndjson if req.as_json else None),
                keep_probes=req.keep_work,
            )  # fmt: skip
        done.append((rung, results))
    chosen = {rung.name: [(r.shot, work[rung.name].path / "segments" / r.chosen.segment)
                          for r in results] for rung, results in done}  # fmt: skip
    # One decode delay for all rungs: a frame has the same timestamp in every rung.
    delay = max(join.reorder_delay(c, frames) for c in chosen.values())
    with atomic_folder(req.output) as staging:
        packaged = [_package(rung, results, chosen[rung.name], frames, staging, delay, ffmpeg)
                    for rung, results in done]  # fmt: skip
        (staging / hls.MASTER).write_text(hls.master_playlist([p.variant for p in packaged]))
        doc = _document(req, source, pix_fmt, ffmpeg, packaged, skipped, started)
        (staging / "ladder.json").write_text(json.dumps(doc, indent=2) + "\n")
    for w in work.values():
        w.journal.close()
    if not req.keep_work:
        for w in work.values():
            w.remove()
        with contextlib.suppress(OSError):  # something else lives there: leave it
            root.rmdir()
    for p in packaged:
        for r in p.results:
            if r.verdict == "UNREACHABLE":
                err.print(f"warning: {p.rung.name} shot {r.shot.index} cannot reach VMAF "
                          f"{p.rung.vmaf:g} with {req.encoder.name} (best "
                          f"{r.chosen.scores.get(req.pool):.2f})", markup=False)  # fmt: skip
    if req.as_json:
        emit({"type": "done", "output": str(req.output),
              "master": str(req.output / hls.MASTER), "ladder": str(req.output / "ladder.json"),
              "rungs": [{"name": r["name"], "bandwidth": r["bandwidth"],
                         "average_bandwidth": r["average_bandwidth"], "vmaf": r["vmaf"]}
                        for r in doc["rungs"]],
              **doc["totals"]})  # fmt: skip
        return
    _summary(req, doc)


def _package(
    rung: ladder.Rung,
    results: list[pershot.ShotResult],
    chosen: list[tuple[Shot, Path]],
    frames: Timeline,
    staging: Path,
    delay: int,
    ffmpeg: FFmpeg,
) -> RungResult:
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


def _document(
    req: Request,
    source: MediaInfo,
    pix_fmt: str,
    ffmpeg: FFmpeg,
    packaged: list[RungResult],
    skipped: list[str],
    started: float,
) -> dict[str, Any]:
    probes = [p for r in packaged for s in r.results for p in s.probes]
    rungs = []
    for p in packaged:
        shots = []
        for result, segment in zip(p.results, p.segments, strict=True):
            shots.append({**sidecar.shot_record(result), "segment": segment.name,
                          "segment_bytes": segment.bytes})  # fmt: skip
        rungs.append({
            "name": p.rung.name,
            "width": p.rung.width,
            "height": p.rung.height,
            "target_vmaf": p.rung.vmaf,
            "playlist": p.variant.playlist,
            "codecs": p.variant.codecs,
            "bandwidth": p.variant.peak_bitrate,
            "average_bandwidth": p.variant.average_bitrate,
            "bytes": sum(s.bytes for s in p.segments),
            "vmaf": _rung_vmaf(p.results, req.pool),
            "shots": shots,
        })  # fmt: skip
    return {
        "schema": SCHEMA,
        "command": ["vmaftune", *sys.argv[1:]],
        "source": {
            "path": str(source.path),
            "frames": source.frame_count,
            "duration": round(source.duration, 6),
            "width": source.width,
            "height": source.height,
        },
        "encoder": {
            "name": req.encoder.name,
            "ffmpeg": req.encoder.ffmpeg,
            "version": encoding.encoder_version(ffmpeg, req.encoder),
            "preset": req.preset,
            "pix_fmt": pix_fmt,
            "setting": req.encoder.quality.name,
        },
        "target": {
            "pool": req.pool,
            "tolerance": req.tolerance,
            "search": req.search,
            "model": req.model,
            "score_at": req.score_at,
        },
        "master": hls.MASTER,
        "skipped": skipped,
        "totals": {
            "rungs": len(packaged),
            "shots": len(packaged[0].results),
            "probes": len(probes),
            "encodes": sum(not p.resumed for p in probes),
            "seconds": round(time.monotonic() - started, 3),
        },
        "rungs": rungs,
    }


def _rung_vmaf(results: list[pershot.ShotResult], pool: str) -> dict[str, float]:
    """From the per-shot scores of the very segments served: the frame-weighted mean,
    and the lowest shot under the target's pooling."""
    frames = sum(r.shot.frames for r in results)
    mean = sum(r.chosen.scores.mean * r.shot.frames for r in results) / frames
    lowest = min(r.chosen.scores.get(pool) for r in results)
    return {"mean": round(mean, 4), "lowest_shot": round(lowest, 4)}


def _summary(req: Request, doc: dict[str, Any]) -> None:
    table = Table(title=f"{req.output}/{hls.MASTER}", box=None)
    for column in ("rung", "size", "target", "VMAF mean", "lowest shot", "avg kb/s",
                   "peak kb/s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "rung" else "right")
    for r in doc["rungs"]:
        v = r["vmaf"]
        table.add_row(r["name"], f"{r['width']}x{r['height']}", f"{r['target_vmaf']:g}",
                      f"{v['mean']:.2f}", f"{v['lowest_shot']:.2f}",
                      f"{r['average_bandwidth'] / 1000:.1f}",
                      f"{r['bandwidth'] / 1000:.1f}")  # fmt: skip
    out.print(table)
    t = doc["totals"]
    out.print(f"{t['shots']} shots x {t['rungs']} rungs, {t['probes']} probes "
              f"({t['encodes']} encoded now), {t['seconds']:.1f} s", markup=False)  # fmt: skip
