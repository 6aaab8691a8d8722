"""What an encoded stream says of each frame's compression, read with PyAV: its packet's
bits, and, where the decoder exports them (`export_side_data=venc_params`), the block QPs.

The no-reference score sees the decoded pixels; these are the cheap extra facts a transcode
graph also has (issue 19). FFmpeg 9.0.2 fills AV_FRAME_DATA_VIDEO_ENC_PARAMS in its H.264,
VP9 and MPEG-1/2/4-part-2 decoders (h264dec.c, vp9.c, mpegvideo_dec.c), not in HEVC or
AV1: for those, qp is None and only the bits remain. Inside an FFmpeg filter the bits are
out of reach (AVFrame.pkt_size is gone in FFmpeg 9), so this is the Python side's view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# PyAV 18 has the class but its type stubs do not list it.
from av.sidedata.sidedata import VideoEncParams  # type: ignore[attr-defined]

from vmaftune.errors import InputError


@dataclass(frozen=True)
class FrameStream:
    """One decoded frame, in presentation order."""

    index: int
    bits: int  # its packet's size in bits (0 when no packet carried its timestamp)
    key: bool
    qp: float | None  # mean H.264 block QP as the decoder exported it; None: not exported
    qp_std: float | None  # spread of the block QPs over the frame


def frames(path: Path, limit: int | None = None) -> Iterator[FrameStream]:
    """Each frame of the first video stream, decoded once, with its packet's bits and its
    block QPs when the decoder exports them."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: cannot read the stream ({exc})") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.codec_context.options = {"export_side_data": "venc_params"}
        # Never frame threads: h264dec would export the QPs of a picture that another
        # thread has not finished (see vmaftune.zoo.scores).
        stream.thread_type = "SLICE"
        sizes: dict[int | None, int] = {}
        decoded: list[tuple[int | None, bool, float | None, float | None]] = []
        try:
            for packet in container.demux(stream):
                # An empty packet with a time repeats the frame before (Theora): skipped,
                # as FFmpeg's decode and vmaftune.zoo.engines.decoded skip it.
                if packet.size == 0 and packet.pts is not None:
                    continue
                if packet.size:
                    sizes[packet.pts] = packet.size * 8
                for frame in packet.decode():
                    decoded.append((frame.pts, frame.key_frame, *_qp(frame)))
                if limit is not None and len(decoded) >= limit:
                    break
        except av.FFmpegError as exc:
            raise InputError(f"{path}: the stream does not decode ({exc})") from exc
    # Decoders return frames in presentation order; a frame's timestamp is its packet's.
    for index, (pts, key, qp, spread) in enumerate(decoded[:limit]):
        yield FrameStream(index, sizes.get(pts, 0), key, qp, spread)


# AVVideoEncParamsType: QPs of other codecs (VP9's qindex, MPEG-2's qscale) are on other
# scales, which the no-reference model never saw.
H264 = 1


def _qp(frame: av.VideoFrame) -> tuple[float | None, float | None]:
    # The container's keys are the side data objects themselves (PyAV 18).
    for entry in frame.side_data:
        if not isinstance(entry, VideoEncParams) or entry.codec_type != H264:
            continue
        if not entry.nb_blocks:  # a frame-level QP only
            return float(entry.qp), 0.0
        qp = np.asarray(entry.qp_map(), dtype=np.float64)
        return float(qp.mean()), float(qp.std())
    return None, None


# The stream half of the no-reference model's input (vmaf_post_nr: models/vmaf_post_nr.md),
# in this order; vf_vmaf_post.c fills the QP three from the side data and leaves the rest 0.
STREAM_FEATURES = (
    "has_qp", "qp", "qp_std", "has_bits", "log2_bpp", "log2_mean_bpp", "h264", "hevc", "av1",
)  # fmt: skip
CODECS = ("h264", "hevc", "av1")
# Decoder names (MediaInfo.codec) of those codecs.
_FAMILY = {"h264": "h264", "hevc": "hevc", "av1": "av1", "libdav1d": "av1", "libaom-av1": "av1"}


def codec_family(decoder: str) -> str | None:
    """The CODECS entry a decoder's name stands for; None for codecs the model never saw."""
    return _FAMILY.get(decoder)


def vector(
    frame: FrameStream | None,
    *,
    pixels: int,
    mean_bits: float | None = None,
    codec: str | None = None,
) -> np.ndarray:
    """STREAM_FEATURES for one frame: its QPs when exported, its bits and the stream's mean
    bits per frame when known (with the codec, without which bits mean little)."""
    v = np.zeros(len(STREAM_FEATURES), dtype=np.float32)
    if frame is not None and frame.qp is not None:
        v[0:3] = 1.0, frame.qp, frame.qp_std or 0.0
    if frame is not None and mean_bits and codec in CODECS:
        v[3] = 1.0
        v[4] = np.log2(max(frame.bits, 1) / pixels)
        v[5] = np.log2(max(mean_bits, 1.0) / pixels)
        v[6 + CODECS.index(codec)] = 1.0
    return v
