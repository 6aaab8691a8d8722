"""The saliency model over a video in Python: per frame, the model's block map from the
frame's luma and the previous frame's (the vmaf_roi filter's input, filters/vf_vmaf_roi.c),
then the shared smoothing and levels of vmaftune.steps.roi."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError
from vmaftune.steps.probe import MediaInfo
from vmaftune.steps.roi import LEVELS, RoiOptions, Smoother, levels
from vmaftune.zoo import engines
from vmaftune.zoo import registry as models
from vmaftune.zoo.inference import PlaneModel

DEFAULT_MODEL = "vmaf_saliency"


@dataclass(frozen=True)
class FrameMap:
    index: int
    time: float  # seconds, from the frame's timestamp
    saliency: np.ndarray  # smoothed model output, float32 [rows, cols]
    levels: np.ndarray  # int8 [rows, cols]


def frame_maps(
    video: MediaInfo,
    model: models.LoadedModel,
    options: RoiOptions,
    *,
    limit: int | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> Iterator[FrameMap]:
    """Each decoded frame's smoothed saliency and levels, in decode order."""
    runner = PlaneModel(model.session(), model.name, model.range)
    pix_fmt = engines.work_pix_fmt(video.pix_fmt, video.bit_depth)
    depth = engines.depth(pix_fmt)
    dtype = np.dtype("<u2" if depth > 8 else "u1")
    smoother = Smoother(options.smooth)
    previous: np.ndarray | None = None
    for n, (frame, _rate) in enumerate(engines.decoded(video, pix_fmt)):
        if limit is not None and n >= limit:
            break
        luma = engines.plane(frame, 0, dtype)
        prev = luma if previous is None else previous
        out = runner.run(np.stack([luma, prev]), depth)[0, 0]
        smoothed = smoother(out)
        previous = luma
        t = float(frame.time) if frame.time is not None else n / float(video.frame_rate or 25)
        yield FrameMap(n, t, smoothed.copy(), levels(smoothed))
        if on_frame is not None:
            on_frame(n + 1)


_MAP_LINE = re.compile(r"^lavfi\.vmaf_roi\.map=(\S+)$")


def video_levels(
    video: MediaInfo, model: models.LoadedModel, options: RoiOptions, patched: FFmpeg | None
) -> tuple[list[np.ndarray], str]:
    """Every frame's levels, from the vmaf_roi filter of the patched FFmpeg when given,
    else from Python (the same maps), and which engine made them."""
    if patched is None:
        maps = [f.levels for f in frame_maps(video, model, options)]
        return maps, "python onnxruntime"
    pix_fmt = engines.work_pix_fmt(video.pix_fmt, video.bit_depth)
    with engines.filter_says("vmaf_roi"), tempfile.TemporaryDirectory(prefix="vmaftune-") as tmp:
        # The model's verified bytes, by a name relative to the run's folder.
        path = engines.copy_model(model, Path(tmp))
        graph = (f"format={pix_fmt},vmaf_roi=model={path}:strength={options.strength!r}"
                 f":smooth={options.smooth!r},metadata=print:file=-")  # fmt: skip
        source = f"file:{video.path.resolve()}"
        argv = patched.argv("-i", source, "-map", "0:v:0", "-fps_mode", "passthrough",
                            "-vf", graph, "-f", "null", "-")  # fmt: skip
        out = process.run(argv, what="saliency maps (vmaf_roi)", cwd=Path(tmp)).stdout
    maps = []
    for line in out.splitlines():
        m = _MAP_LINE.match(line.strip())
        if m:
            rows = m.group(1).split("/")
            maps.append(np.array([[ord(c) - 48 - LEVELS for c in r] for r in rows], np.int8))
    if not maps:
        raise InputError(f"{video.path}: the vmaf_roi filter gave no frames")
    return maps, "ffmpeg vmaf_roi"
