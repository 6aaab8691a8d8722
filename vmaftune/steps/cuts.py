"""Frame-exact cuts: which decoded frames of the source make a shot, decided by their index
in FFmpeg's own decode, never by a timestamp (the step between shots and encode).

Containers in the wild carry timestamps that an input seek cannot take at face value:
MP4s whose time scale equals the frame rate, raw streams remuxed without composition
offsets, AVI with packed B-frames, Matroska's 1 ms rounding. A seek halfway between two
frames' timestamps starts one frame early on such files, and every probe of the shot is
then scored against equally shifted reference frames, so nothing looks wrong.

So the source is decoded once, as every later step decodes it (`-fps_mode passthrough`),
and each frame's hash is kept (`scan`). A shot is then cut by a seek to a keyframe well
before it (`-noaccurate_seek`: no frame is dropped by timestamp) plus a count of decoded
frames to skip, found by matching the hashes after that seek against the shot's own
(`locate`). The seek only makes decoding cheaper; the count decides which frames are
kept. After the join, `check_frames` decodes the output and compares each shot's frames
with the segment that was scored for it.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError, InternalError, ToolError
from vmaftune.steps.probe import MediaInfo, Timeline

# Fast and exact enough to tell frames apart: a collision would need two different
# pictures with equal 128-bit hashes.
HASH_ARGS = ("-f", "framehash", "-hash", "murmur3")
THUMB_W, THUMB_H = 64, 36
# Seconds to seek before a shot, tried in turn; when none finds the shot's frames the cut
# decodes from the first frame, which is the scan's own decode and always right.
_MARGINS = (1.0, 6.0, 30.0)
# Frames a decoder may output after a seek that the full decode never showed (leading
# pictures of an open GOP).
_SLACK = 16


@dataclass(frozen=True)
class Frames:
    """The source as FFmpeg decodes it: one hash per frame in output order, and the
    timestamps the output will carry (repaired when the file's own cannot be used)."""

    hashes: tuple[str, ...]
    timeline: Timeline
    repair: str | None = None  # why the timestamps were not taken as decoded

    @property
    def count(self) -> int:
        return len(self.hashes)

    def record(self) -> dict[str, Any]:
        tb = self.timeline.time_base
        return {
            "hashes": list(self.hashes),
            "pts": list(self.timeline.pts),
            "time_base": [tb.numerator, tb.denominator],
            "container_start": self.timeline.container_start,
            "repair": self.repair,
        }

    @staticmethod
    def from_record(data: dict[str, Any]) -> Frames:
        num, den = data["time_base"]
        timeline = Timeline(Fraction(num, den), tuple(data["pts"]), data["container_start"])
        return Frames(tuple(data["hashes"]), timeline, data.get("repair"))


@dataclass(frozen=True)
class Cut:
    """A run of the source's decoded frames: input `-noaccurate_seek -ss seek` (None: no
    seek), then drop `skip` decoded frames and keep `frames`."""

    seek: float | None
    skip: int
    frames: int

    def input_args(self) -> list[str]:
        return ["-noaccurate_seek", "-ss", f"{self.seek:.6f}"] if self.seek is not None else []

    def trim(self) -> str:
        """The filter that keeps the run, by frame number, whatever the timestamps say."""
        return f"trim=start_frame={self.skip}:end_frame={self.skip + self.frames}"


@dataclass(frozen=True)
class Scan:
    frames: Frames
    thumbs: np.ndarray  # (frames, THUMB_H, THUMB_W) uint8 grey, for shot detection


def scan(ffmpeg: FFmpeg, media: MediaInfo, demuxed: Timeline) -> Scan:
    """One decode of the whole source: 64x36 grey thumbnails to this process, and each
    frame's hash and timestamp to files. `demuxed` (the packets' timeline) gives the time
    base and the container's start."""
    size = THUMB_W * THUMB_H
    thumbs: list[bytes] = []
    with tempfile.TemporaryDirectory(prefix="vmaftune-scan-") as tmp:
        stamps, hashes = Path(tmp) / "pts.txt", Path(tmp) / "hashes.txt"
        argv = ffmpeg.argv(
            "-i", f"file:{media.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-vf", f"scale={THUMB_W}:{THUMB_H}:flags=area,format=gray",
            "-f", "rawvideo", "pipe:1",
            "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-enc_time_base:v", "demux",
            "-stats_enc_pre", "pts.txt", "-stats_enc_pre_fmt", "{pts}",
            *HASH_ARGS, "hashes.txt",
        )  # fmt: skip
        process.stream_records(
            argv,
            what="decoding the source",
            size=size,
            on_record=thumbs.append,
            cwd=Path(tmp),
        )
        frame_hashes = parse_hashes(hashes.read_text())
        pts = stamps.read_text().split()
    if not thumbs or not frame_hashes:
        raise InputError(f"{media.path}: no frame could be decoded")
    if not (len(thumbs) == len(frame_hashes) == len(pts)):
        raise InputError(
            f"{media.path}: decoding it twice at once gave {len(thumbs)} and "
            f"{len(frame_hashes)} frames; the file cannot be decoded consistently"
        )
    timeline, repair = repaired_timeline(pts, media, demuxed)
    pictures = np.frombuffer(b"".join(thumbs), dtype=np.uint8).reshape(-1, THUMB_H, THUMB_W)
    return Scan(Frames(tuple(frame_hashes), timeline, repair), pictures)


def parse_hashes(text: str) -> list[str]:
    """The hash column of FFmpeg's framehash output."""
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines()
            if line and not line.startswith("#")]  # fmt: skip


