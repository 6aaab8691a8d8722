"""`vmaftune score REF DIST`: libvmaf's full-reference score, pooled and per frame."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from vmaftune.cli.common import Engine, err, out, settings, stdout_taken, write_report
from vmaftune.cli.progress_view import frame_progress
from vmaftune.edges.toolchain import patched_ffmpeg
from vmaftune.errors import UsageError
from vmaftune.steps.probe import probe
from vmaftune.steps.score import (
    CANONICAL6,
    DEFAULT_MODEL,
    POOLS,
    Score,
    VmafOptions,
    pool,
    score_files,
)
from vmaftune.zoo.frame_models import (
    DEFAULT_FR_MODEL,
    DEFAULT_NR_MODEL,
    DEVICES,
    NrScore,
    fr_video,
    nr_video,
    pick_engine,
)


def as_dict(score: Score, reference: Path, distorted: Path) -> dict[str, Any]:
    return {
        "type": "score",
        "reference": str(reference),
        "distorted": str(distorted),
        "model": score.model,
        "notes": list(score.notes),
        "frames_scored": len(score.frames),
        "pooled": {name: score.pooled.get(name) for name in POOLS},
        "features": list(CANONICAL6),
        "frames": [
            {"frame": f.frame, "vmaf": f.vmaf, **dict(zip(CANONICAL6, f.features, strict=True))}
            for f in score.frames
        ],
    }


def as_csv(score: Score) -> str:
    """One row per frame, then one row per pooling method (`frame` holds its name), each
    column pooled the same way."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["frame", "vmaf", *CANONICAL6])
    for f in score.frames:
        writer.writerow([f.frame, f"{f.vmaf:.6f}", *(f"{v:.6f}" for v in f.features)])
    matrix = score.feature_matrix()
    pooled_columns = [pool(matrix[:, i]) for i in range(matrix.shape[1])]
    for name in POOLS:
        writer.writerow([name, *(f"{p.get(name):.6f}" for p in pooled_columns)])
    return buf.getvalue()


def nr_dict(nr: NrScore, video: Path, kind: str = "nr-score") -> dict[str, Any]:
    return {
        "type": kind,
        "video": str(video),
        "model": nr.model,
        "engine": nr.engine,
        "frames_scored": len(nr.frames),
        "pooled": {name: nr.pooled.get(name) for name in POOLS},
        "frames": [{"frame": i, "score": s} for i, s in enumerate(nr.frames)],
    }


