"""`vmaftune encode INPUT -o OUT`: one encode at one setting, then its VMAF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmaftune import encoders
from vmaftune.cli import target
from vmaftune.cli.common import Engine, emit, err, fan_out, out, settings
from vmaftune.cli.progress_view import frame_progress
from vmaftune.cli.shots import Jobs, KeepWork, MaxShot, MinShot, Pool, SearchMethod, Tolerance
from vmaftune.edges.outputs import check_output
from vmaftune.edges.progress import Progress
from vmaftune.edges.toolchain import patched_ffmpeg
from vmaftune.errors import UsageError
from vmaftune.steps import encode as encoding
from vmaftune.steps.decide import predict
from vmaftune.steps.decide.search import Target
from vmaftune.steps.probe import probe
from vmaftune.steps.score import DEFAULT_MODEL, POOLS, VmafOptions, score_files
from vmaftune.steps.shots import ShotOptions
from vmaftune.zoo import frame_models


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Source video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Encoded file to write.")],
    codec: Annotated[str, typer.Option("--codec", "-c", help="See `vmaftune encoders`.")],
    crf: Annotated[
        float | None,
        typer.Option(
            "--crf",
            "--cq",
            "--quality",
            "-q",
            help="Quality setting: CRF (x264, x265, SVT-AV1), CQ (NVENC), global_quality "
            "(QSV). Default: the encoder's.",
        ),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Encoder preset.")] = None,
    pix_fmt: Annotated[
        str | None, typer.Option("--pix-fmt", help="Output pixel format (10-bit: *10le).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace OUT if it exists.")] = False,
    audio: Annotated[bool, typer.Option(help="Copy the source's audio.")] = True,
    vmaf: Annotated[bool, typer.Option(help="Score OUT against INPUT.")] = True,
    model: Annotated[str, typer.Option(help="VMAF model for the score.")] = DEFAULT_MODEL,
    threads: Annotated[int, typer.Option(help="libvmaf threads; 0 = one per core.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="NDJSON events on stdout.")] = False,
    target_vmaf: Annotated[
        float | None,
        typer.Option(
            "--target-vmaf",
            "-t",
            help="Per-shot mode: for each shot, the cheapest setting whose pooled VMAF "
            "reaches this target.",
        ),
    ] = None,
    pool: Pool = "mean",
    tolerance: Tolerance = 0.5,
    search_method: SearchMethod = "interpolate",
    jobs: Jobs = 0,
    keep_work: KeepWork = False,
    min_shot: MinShot = 1.0,
    max_shot: MaxShot = 10.0,
    pre: Annotated[
        str | None,
        typer.Option(
            "--pre",
            help="Pre-filter the video before the encoder: vmaf_pre=model=ID|PATH"
            "[:planes=luma|all][:strength=0..1][:device=cpu|cuda|auto], or the 5-frame "
            "vmaf_pre_temporal=model=ID|PATH with the same options. VMAF is "
            "still measured against the unfiltered INPUT.",
        ),
    ] = None,
    engine: Engine = "auto",
    mode: Annotated[
        str,
        typer.Option(
            help="Per-shot mode: search (probe settings until one fits) or predict (the "
            "zoo's predictor picks the setting, one encode verifies it; see docs/cli.md)."
        ),
    ] = "search",
    predictor: Annotated[
        str, typer.Option(help="The predictor for --mode predict (registry id).")
    ] = "vmaf_predictor",
    verify: Annotated[
        str,
        typer.Option(
            help="--mode predict: all (score every shot), or sample:K (score K shots spread "
            "across complexity; when all K are GOSPEL, encode the others at their predicted "
            "setting unscored)."
        ),
    ] = "all",
    max_interval: Annotated[
        float,
        typer.Option(
            "--max-interval",
            help="--mode predict: the widest predicted interval (half-width, VMAF) that a "
            "measurement may RECALIBRATE; wider goes straight to the search.",
        ),
    ] = predict.MAX_HALF_WIDTH,
) -> None:
    """Encode INPUT with one quality setting, or per shot to a target VMAF (--target-vmaf);
    report size, bitrate and VMAF. OUT is written under a temporary name and renamed when
    complete."""
    encoder = encoders.get(codec)
    prefilter = frame_models.PreFilter.parse(pre) if pre is not None else None
    if target_vmaf is not None:
        if crf is not None:
            raise UsageError("--crf and --target-vmaf exclude each other")
        if prefilter is not None:
            raise UsageError(
                "--pre works with one setting (--crf) for now; per-shot encodes (--target-vmaf) "
                "cut the source directly"
            )
        request = target.Request(
            input=input, output=output, encoder=encoder, preset=encoder.pick_preset(preset),
            pix_fmt=pix_fmt, target=Target(target_vmaf, tolerance, pool, search_method),
            shots=ShotOptions(min_shot, max_shot), model=model, jobs=jobs,
            keep_work=keep_work, force=force, audio=audio, as_json=as_json,
            mode=mode, predictor=predictor, verify=verify, max_interval=max_interval,
        )  # fmt: skip
        target.run(settings(ctx).ffmpeg(), request)
        return
    value = encoder.quality.check(encoder.quality.default if crf is None else crf, encoder.name)
    chosen_preset = encoder.pick_preset(preset)
    options = VmafOptions(model=model, threads=threads).checked()
    check_output(output, [input], force=force)
    source = probe(input)
    chosen_pix_fmt = encoder.pick_pix_fmt(pix_fmt, source.bit_depth)
    ffmpeg = settings(ctx).ffmpeg()
    encoding.require_encoder(ffmpeg, encoder, chosen_pix_fmt)
    feed = None
    if prefilter is not None:
        runner = frame_models.pick_engine(engine, patched_ffmpeg())
        work_fmt = frame_models.work_pix_fmt(chosen_pix_fmt, source.bit_depth)
        feed = frame_models.pre_feed(source, prefilter, work_fmt, runner)
        err.print(
            f"pre-filter: {prefilter.spec()} at {work_fmt} via "
            f"{'the patched FFmpeg ' + str(runner.path) if runner else 'Python onnxruntime'}",
            markup=False,
        )
    spec = encoding.EncodeSpec(
        source=source,
        output=output,
        encoder=encoder,
        value=value,
        preset=chosen_preset,
        pix_fmt=chosen_pix_fmt,
        audio=audio and source.has_audio,
        piped=feed is not None,
    )
    total = source.frame_count

    def progress_event(stage: str) -> Callable[[Progress], None]:
        def send(p: Progress) -> None:
            emit({"type": "progress", "stage": stage, "frame": p.frame, "total": total,
                  "out_time": p.out_time, "speed": p.speed})  # fmt: skip

        return send

    if as_json:
        emit({"type": "encode-start", "input": str(input), "output": str(output),
              "encoder": encoder.name, encoder.quality.name: value, "preset": chosen_preset,
              "pix_fmt": chosen_pix_fmt, "frames": total})  # fmt: skip
    with frame_progress("encode", total) as bar:
        hook = fan_out(bar, progress_event("encode") if as_json else None)
        result = encoding.run(ffmpeg, spec, on_progress=hook, feed=feed)
    encoded = result.output
    summary = {
        "type": "encoded",
        "output": str(output),
        "bytes": encoded.file_bytes,
        "video_bitrate": round(encoded.video_bitrate),
        "frames": encoded.frame_count,
        "seconds": round(result.seconds, 3),
    }
    if as_json:
        emit(summary)
    pooled = None
    if vmaf:
        with frame_progress("VMAF", total) as bar:
            hook = fan_out(bar, progress_event("score") if as_json else None)
            score = score_files(ffmpeg, source, encoded, options, on_progress=hook)
        pooled = {name: score.pooled.get(name) for name in POOLS}
        for note in score.notes:
            err.print(f"note: {note}", markup=False)
    if as_json:
        emit({**summary, "type": "done", "encoder": encoder.name,
              encoder.quality.name: value, "vmaf": pooled})  # fmt: skip
        return
    table = Table(show_header=False, box=None, title=f"{output.name}")
    setting = f"{encoder.quality.option} {encoder.quality.render(value)}"
    table.add_row("encoder", f"{encoder.name} {setting} preset {chosen_preset} {chosen_pix_fmt}")
    table.add_row("size", f"{encoded.file_bytes / 1e6:.3f} MB")
    table.add_row("video bitrate", f"{encoded.video_bitrate / 1000:.1f} kb/s")
    table.add_row("frames", f"{encoded.frame_count} in {result.seconds:.1f} s")
    if pooled:
        table.add_row("VMAF", "  ".join(f"{k} {v:.2f}" for k, v in pooled.items()))
    out.print(table)
