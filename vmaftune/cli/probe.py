"""`vmaftune probe INPUT`: what the file holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import out
from vmaftune.steps.probe import probe


def command(
    input: Annotated[Path, typer.Argument(help="Video file to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Resolution, pixel format, bit depth, frame rate (VFR flagged), frames, duration,
    colour transfer (HDR flagged)."""
    info = probe(input)
    if as_json:
        out.print_json(json.dumps(info.as_dict()))
        return
    table = Table(show_header=False, box=None)
    rate = f"{float(info.frame_rate):.3f} fps" + ("  (VFR: average)" if info.vfr else "")
    rows = [
        ("file", str(info.path)),
        ("container", info.container),
        ("codec", info.codec),
        ("resolution", f"{info.width}x{info.height}"),
        ("pixel format", f"{info.pix_fmt} ({info.bit_depth}-bit)"),
        ("frame rate", rate),
        ("frames", str(info.frame_count)),
        ("duration", f"{info.duration:.3f} s"),
        ("transfer", info.color_transfer + ("  (HDR)" if info.hdr else "")),
        ("video bitrate", f"{info.video_bitrate / 1000:.0f} kb/s"),
        ("audio", "yes" if info.has_audio else "no"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
