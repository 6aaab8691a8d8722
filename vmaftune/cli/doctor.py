"""`vmaftune doctor`: which FFmpeg runs, what it can do here, what is missing."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from vmaftune.cli.common import out, settings
from vmaftune.errors import ToolError
from vmaftune.run.doctor import doctor


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
    result = doctor(tuple(codec or ()), settings(ctx).ffmpeg()).wait()
    checks = [asdict(c) for c in result.checks]
    missing = result.missing
    if as_json:
        out.print_json(json.dumps({"ffmpeg": str(result.ffmpeg.path), "checks": checks,
                                   "missing": missing}))  # fmt: skip
    else:
        table = Table(title="vmaftune doctor")
        table.add_column("item")
        table.add_column("status")
        table.add_column("detail")
        for c in result.checks:
            if c.ok:
                status = "[green]ok[/]"
            elif c.needed:
                status = "[red]MISSING[/]"
            else:
                status = "[yellow]no device[/]"
            table.add_row(c.item, status, c.detail)
        out.print(table)
    if missing:
        raise ToolError("missing: " + ", ".join(missing))
