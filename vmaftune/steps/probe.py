"""What a video file holds: the first step of every pipeline (probe).

PyAV demuxes the file without decoding: the frame count is the number of video packets
(equal to what `ffmpeg -fps_mode passthrough` decodes on intact files), VFR is read from
the packet timestamps, and a file whose packets end well before its declared duration is
called truncated.
"""

from __future__ import annotations

import itertools
import os
import stat
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vmaftune.errors import InputError

# AVColorTransferCharacteristic values (libavutil/pixfmt.h).
_TRANSFER_NAMES = {
    1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
    8: "linear", 11: "iec61966-2-4", 13: "iec61966-2-1", 14: "bt2020-10",
    15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}  # fmt: skip
_HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
# A file whose readable packets cover less than this share of its declared duration was
# cut short (a copy that stopped, a download that broke off).
_TRUNCATED_BELOW = 0.95


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    frame_rate: Fraction  # average rate: frames / duration
    vfr: bool
    frame_count: int
    duration: float  # seconds, from the first to past the last video frame
    color_transfer: str
    hdr: bool
    has_audio: bool
    video_bytes: int  # sum of the video packets' sizes
    file_bytes: int
    sample_aspect: Fraction = Fraction(1)  # pixel shape; 1 when the file does not say
    # libavutil's color_range, color_primaries, color_trc, colorspace numbers
    # (0, 2, 2, 2: unspecified), for outputs that cannot take them from decoded frames.
    color_tags: tuple[int, int, int, int] = (0, 2, 2, 2)

    @property
    def video_bitrate(self) -> float:
        """Bits per second of the video stream alone."""
        return self.video_bytes * 8 / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["frame_rate"] = float(self.frame_rate)
        data["frame_rate_fraction"] = f"{self.frame_rate.numerator}/{self.frame_rate.denominator}"
        data["video_bitrate"] = round(self.video_bitrate)
        data["sample_aspect"] = f"{self.sample_aspect.numerator}:{self.sample_aspect.denominator}"
        return data


@dataclass(frozen=True)
class Timeline:
    """Every video frame's presentation timestamp, in display order: what a frame-exact
    cut needs and what an output must reproduce."""

    time_base: Fraction
    pts: tuple[int, ...]
    container_start: float  # the container's start time in seconds (FFmpeg's -ss origin)

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def seconds(self) -> list[float]:
        """Each frame's time from the first frame."""
        first = self.pts[0]
        return [float((p - first) * self.time_base) for p in self.pts]

    def frame_ticks(self) -> int:
        """The nominal length of one frame in ticks: the smallest gap between frames."""
        gaps = [b - a for a, b in itertools.pairwise(self.pts)]
        return max(1, min(gaps)) if gaps else max(1, round(1 / (25 * self.time_base)))

    def frame_duration(self, frame: int) -> int:
        """Ticks until the next frame (the nominal frame length for the last)."""
        if frame + 1 < len(self.pts):
            return self.pts[frame + 1] - self.pts[frame]
        return self.frame_ticks()

    def end_seconds(self) -> float:
        """Where the last frame ends, from the first frame's time."""
        return float((self.pts[-1] + self.frame_ticks() - self.pts[0]) * self.time_base)


