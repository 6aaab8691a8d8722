"""`vmaftune report SIDECAR_OR_LADDER -o report.html [--png DIR]`: options become a request
for vmaftune.run.report; its result is rendered here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vmaftune.cli.common import emit, out
from vmaftune.cli.options import AsJson
from vmaftune.run.report import ReportRequest, report


def command(
    input: Annotated[
        Path,
        typer.Argument(
            help="OUT.shots.json of a per-shot encode, a ladder's ladder.json (or its "
            "folder), or OUT itself (its sidecar is read)."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML page to write.")
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="A folder to write each figure into as a PNG file."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace the page or PNGs if they exist.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Draw a per-shot sidecar or a ladder as one self-contained HTML page (no network
    needed to view it) and/or as PNG files: VMAF over time, bits and settings per shot,
    each shot's search walk; for a ladder, its rungs and their shots' rate-quality."""
    r = report(ReportRequest(input=input, output=output, png=png, force=force)).wait(
        lambda _event: None
    )
    if as_json:
        emit({"type": "done", "source": str(r.source),
              "html": str(r.html) if r.html else None, "bytes": r.bytes,
              "png": [str(p) for p in r.pngs], "plots": list(r.plots)})  # fmt: skip
        return
    if r.html is not None:
        out.print(f"{r.html} ({r.bytes / 1000:.0f} kB, {len(r.plots)} figures)", markup=False)
    for p in r.pngs:
        out.print(str(p), markup=False)
