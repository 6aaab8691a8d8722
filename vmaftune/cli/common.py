"""What every command shares: the global settings, the two consoles, report writing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.edges.toolchain import FFmpeg, resolve

# Results go to stdout; progress, notes and logs to stderr, so stdout stays parseable.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass
class Settings:
    ffmpeg_path: str | None = None
    verbose: bool = False
    _ffmpeg: FFmpeg | None = field(default=None, repr=False)

    def ffmpeg(self) -> FFmpeg:
        if self._ffmpeg is None:
            self._ffmpeg = resolve(self.ffmpeg_path)
        return self._ffmpeg


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):
        obj = Settings()
        ctx.find_root().obj = obj
    return obj


def emit(event: dict[str, Any]) -> None:
    """One NDJSON event on stdout; consumers switch on `type` and ignore unknown keys."""
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def check_report(dest: str | None, *, protect: list[Path], force: bool) -> None:
    """Before any work: a report file may not replace an input, or a file without --force."""
    if dest and dest != "-":
        check_output(Path(dest), protect, force=force)


def write_report(dest: str, text: str, *, protect: list[Path], force: bool) -> None:
    """Write a report to a file (atomically) or to stdout when `dest` is '-'."""
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(dest)
    check_output(path, protect, force=force)
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def stdout_taken(*dests: str | None) -> bool:
    return any(d == "-" for d in dests)
