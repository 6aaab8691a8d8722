"""`vmaftune corpus build --out DIR`: the predictor's training table (Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vmaftune.cli.common import err, settings
from vmaftune.run.corpus import CorpusRequest, build_corpus
from vmaftune.run.events import Event, Note

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
    request = CorpusRequest(out_dir, work, sources, codecs, augment)
    result = build_corpus(request, settings(ctx).ffmpeg()).wait(_progress)
    err.print(f"wrote {result.table}: {result.rows} rows", markup=False)


def _progress(event: Event) -> None:
    if isinstance(event, Note):
        err.print(event.text, markup=False)
