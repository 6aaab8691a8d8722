"""`vmaftune ladder INPUT -o DIR --rungs 1080:95,720:93`: options become a request for
vmaftune.run.ladder; its events and result are rendered here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import emit, out, settings
from vmaftune.cli.options import (
    AsJson,
    Codec,
    Executor,
    Jobs,
    KeepWork,
    MaxShot,
    MinShot,
    PixFmt,
    Pool,
    Preset,
    RayAddress,
    Report,
    SearchMethod,
    Tolerance,
)
from vmaftune.cli.render import Renderer
from vmaftune.run.ladder import LadderRequest, LadderResult, encode_ladder
from vmaftune.steps import hls
from vmaftune.steps.score import DEFAULT_VMAF_MODEL


def command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Source video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the ladder to.")],
    codec: Codec,
    rungs: Annotated[
        str,
        typer.Option(
            help="HEIGHT:VMAF (or WIDTHxHEIGHT:VMAF) per rung, comma separated; rungs "
            "taller than the source are skipped."
        ),
    ] = "1080:95,720:93,540:88",
    score_at: Annotated[
        str,
        typer.Option(
            "--score-at",
            help="source: upscale each rung to the source's size and score it there (what "
            "a viewer sees full screen); rung: downscale the source to the rung's size.",
        ),
    ] = "source",
    preset: Preset = None,
    pix_fmt: PixFmt = None,
    pool: Pool = "mean",
    tolerance: Tolerance = 0.5,
    search_method: SearchMethod = "interpolate",
    model: Annotated[str, typer.Option(help="VMAF model.")] = DEFAULT_VMAF_MODEL,
    jobs: Jobs = 0,
    keep_work: KeepWork = False,
    min_shot: MinShot = 1.0,
    # Apple's HLS authoring guidance targets 6 s segments; a segment here is a shot.
    max_shot: MaxShot = 6.0,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace DIR's content.")] = False,
    as_json: AsJson = False,
    report: Report = False,
    executor: Executor = "local",
    ray_address: RayAddress = None,
) -> None:
    """Encode INPUT into an HLS ladder: each rung per shot at its own target VMAF,
    keyframes aligned across rungs at shot starts, DIR/master.m3u8 and DIR/ladder.json."""
    request = LadderRequest(
        input=input, output=output, codec=codec, rungs=rungs, score_at=score_at, preset=preset,
        pix_fmt=pix_fmt, pool=pool, tolerance=tolerance, search=search_method, model=model,
        jobs=jobs, keep_work=keep_work, min_shot=min_shot, max_shot=max_shot, force=force,
        report=report, executor=executor, ray_address=ray_address,
        command=("vmaftune", *sys.argv[1:]),
    )  # fmt: skip
    render = Renderer(as_json=as_json, notes_json=True)
    try:
        result = encode_ladder(request, settings(ctx).ffmpeg()).wait(render)
    finally:
        render.close()
    _done(result, as_json)


def _done(r: LadderResult, as_json: bool) -> None:
    doc = r.document
    if as_json:
        emit({"type": "done", "output": str(r.output), "master": str(r.master),
              "ladder": str(r.ladder),
              "rungs": [{"name": x["name"], "bandwidth": x["bandwidth"],
                         "average_bandwidth": x["average_bandwidth"], "vmaf": x["vmaf"]}
                        for x in doc["rungs"]],
              **doc["totals"], **({"report": str(r.report)} if r.report else {})})  # fmt: skip
        return
    table = Table(title=f"{r.output}/{hls.MASTER}", box=None)
    for column in ("rung", "size", "target", "VMAF mean", "lowest shot", "avg kb/s",
                   "peak kb/s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "rung" else "right")
    for x in doc["rungs"]:
        v = x["vmaf"]
        table.add_row(x["name"], f"{x['width']}x{x['height']}", f"{x['target_vmaf']:g}",
                      f"{v['mean']:.2f}", f"{v['lowest_shot']:.2f}",
                      f"{x['average_bandwidth'] / 1000:.1f}",
                      f"{x['bandwidth'] / 1000:.1f}")  # fmt: skip
    out.print(table)
    t = doc["totals"]
    out.print(f"{t['shots']} shots x {t['rungs']} rungs, {t['probes']} probes "
              f"({t['encodes']} encoded now), {t['seconds']:.1f} s", markup=False)  # fmt: skip
    if r.report is not None:
        out.print(f"report: {r.report}", markup=False)
