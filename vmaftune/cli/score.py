"""`vmaftune score REF DIST`: libvmaf's full-reference score, pooled and per frame."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune.cli.common import check_report, err, out, settings, stdout_taken, write_report
from vmaftune.cli.options import Engine
from vmaftune.cli.render import Renderer
from vmaftune.errors import UsageError
from vmaftune.run.score import ScoreRequest, ScoreResult, score
from vmaftune.steps.score import CANONICAL6, DEFAULT_VMAF_MODEL, POOLS, Score, pool
from vmaftune.zoo.scores import DEFAULT_FR_MODEL, DEFAULT_NR_MODEL, ModelScore


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


def nr_dict(nr: ModelScore, video: Path, kind: str = "nr-score") -> dict[str, Any]:
    return {
        "type": kind,
        "video": str(video),
        "model": nr.model,
        **({} if nr.registered else {"unregistered": True}),
        "engine": nr.engine,
        # What the model saw; 90 % of unseen sources' mean scores fell within interval90 of
        # libvmaf's (the model card's leave-one-source-out test).
        **({"inputs": nr.inputs, "interval90": nr.interval} if kind == "nr-score" else {}),
        "frames_scored": len(nr.frames),
        "pooled": {name: nr.pooled.get(name) for name in POOLS},
        "frames": [{"frame": i, "score": s} for i, s in enumerate(nr.frames)],
    }


Reference = Annotated[
    Path, typer.Argument(help="The source (reference) video; with --nr alone, the video.")
]
Distorted = Annotated[
    Path | None, typer.Argument(help="The encoded (distorted) video.", show_default=False)
]
Model = Annotated[str, typer.Option(help="vmaf_v0.6.1, vmaf_4k or vmaf_v0.6.1neg.")]
Threads = Annotated[int, typer.Option(help="libvmaf threads; 0 = one per core.")]
Subsample = Annotated[int, typer.Option(help="Score every Nth frame.")]
Align = Annotated[
    bool, typer.Option(help="Score the common frames when frame counts or rates differ.")
]
JsonDest = Annotated[
    str | None, typer.Option("--json", help="Write pooled + per-frame JSON to FILE or -.")
]
CsvDest = Annotated[
    str | None, typer.Option("--csv", help="Write per-frame + pooled CSV to FILE or -.")
]
Nr = Annotated[
    bool,
    typer.Option(
        "--nr",
        help="Also score DIST with a no-reference model from the zoo (vmaf_post); given "
        "one video, score only that one.",
    ),
]
NrModel = Annotated[
    str, typer.Option("--nr-model", help="The no-reference model: registry id or .onnx.")
]
Device = Annotated[str, typer.Option(help="Where the no-reference model runs: cpu, cuda or auto.")]
Tiny = Annotated[
    bool,
    typer.Option(
        "--tiny", help="Also report vmaf_tiny: the zoo's MLP on libvmaf's canonical-6 features."
    ),
]
TinyModel = Annotated[
    str, typer.Option("--tiny-model", help="The model for --tiny: registry id or .onnx.")
]
TinyFr = Annotated[
    bool,
    typer.Option(
        "--tiny-fr",
        help="Also report the zoo's pixel-domain full-reference model (the vmaf_tiny "
        "FFmpeg filter; no libvmaf features needed).",
    ),
]
Force = Annotated[
    bool, typer.Option("--force", "-f", help="Replace an existing --json or --csv file.")
]
TinyFrModel = Annotated[
    str, typer.Option("--tiny-fr-model", help="The model for --tiny-fr: registry id or .onnx.")
]


def command(
    ctx: typer.Context,
    reference: Reference,
    distorted: Distorted = None,
    model: Model = DEFAULT_VMAF_MODEL,
    threads: Threads = 0,
    subsample: Subsample = 1,
    align: Align = False,
    json_dest: JsonDest = None,
    csv_dest: CsvDest = None,
    nr: Nr = False,
    nr_model: NrModel = DEFAULT_NR_MODEL,
    device: Device = "cpu",
    engine: Engine = "auto",
    tiny: Tiny = False,
    tiny_model: TinyModel = "vmaf_tiny",
    tiny_fr: TinyFr = False,
    tiny_fr_model: TinyFrModel = DEFAULT_FR_MODEL,
    force: Force = False,
) -> None:
    """VMAF of DIST against REF with libvmaf (distorted first, reference second, as FFmpeg's
    libvmaf filter takes them); with --nr, also the zoo's no-reference estimate."""
    if json_dest == "-" and csv_dest == "-":
        raise UsageError("--json - and --csv - cannot both use stdout")
    if distorted is None and nr and csv_dest:
        raise UsageError("--csv holds libvmaf's features; with --nr alone use --json")
    protect = [p for p in (reference, distorted) if p is not None]
    for dest in (json_dest, csv_dest):
        check_report(dest, protect=protect, force=force)
    request = ScoreRequest(
        reference=reference, distorted=distorted, model=model, threads=threads,
        subsample=subsample, align=align, nr=nr, nr_model=nr_model, device=device,
        engine=engine, tiny=tiny, tiny_model=tiny_model, tiny_fr=tiny_fr,
        tiny_fr_model=tiny_fr_model,
    )  # fmt: skip
    # The libvmaf pass needs FFmpeg; the no-reference model alone does not.
    ffmpeg = settings(ctx).ffmpeg() if distorted is not None else None
    render = Renderer(as_json=False)
    try:
        result = score(request, ffmpeg).wait(render)
    finally:
        render.close()
    if result.vmaf is None:
        assert result.nr is not None
        _report_nr(result.nr, reference, json_dest, protect, force)
        return
    assert distorted is not None
    _report(result, reference, distorted, json_dest, csv_dest, protect, force)


