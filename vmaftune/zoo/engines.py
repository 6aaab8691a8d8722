"""Where the zoo's frame models run: the patched FFmpeg's filters or onnxruntime in
Python (two engines, one result), on which device, and the decoding both share.

The filter engine runs the bytes that `registry.load` verified: they are written into a
private folder and the filter is pointed at that copy, so no engine can run a file that
changed after the check, and no user path needs escaping inside a filtergraph.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError, ProcessError, ToolError, UsageError, VmaftuneError
from vmaftune.steps.probe import MediaInfo, local
from vmaftune.zoo import registry as models

if TYPE_CHECKING:
    import av

ENGINES = ("auto", "ffmpeg", "python")
DEVICES = ("cpu", "cuda", "auto")

# What the C filters accept (filters/vmaf_model.c pix_fmts), by FFmpeg/PyAV name.
FILTER_PIX_FMTS = frozenset(
    {
        "gray", "gray10le",
        "yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p",
        "yuv420p10le", "yuv422p10le", "yuv444p10le",
    }
)  # fmt: skip


def work_pix_fmt(wanted: str, depth: int) -> str:
    """The format the model runs on: the encoder's when the filters take it, else planar
    4:2:0 at the source's depth (the encoder FFmpeg converts from there)."""
    if wanted in FILTER_PIX_FMTS:
        return wanted
    return "yuv420p" if depth <= 8 else "yuv420p10le"


def pick_engine(engine: str, patched: FFmpeg | None) -> FFmpeg | None:
    """The patched FFmpeg to run the filters in, or None for the Python engine."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be auto, ffmpeg or python, not {engine!r}")
    if engine == "ffmpeg" and patched is None:
        raise ToolError(
            "--engine ffmpeg: no FFmpeg with the zoo's filters (vmaf_pre, vmaf_post, "
            "vmaf_pre_temporal, vmaf_tiny); run `make ffmpeg` "
            "or set $VMAFTUNE_PATCHED_FFMPEG"
        )
    return None if engine == "python" else patched


def providers(device: str) -> tuple[str, ...]:
    """onnxruntime's providers for a device, failing as the C filters do when CUDA is asked
    for and onnxruntime does not offer it."""
    import onnxruntime

    offered = onnxruntime.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in offered
    if device == "cuda" and not has_cuda:
        raise ToolError(
            "device=cuda: this onnxruntime offers no CUDA execution provider (install "
            "onnxruntime-gpu on a machine with an NVIDIA GPU, or use device=cpu)"
        )
    if device in ("cuda", "auto") and has_cuda:
        return ("CUDAExecutionProvider", "CPUExecutionProvider")
    return ("CPUExecutionProvider",)


def cuda_runs() -> bool:
    """Whether onnxruntime really runs a model on a CUDA device here (the provider may be
    offered while the device, driver or CUDA libraries are missing)."""
    import onnxruntime

    # A missing device is the answer, not an error to print.
    onnxruntime.set_default_logger_severity(4)
    try:
        model = models.load("vmaf_tiny")
        session = model.session(("CUDAExecutionProvider", "CPUExecutionProvider"))
    except VmaftuneError:
        return False
    finally:
        onnxruntime.set_default_logger_severity(3)
    return "CUDAExecutionProvider" in session.get_providers()


def copy_model(model: models.LoadedModel, folder: Path) -> str:
    (folder / "model.onnx").write_bytes(model.data)
    return "model.onnx"


@contextmanager
def filter_says(name: str) -> Iterator[None]:
    """FFmpeg's last line after a filter fails is a generic follow-up ("Nothing was
    written..."); the filter's own line names the cause, so that one leads the message."""
    try:
        yield
    except ProcessError as exc:
        prefix = re.compile(rf"^\[Parsed_{name}_\d+ @ [^\]]+\] ?")
        for line in exc.stderr_tail.splitlines():
            if prefix.match(line):
                cause = prefix.sub("", line).strip()
                raise ProcessError(
                    f"{name} (patched FFmpeg) failed: {cause}",
                    exc.argv, exc.returncode, exc.stderr_tail,
                ) from None  # fmt: skip
        raise


def plane(frame: av.VideoFrame, index: int, dtype: np.dtype[np.generic]) -> np.ndarray:
    plane = frame.planes[index]
    row = plane.line_size // dtype.itemsize
    data: np.ndarray = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, row)
    return data[:, : plane.width]


def set_plane(frame: av.VideoFrame, index: int, values: np.ndarray) -> None:
    plane = frame.planes[index]
    row = plane.line_size // values.dtype.itemsize
    padded = np.zeros((plane.height, row), dtype=values.dtype)
    padded[:, : plane.width] = values
    plane.update(padded.tobytes())


def decoded(source: MediaInfo, pix_fmt: str) -> Iterator[tuple[av.VideoFrame, Fraction]]:
    """Every frame of the first video stream in `pix_fmt`, with the stream's frame rate as
    FFmpeg guesses it (what the filter engine's output carries)."""
    import av

    try:
        container = av.open(local(source.path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{source.path}: cannot be opened: {exc}") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.guessed_rate or stream.average_rate or Fraction(25)
        try:
            for packet in container.demux(stream):
                # An empty packet with a time repeats the frame before (Theora): FFmpeg's
                # decode skips it, and handing it to the decoder would read as the end
                # of the stream. The last, timeless empty packet drains the decoder.
                if packet.size == 0 and packet.pts is not None:
                    continue
                for frame in packet.decode():
                    if frame.format.name != pix_fmt:
                        frame = frame.reformat(format=pix_fmt)
                    yield frame, Fraction(rate)
        except av.error.FFmpegError as exc:
            raise InputError(f"{source.path}: cannot be decoded: {exc}") from None


def frame_samples(pix_fmt: str, w: int, h: int) -> int:
    """Samples in one frame of a FILTER_PIX_FMTS format."""
    if pix_fmt.startswith("gray"):
        return w * h
    cw = w if "444" in pix_fmt else (w + 1) // 2
    ch = (h + 1) // 2 if "420" in pix_fmt else h
    return w * h + 2 * cw * ch


def depth(pix_fmt: str) -> int:
    return 10 if "10" in pix_fmt else 8
