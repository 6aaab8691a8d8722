"""`vmaftune doctor`: which FFmpeg runs, what it can do here, what is missing."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import out, settings
from vmaftune.edges import process
from vmaftune.edges.toolchain import ZOO_FILTERS, FFmpeg, patched_ffmpeg, trial_encode
from vmaftune.encoders import get, load_all
from vmaftune.errors import InputError, ToolError
from vmaftune.steps.score import MODELS
from vmaftune.zoo import registry as zoo
from vmaftune.zoo.engines import cuda_runs


def _model_loads(ffmpeg: FFmpeg, version: str) -> tuple[bool, str]:
    graph = f"[0:v][1:v]libvmaf=model=version={version}:log_fmt=json:log_path=/dev/null"
    src = "testsrc2=s=160x90:r=25:d=0.04"
    argv = ffmpeg.argv("-f", "lavfi", "-i", src, "-f", "lavfi", "-i", src,
                       "-filter_complex", graph, "-f", "null", "-")  # fmt: skip
    done = process.run(argv, what="libvmaf trial", check=False, timeout=60)
    return done.returncode == 0, "loads" if done.returncode == 0 else process.last_line(done.stderr)


def _zoo_check() -> dict[str, object]:
    try:
        reg = zoo.registry()
    except InputError as e:
        return {"item": "model zoo", "ok": False, "needed": True, "detail": e.message}
    bad = []
    for m in reg.models:
        try:
            zoo.check_graph(zoo.verify(reg, m), m.id)
        except InputError as e:
            bad.append(e.message)
    detail = "; ".join(bad) or f"{len(reg.models)} models verify ({reg.folder})"
    return {"item": "model zoo", "ok": not bad, "needed": True, "detail": detail}


def _inference_check() -> dict[str, object]:
    """Where the zoo's models run here. onnxruntime-gpu on a machine with no usable CUDA
    device falls back to the CPU: say so rather than fail (the CUDA image runs anywhere)."""
    import onnxruntime

    version = f"onnxruntime {onnxruntime.__version__}"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return {"item": "inference", "ok": True, "needed": True, "detail": f"{version}: CPU"}
    gpu = cuda_runs()
    detail = ("CUDA execution provider on the GPU" if gpu else
              "onnxruntime-gpu, but no usable CUDA device here: models run on the CPU")  # fmt: skip
    return {"item": "inference", "ok": True, "needed": True, "detail": f"{version}: {detail}"}


def command(
    ctx: typer.Context,
    codec: Annotated[
        list[str] | None,
        typer.Option("--codec", "-c", help="Also require this encoder to run here (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Print the toolchain table; exit 4 when something a command needs is missing
    (libvmaf, a software encoder, or an encoder named with --codec)."""
    import av

    ffmpeg = settings(ctx).ffmpeg()
    required = {get(c).name for c in codec or []}
    checks: list[dict[str, object]] = [
        {"item": "ffmpeg", "ok": True, "needed": True,
         "detail": f"{ffmpeg.version} at {ffmpeg.path} ({ffmpeg.source})"},
        {"item": "PyAV (probe)", "ok": True, "needed": True,
         "detail": f"av {av.__version__}"},
        {"item": "filter libvmaf", "ok": ffmpeg.has_filter("libvmaf"), "needed": True,
         "detail": "score, encode"},
        {"item": "filter scale", "ok": ffmpeg.has_filter("scale"), "needed": True,
         "detail": "score (size mismatch)"},
    ]  # fmt: skip
    if ffmpeg.has_filter("libvmaf"):
        for name, version in MODELS.items():
            if name != version:
                continue  # aliases
            ok, detail = _model_loads(ffmpeg, version)
            checks.append({"item": f"model {name}", "ok": ok, "needed": True, "detail": detail})
    patched = patched_ffmpeg()
    detail = (
        f"{patched.path} ({patched.source})"
        if patched
        else "no patched FFmpeg (make ffmpeg): zoo models run in Python"
    )
    checks.append({"item": "filters " + ", ".join(ZOO_FILTERS), "ok": patched is not None,
                   "needed": False, "detail": detail})  # fmt: skip
    checks.append(_zoo_check())
    checks.append(_inference_check())
    for enc in load_all():
        trial = trial_encode(ffmpeg, enc.ffmpeg, enc.default_pix_fmt)
        needed = enc.hardware == "none" or enc.name in required
        where = "CPU" if enc.hardware == "none" else f"{enc.hardware} GPU"
        detail = f"{enc.ffmpeg} ({where}): {trial.reason}"
        checks.append({"item": f"encoder {enc.name}", "ok": trial.usable, "needed": needed,
                       "detail": detail})  # fmt: skip
    missing = [str(c["item"]) for c in checks if c["needed"] and not c["ok"]]
    if as_json:
        out.print_json(json.dumps({"ffmpeg": str(ffmpeg.path), "checks": checks,
                                   "missing": missing}))  # fmt: skip
    else:
        table = Table(title="vmaftune doctor")
        table.add_column("item")
        table.add_column("status")
        table.add_column("detail")
        for c in checks:
            if c["ok"]:
                status = "[green]ok[/]"
            elif c["needed"]:
                status = "[red]MISSING[/]"
            else:
                status = "[yellow]no device[/]"
            table.add_row(str(c["item"]), status, str(c["detail"]))
        out.print(table)
    if missing:
        raise ToolError("missing: " + ", ".join(missing))