def _report(
    result: ScoreResult, reference: Path, distorted: Path, json_dest: str | None,
    csv_dest: str | None, protect: list[Path], force: bool,
) -> None:  # fmt: skip
    vmaf, tiny_result, nr_result, fr_result = result.vmaf, result.tiny, result.nr, result.tiny_fr
    assert vmaf is not None
    if json_dest:
        data = as_dict(vmaf, reference, distorted)
        if tiny_result is not None:
            data["tiny"] = tiny_result
        if nr_result is not None:
            data["nr"] = nr_dict(nr_result, distorted)
        if fr_result is not None:
            data["tiny_fr"] = nr_dict(fr_result, distorted, "tiny-fr-score")
        write_report(json_dest, json.dumps(data, indent=1) + "\n", protect=protect, force=force)
    if csv_dest:
        write_report(csv_dest, as_csv(vmaf), protect=protect, force=force)
    console = err if stdout_taken(json_dest, csv_dest) else out
    for note in vmaf.notes:
        err.print(f"note: {note}", markup=False)
    table = Table(title=f"VMAF ({vmaf.model}) of {distorted.name} vs {reference.name}")
    table.add_column("pool")
    table.add_column("VMAF", justify="right")
    if tiny_result is not None:
        table.add_column(tiny_result["model"], justify="right")
    if nr_result is not None:
        table.add_column(f"NR {nr_result.model}", justify="right")
    if fr_result is not None:
        table.add_column(fr_result.model, justify="right")
    for name in POOLS:
        row = [name, f"{vmaf.pooled.get(name):.3f}"]
        if tiny_result is not None:
            row.append(f"{tiny_result['pooled'][name]:.3f}")
        if nr_result is not None:
            row.append(f"{nr_result.pooled.get(name):.3f}")
        if fr_result is not None:
            row.append(f"{fr_result.pooled.get(name):.3f}")
        table.add_row(*row)
    table.caption = f"{len(vmaf.frames)} frames scored"
    if tiny_result is not None:
        agree = tiny_result["agreement"]
        table.caption += f"; {tiny_result['model']} vs libvmaf per frame: RMSE {agree['rmse']:.3f}"
    if nr_result is not None:
        table.caption += f"; NR via {nr_result.engine} from {nr_result.inputs}"
    if fr_result is not None:
        table.caption += f"; {fr_result.model} via {fr_result.engine}"
    console.print(table)


def _report_nr(
    nr: ModelScore, video: Path, json_dest: str | None, protect: list[Path], force: bool
) -> None:
    if json_dest:
        write_report(
            json_dest, json.dumps(nr_dict(nr, video), indent=1) + "\n", protect=protect, force=force
        )
    console = err if stdout_taken(json_dest) else out
    table = Table(title=f"no-reference VMAF ({nr.model}) of {video.name}")
    table.add_column("pool")
    table.add_column("NR VMAF", justify="right")
    for name in POOLS:
        table.add_row(name, f"{nr.pooled.get(name):.3f}")
    table.caption = f"{len(nr.frames)} frames scored via {nr.engine} from {nr.inputs}"
    if nr.interval is not None:
        table.caption += (
            f"; mean {nr.pooled.get('mean'):.1f} ± {nr.interval:.1f} "
            "(90 % interval on unseen sources)"
        )
    console.print(table)
