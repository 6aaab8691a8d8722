"""A video with known cuts, for measuring shot detection: pieces of different real clips
joined by hard cuts and cross-fades at frames we choose, every piece restamped to 25 fps
and scaled to 640x360. The truth is computed from the layout, not from any detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg

RATE = 25
SIZE = (640, 360)


@dataclass(frozen=True)
class Piece:
    path: Path
    start: int
    frames: int
    fade_in: int = 0  # frames of cross-fade from the previous piece; 0 for a hard cut
    cuts: tuple[int, ...] = ()  # the source's own cuts (source frame numbers, checked by eye)
    transition: str = "fade"  # xfade transition for fade_in: fade, fadeblack, dissolve


@dataclass(frozen=True)
class Transition:
    first: int  # first frame of the transition in the joined video
    last: int  # last frame that belongs to it (== first for a hard cut)
    kind: str  # "hard" or "gradual"


def build(
    ffmpeg: FFmpeg, pieces: list[Piece], output: Path, size: tuple[int, int] = SIZE
) -> list[Transition]:
    w, h = size
    parts: list[str] = []
    for i, p in enumerate(pieces):
        parts.append(
            f"[{i}:v:0]trim=start_frame={p.start}:end_frame={p.start + p.frames},"
            f"settb=1/{RATE},setpts=N,fps={RATE},scale={w}:{h}:flags=bicubic,setsar=1,"
            f"format=yuv420p[p{i}]"
        )
    truth: list[Transition] = []
    acc, length = "p0", pieces[0].frames

    def inner(p: Piece, at: int) -> None:
        truth.extend(
            Transition(at + c - p.start, at + c - p.start, "hard")
            for c in p.cuts
            if p.start < c < p.start + p.frames
        )

    inner(pieces[0], 0)
    for i, p in enumerate(pieces[1:], start=1):
        out = f"j{i}"
        if p.fade_in:
            offset = length - p.fade_in
            parts.append(
                f"[{acc}][p{i}]xfade=transition={p.transition}:duration={p.fade_in / RATE}:"
                f"offset={offset / RATE},fps={RATE}[{out}]"
            )
            truth.append(Transition(offset, offset + p.fade_in - 1, "gradual"))
            inner(p, offset)
            length += p.frames - p.fade_in
        else:
            parts.append(f"[{acc}][p{i}]concat=n=2:v=1:a=0,fps={RATE}[{out}]")
            truth.append(Transition(length, length, "hard"))
            inner(p, length)
            length += p.frames
        acc = out
    inputs = [arg for p in pieces for arg in ("-i", f"file:{p.path}")]
    process.run(
        ffmpeg.argv(
            "-y",
            *inputs,
            "-filter_complex",
            ";".join(parts),
            "-map",
            f"[{acc}]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "16",
            f"file:{output}",
        ),
        what="building the cut-list video",
    )
    return sorted(truth, key=lambda t: t.first)


def score(found: list[int], truth: list[Transition], tolerance: int = 2) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives). A detected cut matches a
    transition when it lies within it, widened by `tolerance` frames; each transition
    matches at most once."""
    unmatched = list(truth)
    tp = fp = 0
    for f in sorted(found):
        hit = next((t for t in unmatched if t.first - tolerance <= f <= t.last + tolerance), None)
        if hit is None:
            fp += 1
        else:
            unmatched.remove(hit)
            tp += 1
    return tp, fp, len(unmatched)
