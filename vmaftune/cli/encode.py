"""`vmaftune encode INPUT -o OUT`: one encode at one setting, or per shot to a target VMAF
(`--target-vmaf`). Options become a request for vmaftune.run.once or vmaftune.run.target;
their events and result are rendered here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune import encoders
from vmaftune.cli.common import emit, out, settings
from vmaftune.cli.options import (
    AsJson,
    Codec,
    Engine,
    Executor,
    Jobs,
    KeepWork,
    MaxShot,
    MinShot,
    PixFmt,
    Pool,
    Preset,
    RayAddress,
    Report,
    SearchMethod,
    Tolerance,
)
from vmaftune.cli.render import Renderer
from vmaftune.errors import UsageError
from vmaftune.run.once import OnceRequest, OnceResult, encode_once
from vmaftune.run.target import TargetRequest, TargetResult, encode_target
from vmaftune.steps import sidecar
from vmaftune.steps.decide.predict import MAX_HALF_WIDTH
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, POOLS
from vmaftune.zoo.predictor import DEFAULT_PREDICTOR

Quality = Annotated[
    float | None,
    typer.Option(
        "--crf", "--cq", "--quality", "-q",
        help="Quality setting: CRF (x264, x265, SVT-AV1), CQ (NVENC), global_quality "
        "(QSV). Default: the encoder's.",
    ),
]  # fmt: skip
TargetVmaf = Annotated[
    float | None,
    typer.Option(
        "--target-vmaf", "-t",
        help="Per-shot mode: for each shot, the cheapest setting whose pooled VMAF "
        "reaches this target.",
    ),
]  # fmt: skip
Pre = Annotated[
    str | None,
    typer.Option(
        "--pre",
        help="Pre-filter the video before the encoder: vmaf_pre=model=ID|PATH"
        "[:planes=luma|all][:strength=auto|0..1][:device=cpu|cuda|auto], or the 5-frame "
        "vmaf_pre_temporal=model=ID|PATH with the same options. strength=auto (the "
        "default) reads each frame's noise and leaves clean frames untouched. VMAF is "
        "still measured against the unfiltered INPUT.",
    ),
]
Roi = Annotated[
    str | None,
    typer.Option(
        "--roi",
        help="Spend bits where viewers look: saliency[:model=ID|PATH]"
        "[:strength=0..1][:smooth=0..1]: the zoo's saliency model's map goes to "
        "x264/x265/QSV, or SVT-AV1 through the patched FFmpeg (make ffmpeg), as "
        "region-of-interest offsets. Per-shot runs: one map per shot, the target still met "
        "on whole-frame VMAF; one setting (--crf): a map per frame, by the patched FFmpeg's "
        "vmaf_roi filter.",
    ),
]
Mode = Annotated[
    str,
    typer.Option(
        help="Per-shot mode: search (probe settings until one fits) or predict (the "
        "zoo's predictor picks the setting, one encode verifies it; see docs/cli.md)."
    ),
]
Predictor = Annotated[str, typer.Option(help="The predictor for --mode predict (registry id).")]
Verify = Annotated[
    str,
    typer.Option(
        help="--mode predict: all (score every shot), or sample:K (score K shots spread "
        "across complexity; when all K are GOSPEL, encode the others at their predicted "
        "setting unscored)."
    ),
]
MaxInterval = Annotated[
    float,
    typer.Option(
        "--max-interval",
        help="--mode predict: the widest predicted interval (half-width, VMAF) that a "
        "measurement may RECALIBRATE; wider goes straight to the search.",
    ),
]


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Source video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Encoded file to write.")],
    codec: Codec,
    crf: Quality = None,
    preset: Preset = None,
    pix_fmt: PixFmt = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace OUT if it exists.")] = False,
    audio: Annotated[bool, typer.Option(help="Copy the source's audio.")] = True,
    vmaf: Annotated[bool, typer.Option(help="Score OUT against INPUT.")] = True,
    model: Annotated[str, typer.Option(help="VMAF model for the score.")] = DEFAULT_VMAF_MODEL,
    threads: Annotated[int, typer.Option(help="libvmaf threads; 0 = one per core.")] = 0,
    as_json: AsJson = False,
    target_vmaf: TargetVmaf = None,
    pool: Pool = "mean",
    tolerance: Tolerance = 0.5,
    search_method: SearchMethod = "interpolate",
    jobs: Jobs = 0,
    keep_work: KeepWork = False,
    min_shot: MinShot = 1.0,
    max_shot: MaxShot = 10.0,
    pre: Pre = None,
    roi: Roi = None,
    engine: Engine = "auto",
    final_score: Annotated[
        str,
        typer.Option(
            "--final-score",
            help="How OUT's whole-file VMAF is found (per-shot runs): composed (the shots' "
            "trials, and libvmaf across each cut) or full (libvmaf over all of OUT).",
        ),
    ] = "composed",
    trial_subsample: Annotated[
        int,
        typer.Option(
            "--trial-subsample",
            help="Per-shot runs: score trials on every N-th frame (libvmaf n_subsample); "
            "each shot's answer is scored again on all frames before it is accepted.",
        ),
    ] = 1,
    mode: Mode = "search",
    predictor: Predictor = DEFAULT_PREDICTOR,
    verify: Verify = "all",
    max_interval: MaxInterval = MAX_HALF_WIDTH,
    report: Report = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
) -> None:
    """Encode INPUT with one quality setting, or per shot to a target VMAF (--target-vmaf);
    report size, bitrate and VMAF. OUT is written under a temporary name and renamed when
    complete."""
    ffmpeg = settings(ctx).ffmpeg
    if target_vmaf is None and report:
        raise UsageError("--report draws a per-shot run: it needs --target-vmaf")
    if target_vmaf is None:
        request = OnceRequest(
            input=input, output=output, codec=codec, quality=crf, preset=preset,
            pix_fmt=pix_fmt, force=force, audio=audio, vmaf=vmaf, model=model,
            threads=threads, pre=pre, engine=engine, roi=roi,
        )  # fmt: skip
        render = Renderer(as_json=as_json, progress_json=True)
        try:
            once = encode_once(request, ffmpeg()).wait(render)
        finally:
            render.close()
        _once_done(once, as_json)
        return
    if crf is not None:
        raise UsageError("--crf and --target-vmaf exclude each other")
    if pre is not None:
        raise UsageError(
            "--pre works with one setting (--crf) for now; per-shot encodes (--target-vmaf) "
            "cut the source directly"
        )
    target = TargetRequest(
        input=input, output=output, codec=codec, target_vmaf=target_vmaf, preset=preset,
        pix_fmt=pix_fmt, pool=pool, tolerance=tolerance, search=search_method,
        min_shot=min_shot, max_shot=max_shot, model=model, jobs=jobs, keep_work=keep_work,
        force=force, audio=audio, mode=mode, predictor=predictor, verify=verify,
        max_interval=max_interval, final_score=final_score, trial_subsample=trial_subsample,
        report=report, executor=executor, ray_address=ray_address, roi=roi,
        command=("vmaftune", *sys.argv[1:]),
    )  # fmt: skip
    render = Renderer(as_json=as_json)
    try:
        result = encode_target(target, ffmpeg()).wait(render)
    finally:
        render.close()
    target_done(result, as_json)


def _once_done(r: OnceResult, as_json: bool) -> None:
    o = r.output
    pooled = {name: r.vmaf.get(name) for name in POOLS} if r.vmaf else None
    if as_json:
        emit({"type": "done", "output": str(o.path), "bytes": o.file_bytes,
              "video_bitrate": round(o.video_bitrate), "frames": o.frame_count,
              "seconds": round(r.seconds, 3), "encoder": r.encoder, r.knob: r.setting,
              "vmaf": pooled, **({"roi": r.roi} if r.roi else {})})  # fmt: skip
        return
    table = Table(show_header=False, box=None, title=f"{o.path.name}")
    knob = encoders.get(r.encoder).quality
    setting = f"{knob.option} {knob.render(r.setting)}"
    table.add_row("encoder", f"{r.encoder} {setting} preset {r.preset} {r.pix_fmt}")
    table.add_row("size", f"{o.file_bytes / 1e6:.3f} MB")
    table.add_row("video bitrate", f"{o.video_bitrate / 1000:.1f} kb/s")
    table.add_row("frames", f"{o.frame_count} in {r.seconds:.1f} s")
    if pooled:
        table.add_row("VMAF", "  ".join(f"{k} {v:.2f}" for k, v in pooled.items()))
    if r.roi:
        table.add_row("ROI", f"{r.roi['model']} strength {r.roi['strength']:g}, map per frame")
    out.print(table)


def target_done(r: TargetResult, as_json: bool) -> None:
    doc: dict[str, Any] = r.document
    o, t = doc["output"], doc["totals"]
    if as_json:
        emit({"type": "done", "output": str(r.output), **t, "bytes": o["bytes"],
              "video_bitrate": o["video_bitrate"], "frames": o["frames"], "vmaf": o["vmaf"],
              "sidecars": [str(p) for p in r.sidecars],
              **({"report": str(r.report)} if r.report else {})})  # fmt: skip
        return
    e, target = doc["encoder"], doc["target"]
    table = Table(show_header=False, box=None, title=r.output.name)
    table.add_row("encoder", f"{e['name']} preset {e['preset']}, target VMAF "
                  f"{target['vmaf']:g} ({target['pool']})")  # fmt: skip
    table.add_row("shots", f"{t['shots']} ({t['probes']} probes, {t['encodes']} encoded now)")
    table.add_row("size", f"{o['bytes'] / 1e6:.3f} MB, {o['video_bitrate'] / 1000:.1f} kb/s")
    v = o["vmaf"]
    table.add_row("VMAF", f"mean {v['mean']:.2f}  harmonic {v['harmonic_mean']:.2f}  "
                  f"p5 {v['p5']:.2f}  min {v['min']:.2f}")  # fmt: skip
    table.add_row("sidecars", ", ".join(str(p.name) for p in sidecar.paths(r.output)))
    if r.report is not None:
        table.add_row("report", r.report.name)
    table.add_row("time", f"{t['seconds']:.1f} s")
    out.print(table)
