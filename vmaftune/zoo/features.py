"""Cheap per-shot features: what the setting predictor sees of a shot (the input of the
`predict` step).

One FFmpeg run over the whole video decodes it once, scales it to at most 320 pixels wide
(area averaging) and feeds these outputs: a grey copy to this process, for spatial and
temporal information (SI/TI as ITU-T P.910 defines them: std of the Sobel magnitude and of
the frame difference) and luma statistics; a lossless copy (FFV1); and fast probe encodes
(x264 ultrafast at PROBE_CRFS, a keyframe at every shot start as the per-shot encodes
have). A second, small run scores each probe against the lossless copy with libvmaf.
How many bits a shot needs at a fixed CRF is the classic measure of how hard it is to
encode; the probes' VMAF at three CRFs sketches the shape of the shot's own curve, at a
small size. Each shot's features are statistics over its own frames. Their cost against
a production-preset encode is in docs/benchmarks.md.

(x264's per-frame QP and PSNR would be welcome too, but FFmpeg's -vstats file is shared
by the encoder threads of both outputs and their lines interleave.)
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import ToolError
from vmaftune.steps.probe import MediaInfo, local
from vmaftune.steps.score import VmafOptions
from vmaftune.steps.shots import Shot

PROBE_WIDTH = 320
PROBE_CRFS = (20, 28, 36)  # the middle one also gives the key/inter frame split
PROBE_CRF = PROBE_CRFS[1]
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
    "probe_lo_bpp",  # whole shot at PROBE_CRFS[0]
    "probe_hi_bpp",  # and at PROBE_CRFS[2]
    "probe_vmaf_lo",  # mean VMAF of the probe at PROBE_CRFS[0] against the lossless copy
    "probe_vmaf",  # at PROBE_CRF
    "probe_vmaf_hi",  # at PROBE_CRFS[2]
    "probe_vmaf_min",  # the worst frame at PROBE_CRF
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


def _probe_name(crf: int) -> str:
    return f"probe{crf}.mkv"


def argv(ffmpeg: FFmpeg, source: MediaInfo, shots: Sequence[Shot]) -> list[str]:
    w, h = probe_size(source.width, source.height)
    n = len(PROBE_CRFS)
    encs = "".join(f"[e{i}]" for i in range(n))
    # Frames are restamped 0, 1, 2, ... at the nominal rate and keyframes placed by frame
    # number: a file's own timestamps may not rise (cuts.py), the frames' order does.
    rate = source.frame_rate or Fraction(25)
    graph = (f"[0:v]settb={rate.denominator}/{rate.numerator},setpts=N,"
             f"scale={w}:{h}:flags=area,format=yuv420p,split={n + 2}{encs}[ref][grey];"
             "[grey]format=gray[g]")  # fmt: skip
    keys = "expr:" + "+".join(f"eq(n,{s.start})" for s in shots)
    probes: list[str] = []
    for i, crf in enumerate(PROBE_CRFS):
        probes += [
            "-map", f"[e{i}]", "-fps_mode", "passthrough",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf),
            "-x264-params", "keyint=infinite", "-force_key_frames", keys,
            "-y", _probe_name(crf),
        ]  # fmt: skip
    return ffmpeg.argv(
        "-i", f"file:{source.path.resolve()}",
        "-filter_complex", graph,
        *probes,
        "-map", "[ref]", "-fps_mode", "passthrough", "-c:v", "ffv1", "-y", "ref.mkv",
        "-map", "[g]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1",
    )  # fmt: skip


def vmaf_argv(ffmpeg: FFmpeg) -> list[str]:
    """Every probe against the lossless copy, in one run; frames pair by index."""
    n = len(PROBE_CRFS)
    inputs: list[str] = []
    for crf in PROBE_CRFS:
        inputs += ["-i", _probe_name(crf)]
    refs = "".join(f"[r{i}]" for i in range(n))
    parts = [f"[{n}:v]setpts=N,split={n}{refs}"]
    for i, crf in enumerate(PROBE_CRFS):
        vmaf = VmafOptions().libvmaf(f"vmaf{crf}.json", shortest=False)
        parts.append(f"[{i}:v]setpts=N[d{i}]")
        parts.append(f"[d{i}][r{i}]{vmaf}[o{i}]")
    maps: list[str] = []
    for i in range(n):
        maps += ["-map", f"[o{i}]"]
    return ffmpeg.argv(*inputs, "-i", "ref.mkv", "-filter_complex", ";".join(parts),
                       *maps, "-f", "null", "-")  # fmt: skip


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

    with av.open(local(path)) as box:
        packets = [(p.pts or 0, 8 * p.size, bool(p.is_keyframe))
                   for p in box.demux(video=0) if p.size]  # fmt: skip
    return [(bits, key) for _, bits, key in sorted(packets)]


def probe_vmaf(log: Path) -> list[float]:
    data = json.loads(log.read_text())
    return [float(f["metrics"]["vmaf"]) for f in data["frames"]]


def video_features(ffmpeg: FFmpeg, source: MediaInfo, shots: Sequence[Shot]) -> list[ShotFeatures]:
    """Features of every shot, from one pass over the video and one over its small copy."""
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
        process.run(vmaf_argv(ffmpeg), what="the feature pass's VMAF", cwd=Path(work))
        bits = {c: packet_bits(Path(work) / _probe_name(c)) for c in PROBE_CRFS}
        vmaf = {c: probe_vmaf(Path(work) / f"vmaf{c}.json") for c in PROBE_CRFS}
    total = shots[-1].end if shots else 0
    counts = {len(grey.rows), *(len(b) for b in bits.values()), *(len(v) for v in vmaf.values())}
    if counts != {total}:
        raise ToolError(
            f"the feature pass measured {len(grey.rows)} frames, encoded "
            f"{[len(b) for b in bits.values()]} and scored {[len(v) for v in vmaf.values()]}; "
            f"the shots cover {total}"
        )
    seconds = (time.monotonic() - started) / max(1, len(shots))
    return [_shot(source, s, grey.rows[s.start : s.end],
                  {c: b[s.start : s.end] for c, b in bits.items()},
                  {c: v[s.start : s.end] for c, v in vmaf.items()}, w * h, seconds)
            for s in shots]  # fmt: skip


def _shot(
    source: MediaInfo,
    shot: Shot,
    rows: Sequence[tuple[float, float | None, float, float]],
    bits: dict[int, Sequence[tuple[int, bool]]],
    vmaf: dict[int, Sequence[float]],
    area: int,
    seconds: float,
) -> ShotFeatures:
    si = [r[0] for r in rows]
    # TI within the shot: its first frame differs from the last one of the shot before.
    ti = [r[1] for r in rows[1:] if r[1] is not None] or [0.0]
    mid = bits[PROBE_CRF]
    rest = [b for b, _ in mid[1:]] or [mid[0][0]]
    lo, _, hi = PROBE_CRFS

    def bpp(crf: int) -> float:
        return sum(b for b, _ in bits[crf]) / (len(bits[crf]) * area)

    values = (
        math.log2(source.width * source.height),
        float(source.frame_rate),
        float(np.mean(si)),
        float(np.max(si)),
        float(np.mean(ti)),
        float(np.max(ti)),
        float(np.mean([r[2] for r in rows])),
        float(np.mean([r[3] for r in rows])),
        bpp(PROBE_CRF),
        mid[0][0] / area,
        float(np.mean(rest)) / area,
        float(np.max(rest)) / area,
        bpp(lo),
        bpp(hi),
        float(np.mean(vmaf[lo])),
        float(np.mean(vmaf[PROBE_CRF])),
        float(np.mean(vmaf[hi])),
        float(np.min(vmaf[PROBE_CRF])),
    )
    return ShotFeatures(shot.index, values, round(seconds, 3))
