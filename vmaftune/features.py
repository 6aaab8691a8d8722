"""Cheap per-shot features: what the setting predictor sees of a shot (the input of the
`predict` step).

One FFmpeg run over the whole video decodes it once, scales it to at most 320 pixels wide
(area averaging) and feeds two outputs: a grey copy to this process, for spatial and
temporal information (SI/TI as ITU-T P.910 defines them: std of the Sobel magnitude and of
the frame difference) and luma statistics, and a fast probe encode (x264 ultrafast,
CRF 28, a keyframe at every shot start as the per-shot encodes have) whose packet sizes
are read back afterwards: how many bits a shot needs at a fixed CRF is the classic
measure of how hard it is to encode. Each shot's features are statistics over its own
frames. Their cost against a production-preset encode is in docs/benchmarks.md.

(x264's per-frame QP and PSNR would be welcome too, but FFmpeg's -vstats file is shared
by the encoder threads of both outputs and their lines interleave.)
"""

from __future__ import annotations

import math
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
    "probe_p_bpp",  # the other frames: mean
    "probe_p_bpp_max",  # and the largest
)


@dataclass(frozen=True)
class ShotFeatures:
    shot: int
    values: tuple[float, ...]  # in FEATURE_NAMES order
    seconds: float  # wall time spent computing them (the pass's time shared by its shots)

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
        "-y", "probe.mkv",
        "-map", "[g]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1",
    )  # fmt: skip


class _Grey:
    """Per grey frame: SI, TI against the previous frame (None for the first), mean, std."""

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
        si = float(np.sqrt(gx * gx + gy * gy).std())
        ti = float((a - self.previous).std()) if self.previous is not None else None
        self.rows.append((si, ti, float(a.mean()), float(a.std())))
        self.previous = a


def packet_bits(path: Path) -> list[tuple[int, bool]]:
    """(bits, keyframe) of each frame of the probe, in presentation order."""
    import av

    with av.open(str(path)) as box:
        packets = [(p.pts or 0, 8 * p.size, bool(p.is_keyframe))
                   for p in box.demux(video=0) if p.size]  # fmt: skip
    return [(bits, key) for _, bits, key in sorted(packets)]


def video_features(ffmpeg: FFmpeg, source: MediaInfo, shots: Sequence[Shot]) -> list[ShotFeatures]:
    """Features of every shot, from one pass over the video."""
    started = time.monotonic()
    w, h = probe_size(source.width, source.height)
    grey = _Grey(w, h)
    with tempfile.TemporaryDirectory(prefix="vmaftune-features-") as work:
        process.stream_records(
            argv(ffmpeg, source, shots),
            what="the feature pass",
            size=w * h,
            on_record=grey.add,
            cwd=Path(work),
        )
        bits = packet_bits(Path(work) / "probe.mkv")
    total = shots[-1].end if shots else 0
    if len(grey.rows) != total or len(bits) != total:
        raise ToolError(
            f"the feature pass measured {len(grey.rows)} frames and encoded {len(bits)}; the "
            f"shots cover {total}"
        )
    seconds = (time.monotonic() - started) / max(1, len(shots))
    return [_shot(source, s, grey.rows[s.start : s.end], bits[s.start : s.end], w * h, seconds)
            for s in shots]  # fmt: skip


def _shot(
    source: MediaInfo,
    shot: Shot,
    rows: Sequence[tuple[float, float | None, float, float]],
    bits: Sequence[tuple[int, bool]],
    area: int,
    seconds: float,
) -> ShotFeatures:
    si = [r[0] for r in rows]
    # TI within the shot: its first frame differs from the last one of the shot before.
    ti = [r[1] for r in rows[1:] if r[1] is not None] or [0.0]
    rest = [b for b, _ in bits[1:]] or [bits[0][0]]
    values = (
        math.log2(source.width * source.height),
        float(source.frame_rate),
        float(np.mean(si)),
        float(np.max(si)),
        float(np.mean(ti)),
        float(np.max(ti)),
        float(np.mean([r[2] for r in rows])),
        float(np.mean([r[3] for r in rows])),
        sum(b for b, _ in bits) / (len(bits) * area),
        bits[0][0] / area,
        float(np.mean(rest)) / area,
        float(np.max(rest)) / area,
    )
    return ShotFeatures(shot.index, values, round(seconds, 3))