def command(
    ctx: typer.Context,
    reference: Annotated[
        Path, typer.Argument(help="The source (reference) video; with --nr alone, the video.")
    ],
    distorted: Annotated[
        Path | None, typer.Argument(help="The encoded (distorted) video.", show_default=False)
    ] = None,
    model: Annotated[
        str, typer.Option(help="vmaf_v0.6.1, vmaf_4k or vmaf_v0.6.1neg.")
    ] = DEFAULT_MODEL,
    threads: Annotated[int, typer.Option(help="libvmaf threads; 0 = one per core.")] = 0,
    subsample: Annotated[int, typer.Option(help="Score every Nth frame.")] = 1,
    align: Annotated[
        bool,
        typer.Option(help="Score the common frames when frame counts or rates differ."),
    ] = False,
    json_dest: Annotated[
        str | None, typer.Option("--json", help="Write pooled + per-frame JSON to FILE or -.")
    ] = None,
    csv_dest: Annotated[
        str | None, typer.Option("--csv", help="Write per-frame + pooled CSV to FILE or -.")
    ] = None,
    nr: Annotated[
        bool,
        typer.Option(
            "--nr",
            help="Also score DIST with a no-reference model from the zoo (vmaf_post); given "
            "one video, score only that one.",
        ),
    ] = False,
    nr_model: Annotated[
        str, typer.Option("--nr-model", help="The no-reference model: registry id or .onnx.")
    ] = DEFAULT_NR_MODEL,
    device: Annotated[
        str, typer.Option(help="Where the no-reference model runs: cpu, cuda or auto.")
    ] = "cpu",
    engine: Engine = "auto",
    tiny: Annotated[
        bool,
        typer.Option(
            "--tiny",
            help="Also report vmaf_tiny: the zoo's MLP on libvmaf's canonical-6 features.",
        ),
    ] = False,
    tiny_model: Annotated[
        str, typer.Option("--tiny-model", help="The model for --tiny: registry id or .onnx.")
    ] = "vmaf_tiny",
    tiny_fr: Annotated[
        bool,
        typer.Option(
            "--tiny-fr",
            help="Also report the zoo's pixel-domain full-reference model (the vmaf_tiny "
            "FFmpeg filter; no libvmaf features needed).",
        ),
    ] = False,
    tiny_fr_model: Annotated[
        str, typer.Option("--tiny-fr-model", help="The model for --tiny-fr: registry id or .onnx.")
    ] = DEFAULT_FR_MODEL,
) -> None:
    """VMAF of DIST against REF with libvmaf (distorted first, reference second, as FFmpeg's
    libvmaf filter takes them); with --nr, also the zoo's no-reference estimate."""
    if json_dest == "-" and csv_dest == "-":
        raise UsageError("--json - and --csv - cannot both use stdout")
    if distorted is None:
        if not nr:
            raise UsageError("score needs REF and DIST (or --nr and one video)")
        if csv_dest:
            raise UsageError("--csv holds libvmaf's features; with --nr alone use --json")
    if tiny and (distorted is None or model == "vmaf_v0.6.1neg"):
        raise UsageError(
            "--tiny needs REF and DIST and libvmaf's plain features (not vmaf_v0.6.1neg)"
        )
    if tiny_fr and distorted is None:
        raise UsageError("--tiny-fr needs REF and DIST")
    if device not in DEVICES:
        raise UsageError(f"--device must be cpu, cuda or auto, not {device!r}")
    protect = [p for p in (reference, distorted) if p is not None]
    nr_result = None
    if nr:
        video = distorted or reference
        info = probe(video)
        runner = pick_engine(engine, patched_ffmpeg())
        with frame_progress("NR", info.frame_count) as update:
            nr_result = nr_video(info, nr_model, runner, device=device, on_progress=update)
        if distorted is None:
            _report_nr(nr_result, video, json_dest, protect)
            return
    assert distorted is not None
    ffmpeg = settings(ctx).ffmpeg()
    ref = probe(reference)
    dis = probe(distorted)
    options = VmafOptions(model=model, threads=threads, subsample=subsample)
    with frame_progress("VMAF", ref.frame_count) as update:
        score = score_files(ffmpeg, ref, dis, options, align=align, on_progress=update)
    tiny_result = tiny_scores(score, tiny_model) if tiny else None
    fr_result = None
    if tiny_fr:
        runner = pick_engine(engine, patched_ffmpeg())
        fr_result = fr_video(ref, dis, tiny_fr_model, runner, ffmpeg, device=device)
    if json_dest:
        data = as_dict(score, reference, distorted)
        if tiny_result is not None:
            data["tiny"] = tiny_result
        if nr_result is not None:
            data["nr"] = nr_dict(nr_result, distorted)
        if fr_result is not None:
            data["tiny_fr"] = nr_dict(fr_result, distorted, "tiny-fr-score")
        text = json.dumps(data, indent=1) + "\n"
        write_report(json_dest, text, protect=protect)
    if csv_dest:
        write_report(csv_dest, as_csv(score), protect=protect)
    console = err if stdout_taken(json_dest, csv_dest) else out
    for note in score.notes:
        err.print(f"note: {note}", markup=False)
    table = Table(title=f"VMAF ({score.model}) of {distorted.name} vs {reference.name}")
    table.add_column("pool")
    table.add_column("VMAF", justify="right")
    if tiny_result is not None:
        table.add_column(tiny_result["model"], justify="right")
    if nr_result is not None:
        table.add_column(f"NR {nr_result.model}", justify="right")
    if fr_result is not None:
        table.add_column(fr_result.model, justify="right")
    for name in POOLS:
        row = [name, f"{score.pooled.get(name):.3f}"]
        if tiny_result is not None:
            row.append(f"{tiny_result['pooled'][name]:.3f}")
        if nr_result is not None:
            row.append(f"{nr_result.pooled.get(name):.3f}")
        if fr_result is not None:
            row.append(f"{fr_result.pooled.get(name):.3f}")
        table.add_row(*row)
    table.caption = f"{len(score.frames)} frames scored"
    if tiny_result is not None:
        agree = tiny_result["agreement"]
        table.caption += f"; {tiny_result['model']} vs libvmaf per frame: RMSE {agree['rmse']:.3f}"
    if nr_result is not None:
        table.caption += f"; NR via {nr_result.engine}"
    if fr_result is not None:
        table.caption += f"; {fr_result.model} via {fr_result.engine}"
    console.print(table)


def tiny_scores(score: Score, name: str) -> dict[str, Any]:
    """vmaf_tiny over libvmaf's per-frame features, pooled like libvmaf's scores."""
    from vmaftune.zoo import registry as models
    from vmaftune.zoo.inference import tiny_vmaf

    loaded = models.load(name, kind="fr")
    matrix = score.feature_matrix()
    values = tiny_vmaf(loaded.session(), name, matrix[:, 1:])
    pooled = pool(values)
    diff = values - matrix[:, 0]
    return {
        "model": name,
        "pooled": {p: pooled.get(p) for p in POOLS},
        "agreement": {
            "rmse": float(np.sqrt(np.mean(diff**2))),
            "max_abs": float(np.max(np.abs(diff))),
        },
        "frames": [round(float(v), 6) for v in values],
    }


def _report_nr(nr: NrScore, video: Path, json_dest: str | None, protect: list[Path]) -> None:
    if json_dest:
        write_report(json_dest, json.dumps(nr_dict(nr, video), indent=1) + "\n", protect=protect)
    console = err if stdout_taken(json_dest) else out
    table = Table(title=f"no-reference VMAF ({nr.model}) of {video.name}")
    table.add_column("pool")
    table.add_column("NR VMAF", justify="right")
    for name in POOLS:
        table.add_row(name, f"{nr.pooled.get(name):.3f}")
    table.caption = f"{len(nr.frames)} frames scored via {nr.engine}"
    console.print(table)