def repaired_timeline(
    pts: Sequence[str], media: MediaInfo, demuxed: Timeline
) -> tuple[Timeline, str | None]:
    """The decoded frames' timestamps (time base: the stream's) when they rise strictly;
    else sorted, when that makes them rise (a file whose stored timestamps are decode
    order); else sorted with the few frames (at most 1 in 20) that repeat a time moved one
    tick later; else evenly spaced at the stream's nominal rate from the first frame."""
    tb, container_start = demuxed.time_base, demuxed.container_start
    values = [int(p) for p in pts if p.lstrip("-").isdigit()]
    if len(values) == len(pts):
        if all(b > a for a, b in itertools.pairwise(values)):
            return Timeline(tb, tuple(values), container_start), None
        ordered = sorted(values)
        if all(b > a for a, b in itertools.pairwise(ordered)):
            return (Timeline(tb, tuple(ordered), container_start),
                    "decoded timestamps out of order: sorted")  # fmt: skip
        # A few frames sharing a time (a VFR file rounded into a coarse time base): each
        # moves one tick after the frame before, and every other frame keeps its time.
        nudged = list(itertools.accumulate(ordered, lambda prev, v: max(v, prev + 1)))
        moved = sum(a != b for a, b in zip(nudged, ordered, strict=True))
        if moved <= max(1, len(nudged) // 20):
            return (Timeline(tb, tuple(nudged), container_start),
                    f"{moved} frame(s) shared a timestamp with the frame before: moved "
                    f"{float(tb) * 1000:g} ms later")  # fmt: skip
    # Evenly spaced frames need a time base that holds one frame's length exactly.
    rate = media.frame_rate if media.frame_rate > 0 else Fraction(25)
    even_tb = Fraction(rate.denominator, rate.numerator)
    first = round(Fraction(values[0]) * tb / even_tb) if values else 0
    count = len(pts)
    return (Timeline(even_tb, tuple(first + i for i in range(count)), container_start),
            f"decoded timestamps unusable: restamped at {float(rate):.3f} fps")  # fmt: skip


class _Found(Exception):
    def __init__(self, skip: int) -> None:
        self.skip = skip


def locate(ffmpeg: FFmpeg, media: MediaInfo, frames: Frames, start: int, count: int) -> Cut:
    """The cut that yields frames `start..start+count-1` of the full decode, verified frame
    by frame: a seek tried at growing distances before the shot, else no seek."""
    if start == 0:
        return Cut(None, 0, count)  # the scan's own decode
    want = list(frames.hashes[start : start + count])
    if len(want) != count:
        raise InternalError(f"frames {start}..{start + count - 1} lie past the source's end")
    timeline = frames.timeline
    first_time = float(timeline.pts[0] * timeline.time_base) - timeline.container_start
    at = first_time + timeline.seconds()[start]
    for margin in _MARGINS:
        seek = at - margin
        if seek <= 0:
            break
        skip = _find(ffmpeg, media, seek, want, limit=start + count + _SLACK)
        if skip is not None:
            return Cut(seek, skip, count)
    # From the first frame the run is normally at `start`; an earlier run of the very
    # same pictures (a static stretch) serves as well.
    skip = _find(ffmpeg, media, None, want, limit=start + count)
    if skip is None:
        raise InputError(
            f"{media.path}: frames {start}..{start + count - 1} decode differently each time; "
            "the file cannot be cut consistently (re-encode or remux it first)"
        )
    return Cut(None, skip, count)


def _find(
    ffmpeg: FFmpeg, media: MediaInfo, seek: float | None, want: list[str], *, limit: int
) -> int | None:
    """How many decoded frames after the seek come before the run `want`, or None."""
    seen: list[str] = []
    candidates: list[int] = []

    def on_line(line: str) -> None:
        hashes = parse_hashes(line)
        if not hashes:
            return
        seen.extend(hashes)
        if seen[-1] == want[0]:
            candidates.append(len(seen) - 1)
        for c in list(candidates):
            if len(seen) >= c + len(want):
                if seen[c : c + len(want)] == want:
                    raise _Found(c)
                candidates.remove(c)

    try:
        argv = ffmpeg.argv(
            *Cut(seek, 0, 0).input_args(), "-i", f"file:{media.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-frames:v", str(limit), *HASH_ARGS, "pipe:1",
        )  # fmt: skip
        process.stream_lines(
            argv,
            what="locating a shot in the source",
            on_line=on_line,
        )
    except _Found as found:
        return found.skip
    return None


def decoded_hashes(ffmpeg: FFmpeg, path: Path) -> list[str]:
    completed: list[str] = []
    argv = ffmpeg.argv(
        "-i", f"file:{path.resolve()}", "-map", "0:v:0", "-fps_mode", "passthrough",
        *HASH_ARGS, "pipe:1",
    )  # fmt: skip
    process.stream_lines(
        argv,
        what=f"decoding {path.name}",
        on_line=lambda line: completed.extend(parse_hashes(line)),
    )
    return completed


def check_frames(ffmpeg: FFmpeg, output: Path, segments: Sequence[tuple[int, Path]]) -> None:
    """The joined output's decoded frames are, shot by shot, the frames of the segment that
    was scored for that shot; raises naming the shots that are not."""
    out = decoded_hashes(ffmpeg, output)
    wrong: list[int] = []
    at = 0
    for shot, path in segments:
        seg = decoded_hashes(ffmpeg, path)
        if out[at : at + len(seg)] != seg:
            wrong.append(shot)
        at += len(seg)
    if at != len(out):
        raise ToolError(f"the joined output holds {len(out)} frames, its shots {at}")
    if wrong:
        raise ToolError(
            "the joined output's frames differ from the scored encodes in shot"
            f"{'s' if len(wrong) > 1 else ''} {', '.join(map(str, wrong))}; not published"
        )


def check_windows(
    ffmpeg: FFmpeg, media: MediaInfo, frames: Frames, windows: Sequence[tuple[int, int, Cut]]
) -> None:
    """Each shot's cut yields, frame by frame, the source frames of that shot in a decode
    from the start: decoded again here, independently of how the cut was found. `windows`
    holds (shot index, first frame, cut). Raises naming the shots whose cut does not."""
    wrong = []
    for index, start, cut in windows:
        argv = ffmpeg.argv(
            *cut.input_args(), "-i", f"file:{media.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-vf", cut.trim(), *HASH_ARGS, "pipe:1",
        )  # fmt: skip
        if _hashes(ffmpeg, argv, f"checking the source frames of shot {index}") != list(
            frames.hashes[start : start + cut.frames]
        ):
            wrong.append(f"{index} (its trials saw other source frames)")
    if wrong:
        raise ToolError(f"the joined output contradicts its shots: shot {', '.join(wrong)}; "
                        "not published")  # fmt: skip


def _hashes(ffmpeg: FFmpeg, argv: list[str], what: str) -> list[str]:
    got: list[str] = []
    process.stream_lines(argv, what=what, on_line=lambda line: got.extend(parse_hashes(line)))
    return got
