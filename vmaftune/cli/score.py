"""`vmaftune score REF DIST`: libvmaf's full-reference score, pooled and per frame."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import UsageError
from ..media import probe
from ..score import CANONICAL6, DEFAULT_MODEL, POOLS, Score, VmafOptions, pool, score_files
from .common import err, out, settings, stdout_taken, write_report
from .progress_view import frame_progress


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


def command(
    ctx: typer.Context,
    reference: Annotated[Path, typer.Argument(help="The source (reference) video.")],
    distorted: Annotated[Path, typer.Argument(help="The encoded (distorted) video.")],
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
) -> None:
    """VMAF of DIST against REF with libvmaf (distorted first, reference second, as FFmpeg's
    libvmaf filter takes them)."""
    if json_dest == "-" and csv_dest == "-":
        raise UsageError("--json - and --csv - cannot both use stdout")
    ffmpeg = settings(ctx).ffmpeg()
    ref = probe(reference)
    dis = probe(distorted)
    options = VmafOptions(model=model, threads=threads, subsample=subsample)
    with frame_progress("VMAF", ref.frame_count) as update:
        score = score_files(ffmpeg, ref, dis, options, align=align, on_progress=update)
    protect = [reference, distorted]
    if json_dest:
        text = json.dumps(as_dict(score, reference, distorted), indent=1) + "\n"
        write_report(json_dest, text, protect=protect)
    if csv_dest:
        write_report(csv_dest, as_csv(score), protect=protect)
    console = err if stdout_taken(json_dest, csv_dest) else out
    for note in score.notes:
        err.print(f"note: {note}", markup=False)
    table = Table(title=f"VMAF ({score.model}) of {distorted.name} vs {reference.name}")
    table.add_column("pool")
    table.add_column("VMAF", justify="right")
    for name in POOLS:
        table.add_row(name, f"{score.pooled.get(name):.3f}")
    table.caption = f"{len(score.frames)} frames scored"
    console.print(table)
