"""`vmaftune corpus build --out DIR`: the predictor's training table (Parquet)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from vmaftune.cli.common import err, settings
from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.errors import OutputError, UsageError
from vmaftune.zoo import corpus

app = typer.Typer(help="The predictor's training corpus.", no_args_is_help=True)


@app.command("build")
def build(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for corpus.parquet.")],
    work: Annotated[
        Path | None,
        typer.Option(help="Clips and per-encode records (resumable); default OUT/work."),
    ] = None,
    sources: Annotated[
        str | None, typer.Option(help="Comma-separated source ids (default: all found).")
    ] = None,
    codecs: Annotated[str, typer.Option(help="Comma-separated codecs.")] = "x264,x265,svtav1",
    augment: Annotated[bool, typer.Option(help="Add the augmented variants.")] = True,
) -> None:
    """Real and lavfi clips (and augmented variants) split into shots, encoded over a grid
    of settings per codec at the default presets, scored with libvmaf: one row per encode,
    with the shot's cheap features. Stops and resumes without redoing finished encodes."""
    ffmpeg = settings(ctx).ffmpeg()
    chosen = corpus.variants(augment)
    if sources:
        wanted = set(sources.split(","))
        unknown = wanted - {v.source_id for v in chosen}
        if unknown:
            known = ", ".join(sorted({v.source_id for v in chosen}))
            raise UsageError(f"unknown --sources {', '.join(sorted(unknown))}; found: {known}")
        chosen = [v for v in chosen if v.source_id in wanted]
    grid = {}
    for codec in codecs.split(","):
        if codec not in corpus.GRID:
            raise UsageError(f"--codecs: {codec!r} is not one of {', '.join(corpus.GRID)}")
        grid[codec] = corpus.GRID[codec]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    dest = out_dir / "corpus.parquet"
    check_output(dest, [], force=True)
    work = work or out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    table: list[dict[str, Any]] = []
    for n, v in enumerate(chosen, start=1):
        p = corpus.plan_clip(ffmpeg, v, work)
        t0 = time.monotonic()
        table.extend(corpus.rows(ffmpeg, p, grid, work))
        err.print(
            f"[{n}/{len(chosen)}] {v.clip_id}: {len(p.shots)} shots, "
            f"{len(p.shots) * sum(map(len, grid.values()))} encodes in "
            f"{time.monotonic() - t0:.0f} s",
            markup=False,
        )
    meta = {
        "schema": corpus.SCHEMA,
        "command": " ".join(
            ["vmaftune corpus build --out", str(out_dir), "--codecs", codecs]
            + (["--sources", sources] if sources else [])
            + ([] if augment else ["--no-augment"])
        ),
        "ffmpeg": ffmpeg.version,
        "grid": grid,
        "clips": [v.clip_id for v in chosen],
        "rows": len(table),
        "digest": corpus.table_digest(table),
        "wall_seconds": round(time.monotonic() - started, 1),
        "encode_seconds": round(sum(r["encode_seconds"] for r in table), 1),
        "score_seconds": round(sum(r["score_seconds"] for r in table), 1),
    }
    corpus.write_table(table, dest, meta)
    with atomic_output(out_dir / "corpus.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
    err.print(f"wrote {dest}: {len(table)} rows", markup=False)
