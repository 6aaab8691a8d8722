"""`vmaftune plan`, `vmaftune run PLAN --shard I/N`, `vmaftune join PLAN -o OUT`: options
become requests for vmaftune.run.shards; events and results are rendered here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vmaftune.cli.common import emit, out, settings
from vmaftune.cli.encode import MaxInterval, Mode, Predictor, TargetVmaf, target_done
from vmaftune.cli.options import (
    AsJson,
    Codec,
    KeepWork,
    MaxShot,
    MinShot,
    PixFmt,
    Pool,
    Preset,
    Report,
    SearchMethod,
    Tolerance,
)
from vmaftune.cli.render import Renderer
from vmaftune.errors import UsageError
from vmaftune.run.shards import (
    JoinRequest,
    PlanRequest,
    ShardRequest,
    join_plan,
    plan,
    run_shard,
)
from vmaftune.run.target import TargetRequest
from vmaftune.steps.decide.predict import MAX_HALF_WIDTH
from vmaftune.steps.score import DEFAULT_VMAF_MODEL
from vmaftune.zoo.predictor import DEFAULT_PREDICTOR

Force = Annotated[bool, typer.Option("--force", "-f", help="Replace the output if it exists.")]


def plan_command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="Source video (a path every shard can read).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The plan file to write.")],
    codec: Codec,
    target_vmaf: TargetVmaf = None,
    preset: Preset = None,
    pix_fmt: PixFmt = None,
    pool: Pool = "mean",
    tolerance: Tolerance = 0.5,
    search_method: SearchMethod = "interpolate",
    min_shot: MinShot = 1.0,
    max_shot: MaxShot = 10.0,
    model: Annotated[str, typer.Option(help="VMAF model.")] = DEFAULT_VMAF_MODEL,
    audio: Annotated[bool, typer.Option(help="Copy the source's audio at the join.")] = True,
    mode: Mode = "search",
    predictor: Predictor = DEFAULT_PREDICTOR,
    max_interval: MaxInterval = MAX_HALF_WIDTH,
    force: Force = False,
    as_json: AsJson = False,
) -> None:
    """Plan a per-shot encode for a batch array: shots (and predictions) into PLAN and its
    work folder PLAN.vmaftune-work/, which every shard must see. Then `vmaftune run PLAN
    --shard I/N` on each of N machines, and `vmaftune join PLAN -o OUT`."""
    if target_vmaf is None:
        raise UsageError("plan needs --target-vmaf")
    target = TargetRequest(
        input=input, output=output, codec=codec, target_vmaf=target_vmaf, preset=preset,
        pix_fmt=pix_fmt, pool=pool, tolerance=tolerance, search=search_method,
        min_shot=min_shot, max_shot=max_shot, model=model, audio=audio, mode=mode,
        predictor=predictor, max_interval=max_interval,
    )  # fmt: skip
    request = PlanRequest(target, output, force=force, command=("vmaftune", *sys.argv[1:]))
    render = Renderer(as_json=as_json)
    try:
        r = plan(request, settings(ctx).ffmpeg()).wait(render)
    finally:
        render.close()
    if as_json:
        emit({"type": "done", "plan": str(r.plan), "work": str(r.work), "shots": len(r.shots)})
        return
    out.print(f"{r.plan}: {len(r.shots)} shots; work folder {r.work}", markup=False)


def run_command(
    ctx: typer.Context,
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan from vmaftune plan.")],
    shard: Annotated[
        str,
        typer.Option(
            help="I/N: this is shard I (from 0) of N; auto/N or auto: I from "
            "$JOB_COMPLETION_INDEX (Kubernetes) or $AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch), N "
            "from $VMAFTUNE_SHARDS."
        ),
    ] = "0/1",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="This shard's shots at once.")] = 1,
    as_json: AsJson = False,
) -> None:
    """Decide shard I of N's share of a plan's shots into its work folder. A rerun redoes
    nothing finished."""
    render = Renderer(as_json=as_json)
    try:
        r = run_shard(ShardRequest(plan_path, shard, jobs), settings(ctx).ffmpeg()).wait(render)
    finally:
        render.close()
    if as_json:
        emit({"type": "done", "shard": r.index, "of": r.count, "shots": list(r.shots),
              "encodes": r.encodes, "record": str(r.record)})  # fmt: skip
        return
    out.print(f"shard {r.index}/{r.count}: {len(r.shots)} shots done ({r.encodes} encodes "
              f"by this run)", markup=False)  # fmt: skip


def join_command(
    ctx: typer.Context,
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan from vmaftune plan.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Encoded file to write.")],
    force: Force = False,
    keep_work: KeepWork = False,
    report: Report = False,
    as_json: AsJson = False,
) -> None:
    """Check that every shard has finished, then join the shots into OUT, score it and
    write the sidecars, as `encode --target-vmaf` does."""
    request = JoinRequest(plan_path, output, force=force, keep_work=keep_work, report=report,
                          command=("vmaftune", *sys.argv[1:]))  # fmt: skip
    render = Renderer(as_json=as_json)
    try:
        result = join_plan(request, settings(ctx).ffmpeg()).wait(render)
    finally:
        render.close()
    target_done(result, as_json)
