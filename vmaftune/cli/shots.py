"""`vmaftune shots INPUT`: the shots the per-shot encoder will use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import out, settings
from vmaftune.cli.options import MaxShot, MinShot, Sensitivity
from vmaftune.steps.probe import read
from vmaftune.steps.shots import ShotOptions, detect


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Video to split into shots.")],
    min_shot: MinShot = 1.0,
    max_shot: MaxShot = 10.0,
    sensitivity: Sensitivity = 4.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Detect shots: hard cuts and cross-fades from frame differences, bounded by the
    minimum and maximum shot length."""
    options = ShotOptions(min_shot, max_shot, sensitivity).checked()
    media, frames = read(input)
    found, decoded = detect(settings(ctx).ffmpeg(), media, frames, options)
    rows = [
        {"index": s.index, "start_frame": s.start, "end_frame": s.end, "frames": s.frames,
         "start_time": round(s.start_time, 6), "end_time": round(s.end_time, 6),
         "cut": s.cut}
        for s in found
    ]  # fmt: skip
    if as_json:
        doc = {"input": str(input), "frames": decoded.count, "shots": rows}
        print(json.dumps(doc, indent=2))
        return
    table = Table(title=f"{input.name}: {len(found)} shots, {decoded.count} frames")
    for col in ("shot", "frames", "start", "end", "seconds", "cut"):
        table.add_column(col, justify="right" if col != "cut" else "left")
    for s in found:
        table.add_row(str(s.index), f"{s.start}-{s.end - 1}", f"{s.start_time:.3f}",
                      f"{s.end_time:.3f}", f"{s.duration:.2f}", s.cut)  # fmt: skip
    out.print(table)
