"""`vmaftune roi IN -o MAP --format svt-roi-map|json|png`: options become a request for
vmaftune.run.roi; its result is rendered here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vmaftune.cli.common import emit, out, settings
from vmaftune.cli.options import AsJson
from vmaftune.run.roi import FORMATS, RoiRequest, roi
from vmaftune.steps.roi import RoiOptions
from vmaftune.zoo.saliency import DEFAULT_MODEL


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="The video to map.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The map file (svt-roi-map, json) or a folder (png)."),
    ],
    format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "json",
    model: Annotated[
        str, typer.Option("--model", help="A saliency model: registry id or .onnx path.")
    ] = DEFAULT_MODEL,
    strength: Annotated[
        float, typer.Option(help="0..1: at 1 a block's offset reaches 10 QP (x264/x265).")
    ] = 0.5,
    smooth: Annotated[
        float, typer.Option(help="0..1: how much of the previous frames' map each frame keeps.")
    ] = 0.5,
    frames: Annotated[int | None, typer.Option(help="Map only the first N frames.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace existing output.")] = False,
    as_json: AsJson = False,
) -> None:
    """Where viewers look, as per-block QP offsets for encoders run outside FFmpeg:
    SvtAv1EncApp's --roi-map-file (one line per picture, one qindex offset per 64x64
    block), JSON (levels per 16x16 block per frame, and what each level means in QP), or
    a PNG heat map per shot. The vmaf_roi FFmpeg filter computes the same maps."""
    request = RoiRequest(
        input=input, output=output, format=format, model=model,
        options=RoiOptions(strength=strength, smooth=smooth), frames=frames, force=force,
    )  # fmt: skip
    ff = settings(ctx).ffmpeg() if format == "png" else None
    r = roi(request, ff).wait(lambda _event: None)
    if as_json:
        emit({"type": "done", "output": str(r.output), "format": r.format, "model": r.model,
              "frames": r.frames, "width": r.width, "height": r.height,
              "mean_abs_qp_offset": r.mean_abs_qp_offset,
              "files": [str(p) for p in r.files]})  # fmt: skip
        return
    line = (f"{r.output} ({r.format}, {r.frames} frames of {r.width}x{r.height}, "
            f"model {r.model}, mean |QP offset| {r.mean_abs_qp_offset:g})")  # fmt: skip
    out.print(line, markup=False, soft_wrap=True)
    for p in r.files if r.format == "png" else ():
        out.print(str(p), markup=False)