def check_readable(path: Path) -> None:
    """The input errors a user can cause before any tool runs, as one-line messages."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:  # a link loop, a name too long, ...
        raise InputError(f"{path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a folder, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (a pipe or a device); give a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied)")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def local(path: Path) -> str:
    """A local file as FFmpeg must be told it is one: a name such as `http:x.mp4` would
    otherwise be opened as a URL (the command lines say `file:` for the same reason)."""
    return f"file:{path.resolve()}"


def probe(path: Path) -> MediaInfo:
    return read(path)[0]


def timeline(path: Path) -> Timeline:
    return read(path)[1]


def read(path: Path) -> tuple[MediaInfo, Timeline]:
    """The file's summary and its frame timestamps, from one demux pass."""
    import av  # heavy import; only commands that read media pay for it

    check_readable(path)
    try:
        container = av.open(local(path))
    except av.error.InvalidDataError as exc:
        raise InputError(f"{path}: not a readable video file ({_av_reason(exc)})") from exc
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot open ({_av_reason(exc)})") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height or ctx.format is None:
            raise InputError(f"{path}: video stream has no usable size or pixel format")
        timestamps: list[int] = []
        video_bytes = 0
        # The latest time any packet stands for: an empty packet repeats the frame before
        # (Theora's duplicate frames), so the video reaches that far without a new frame.
        held: int | None = None
        try:
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0:
                    # Also the flush packet demux() yields at the end (no timestamp).
                    if ts is not None:
                        held = ts if held is None else max(held, ts)
                    continue
                if ts is not None:
                    timestamps.append(ts)
                video_bytes += packet.size
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: corrupt or truncated ({_av_reason(exc)})") from exc
        frame_count = len(timestamps)
        if frame_count == 0:
            raise InputError(f"{path}: video stream has no frames")
        time_base = stream.time_base or Fraction(1, 1)
        timestamps.sort()
        deltas = [b - a for a, b in itertools.pairwise(timestamps)]
        # Constant rate allows one tick of jitter: 29.97 fps in a 1/1000 time base
        # alternates 33 and 34 ms.
        vfr = bool(deltas) and max(deltas) - min(deltas) > 1
        nominal = _nominal_rate(stream, deltas, time_base)
        span_ticks = (
            timestamps[-1]
            - timestamps[0]
            + (min(deltas) if deltas else round(1 / (nominal * time_base)))
        )
        duration = float(span_ticks * time_base)
        readable = duration
        if held is not None and held > timestamps[-1]:
            readable = float((held - timestamps[0] + (min(deltas) if deltas else 0)) * time_base)
        declared = stream.duration
        # Every frame the header counts is here (a last frame held long, as in a QuickTime
        # edit): not truncated, whatever the declared duration.
        complete = bool(stream.frames) and frame_count >= stream.frames - 1
        if declared and not complete and readable < _TRUNCATED_BELOW * float(declared * time_base):
            raise InputError(
                f"{path}: truncated: readable video ends at {duration:.2f} s of a declared "
                f"{float(declared * time_base):.2f} s"
            )
        frame_rate = Fraction(frame_count) / Fraction(duration).limit_denominator(1_000_000)
        if not vfr:
            frame_rate = nominal
        transfer_id = int(getattr(ctx, "color_trc", 2) or 2)
        transfer = _TRANSFER_NAMES.get(transfer_id, f"transfer-{transfer_id}")
        pix_fmt = ctx.format.name
        info = MediaInfo(
            path=path,
            container=container.format.name,
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth(pix_fmt),
            frame_rate=frame_rate,
            vfr=vfr,
            frame_count=frame_count,
            duration=duration,
            color_transfer=transfer,
            hdr=transfer in _HDR_TRANSFERS,
            has_audio=bool(container.streams.audio),
            video_bytes=video_bytes,
            file_bytes=path.stat().st_size,
            sample_aspect=_sample_aspect(stream),
            color_tags=(
                int(getattr(ctx, "color_range", 0) or 0),
                int(getattr(ctx, "color_primaries", 2) or 2),
                transfer_id,
                int(getattr(ctx, "colorspace", 2) or 2),
            ),
        )
        start = (container.start_time or 0) / 1_000_000
        return info, Timeline(Fraction(time_base), tuple(timestamps), start)


def _sample_aspect(stream: Any) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


def _nominal_rate(stream: object, deltas: list[int], time_base: Fraction) -> Fraction:
    for attr in ("average_rate", "base_rate", "guessed_rate"):
        rate = getattr(stream, attr, None)
        if rate:
            return Fraction(rate)
    if deltas:
        return 1 / (Fraction(sorted(deltas)[len(deltas) // 2]) * time_base)
    return Fraction(25)


def bit_depth(pix_fmt: str) -> int:
    import av

    try:
        return int(av.VideoFormat(pix_fmt).components[0].bits)
    except (ValueError, IndexError):
        return 8


def _av_reason(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip().lower()
