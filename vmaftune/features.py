"""Cheap per-shot features: what the setting predictor sees of a shot (the input of the
`predict` step).

One FFmpeg run over the whole video decodes it once, scales it to at most 320 pixels wide
(area averaging) and feeds two outputs: a grey copy to this process, for spatial and
temporal information (SI/TI as ITU-T P.910 defines them: std of the Sobel magnitude and of
the frame difference), and a fast probe encode (x264 ultrafast, CRF 28, a keyframe at
every shot start, as the per-shot encodes have) whose per-frame size, QP, PSNR and type
FFmpeg writes with -vstats. Each shot's features are statistics over its own frames. The
cost against a production-preset encode is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import process
from .errors import ToolError
from .media import MediaInfo
from .shots import Shot
from .toolchain import FFmpeg

PROBE_WIDTH = 320
PROBE_CRF = 28
FEATURE_NAMES = (
    "log2_pixels",  # of the source frame
    "fps",
    "si_mean",
    "si_max",
    "ti_mean",
    "ti_max",
    "luma_mean",
    "luma_std",
    "probe_bpp",  # bits per pixel of the probe encode, whole shot
    "probe_i_bpp",  # its first (key) frame
    "probe_p_bpp",  # the other frames
    "probe_qp_i",
    "probe_qp_p",
    "probe_psnr_i",
    "probe_psnr_p",
    "probe_psnr_p_min",
)


@dataclass(frozen=True)
class ShotFeatures:
    shot: int
    values: tuple[float, ...]  # in FEATURE_NAMES order
    seconds: float  # wall time spent computing them

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, self.values, strict=True))


def probe_size(width: int, height: int) -> tuple[int, int]:
    """The probe's frame size: the source's aspect, at most PROBE_WIDTH wide, even."""
    w = min(width, PROBE_WIDTH)
    h = round(height * w / width)
    return max(2, w // 2 * 2), max(2, h // 2 * 2)


def argv(ffmpeg: FFmpeg, source: MediaInfo, shots: Sequence[Shot]) -> list[str]:
    w, h = probe_size(source.width, source.height)
    graph = f"[0:v]scale={w}:{h}:flags=area,format=yuv420p,split[enc][grey];[grey]format=gray[g]"
    # A keyframe a quarter frame before each shot's first frame lands on that frame.
    lead = 0.25 / float(source.frame_rate or 25)
    keys = ",".join(f"{max(0.0, s.start_time - lead):.6f}" for s in shots)
    return ffmpeg.argv(
        "-i", f"file:{source.path.resolve()}",
        "-filter_complex", graph,
        "-map", "[enc]", "-fps_mode", "passthrough",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(PROBE_CRF),
        "-x264-params", "keyint=infinite", "-force_key_frames", keys,
        "-flags", "+psnr", "-vstats_file", "vstats.txt", "-vstats_version", "2",
        "-y", "probe.mkv",
        "-map", "[g]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1",
    )  # fmt: skip


@dataclass(frozen=True)
class FrameStat:
    bits: int
    qp: float
    psnr: float
    key: bool


_VSTATS = re.compile(
    r"^out=\s*0\s+st=\s*0\s+frame=\s*(\d+)\s+q=\s*(-?[\d.]+)\s+PSNR=\s*([\d.]+|inf)"
    r"\s+f_size=\s*(\d+).*type=\s*(\S)"
)


def parse_vstats(text: str) -> list[FrameStat]:
    """The probe encode's frames, in output order, from FFmpeg's -vstats (version 2)."""
    frames: dict[int, FrameStat] = {}
    for line in text.splitlines():
        m = _VSTATS.match(line.strip())
        if m:
            psnr = 100.0 if m.group(3) == "inf" else float(m.group(3))
            frames[int(m.group(1))] = FrameStat(8 * int(m.group(4)), float(m.group(2)), psnr,
                                                m.group(5) == "I")  # fmt: skip
    return [frames[i] for i in sorted(frames)]


class _Frames:
    """SI, TI (to the previous frame, None at the first), mean and std of each grey frame."""

    def __init__(self, width: int, height: int) -> None:
        self.shape = (height, width)
        self.rows: list[tuple[float, float | None, float, float]] = []
        self.previous: np.ndarray | None = None

    def add(self, record: bytes) -> None:
        a = np.frombuffer(record, np.uint8).reshape(self.shape).astype(np.float32)
        gx = (a[:-2, 2:] + 2 * a[1:-1, 2:] + a[2:, 2:]) - (
            a[:-2, :-2] + 2 * a[1:-1, :-2] + a[2:, :-2]
        )
        gy = (a[2:, :-2] + 2 * a[2:, 1:-1] + a[2:, 2:]) - (
            a[:-2, :-2] + 2 * a[:-2, 1:-1] + a[:-2, 2:]
        )
        ti = float((a - self.previous).std()) if self.previous is not None else None
        self.rows.append(
            (float(np.sqrt(gx * gx + gy * gy).std()), ti, float(a.mean()), float(a.std()))
        )
        self.previous = a


def video_features(ffmpeg: FFmpeg, source: MediaInfo, shots: Sequence[Shot]) -> list[ShotFeatures]:
    """Features of every shot, from one pass over the video."""
    started = time.monotonic()
    w, h = probe_size(source.width, source.height)
    grey = _Frames(w, h)
    with tempfile.TemporaryDirectory(prefix="vmaftune-features-") as work:
        process.stream_records(
            argv(ffmpeg, source, shots),
            what="the feature pass",
            size=w * h,
            on_record=grey.add,
            cwd=Path(work),
        )
        stats = parse_vstats((Path(work) / "vstats.txt").read_text())
    total = shots[-1].end if shots else 0
    if len(grey.rows) != total or len(stats) != total:
        raise ToolError(
            f"the feature pass read {len(grey.rows)} frames and encoded {len(stats)}; the "
            f"shots cover {total}"
        )
    seconds = (time.monotonic() - started) / max(1, len(shots))
    return [_shot(source, s, grey.rows[s.start : s.end], stats[s.start : s.end], w * h, seconds)
            for s in shots]  # fmt: skip


def _shot(
    source: MediaInfo,
    shot: Shot,
    rows: Sequence[tuple[float, float | None, float, float]],
    stats: Sequence[FrameStat],
    area: int,
    seconds: float,
) -> ShotFeatures:
    si = [r[0] for r in rows]
    ti = [r[1] for r in rows[1:] if r[1] is not None] or [0.0]  # within the shot only
    first, rest = stats[0], stats[1:] or stats[:1]
    values = (
        math.log2(source.width * source.height),
        float(source.frame_rate),
        float(np.mean(si)),
        float(np.max(si)),
        float(np.mean(ti)),
        float(np.max(ti)),
        float(np.mean([r[2] for r in rows])),
        float(np.mean([r[3] for r in rows])),
        sum(f.bits for f in stats) / (len(stats) * area),
        first.bits / area,
        float(np.mean([f.bits for f in rest])) / area,
        first.qp,
        float(np.mean([f.qp for f in rest])),
        first.psnr,
        float(np.mean([f.psnr for f in rest])),
        float(np.min([f.psnr for f in rest])),
    )
    return ShotFeatures(shot.index, values, round(seconds, 3))
