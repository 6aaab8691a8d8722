"""An encode ladder's rungs: parsed from `--rungs 1080:95,720:93,540:88` and sized
against the source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmaftune.errors import UsageError
from vmaftune.steps.probe import MediaInfo

SCORE_AT = ("source", "rung")
_RUNG = re.compile(r"^\s*(?:(\d+)x)?(\d+)p?\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True)
class RungSpec:
    height: int
    vmaf: float
    width: int | None = None  # None: from the source's aspect ratio


@dataclass(frozen=True)
class Rung:
    name: str  # also the rung's folder: "720p"
    width: int
    height: int
    vmaf: float


def parse(spec: str) -> list[RungSpec]:
    """`HEIGHT:VMAF` or `WIDTHxHEIGHT:VMAF`, comma separated."""
    rungs: list[RungSpec] = []
    for part in spec.split(","):
        m = _RUNG.match(part)
        if not m:
            raise UsageError(
                f"--rungs: cannot read {part.strip()!r}; write HEIGHT:VMAF or "
                "WIDTHxHEIGHT:VMAF, comma separated, e.g. 1080:95,720:93"
            )
        width = int(m[1]) if m[1] else None
        height, vmaf = int(m[2]), float(m[3])
        if height < 16 or (width is not None and width < 16):
            raise UsageError(f"--rungs: {part.strip()}: a rung must be at least 16 pixels")
        if height % 2 or (width is not None and width % 2):
            raise UsageError(f"--rungs: {part.strip()}: 4:2:0 video needs even sizes")
        if not 0 < vmaf <= 100:
            raise UsageError(f"--rungs: {part.strip()}: the VMAF target must be in (0, 100]")
        rungs.append(RungSpec(height, vmaf, width))
    heights = [r.height for r in rungs]
    if len(set(heights)) != len(heights):
        raise UsageError("--rungs: two rungs have the same height")
    return rungs


def size(spec: RungSpec, source: MediaInfo) -> tuple[int, int]:
    """The rung's frame size: the source's display aspect ratio at the rung's height in
    square pixels, width rounded to an even number (4:2:0)."""
    if spec.width is not None:
        return spec.width, spec.height
    shown = source.width * source.sample_aspect  # display width in square pixels
    width = round(shown * spec.height / source.height / 2) * 2
    return max(2, width), spec.height


def plan(specs: list[RungSpec], source: MediaInfo) -> tuple[list[Rung], list[str]]:
    """The rungs to encode, tallest first, and a note for each one skipped: rungs taller
    than the source would only upscale."""
    rungs: list[Rung] = []
    notes: list[str] = []
    for spec in sorted(specs, key=lambda s: -s.height):
        if spec.height > source.height:
            notes.append(
                f"rung {spec.height}p skipped: taller than the source ({source.height} lines)"
            )
            continue
        width, height = size(spec, source)
        name = f"{height}p" if spec.width is None else f"{width}x{height}"
        rungs.append(Rung(name, width, height, spec.vmaf))
    return rungs, notes
