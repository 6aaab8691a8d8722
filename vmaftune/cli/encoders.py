"""`vmaftune encoders`: the adapters in encoders/ and whether each runs here."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune.cli.common import out, settings
from vmaftune.edges.toolchain import Trial, honours_roi, trial_encode
from vmaftune.encoders import HARDWARE_NEEDS, Encoder, load_all


def as_dict(enc: Encoder, built_in: bool, trial: Trial, roi: bool) -> dict[str, Any]:
    q = enc.quality
    return {
        "name": enc.name,
        "family": enc.family,
        "ffmpeg_encoder": enc.ffmpeg,
        "codec": enc.codec,
        "knob": q.option,
        "range": [q.min, q.max],
        "default": q.default,
        "step": q.step,
        "fractional": q.fractional,
        "presets": list(enc.presets),
        "default_preset": enc.default_preset,
        "pix_fmts": list(enc.pix_fmts),
        "pix_fmts_10bit": list(enc.pix_fmts_10bit),
        "roi": roi,
        "hardware": enc.hardware,
        "built_in": built_in,
        "usable": trial.usable,
        "reason": trial.reason,
    }


def command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List encoder adapters: quality knob, range, presets, 10-bit, ROI, hardware, and
    availability with this FFmpeg (a two-frame trial encode)."""
    ffmpeg = settings(ctx).ffmpeg()
    found = [(enc, trial_encode(ffmpeg, enc.ffmpeg, enc.default_pix_fmt)) for enc in load_all()]
    if as_json:
        rows = [
            as_dict(e, ffmpeg.has_encoder(e.ffmpeg), t, honours_roi(ffmpeg, e)) for e, t in found
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Encoders ({ffmpeg.path.name} {ffmpeg.version})")
    for col in ("name", "knob range (default)", "presets (default)", "10-bit", "ROI", "here"):
        table.add_column(col)
    for enc, trial in found:
        q = enc.quality
        table.add_row(
            enc.name,
            f"{q.option} {q.min:g}-{q.max:g} ({q.default:g})",
            f"{enc.presets[0]}..{enc.presets[-1]} ({enc.default_preset})",
            "yes" if enc.pix_fmts_10bit else "no",
            "yes" if honours_roi(ffmpeg, enc) else "no",
            "[green]yes[/]" if trial.usable else "[red]no[/]",
        )
    out.print(table)
    # Why an encoder cannot run, below the table where a long reason does not squeeze it.
    for enc, trial in found:
        if not trial.usable:
            need = HARDWARE_NEEDS[enc.hardware]
            out.print(f"{enc.name}: needs {need}; here: {trial.reason}", markup=False)
