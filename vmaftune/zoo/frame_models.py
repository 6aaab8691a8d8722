"""The zoo's frame models over whole videos: `encode --pre` (vmaf_pre, vmaf_pre_temporal),
`score --nr` (vmaf_post) and `score --tiny-fr` (vmaf_tiny).

Two engines, one result. With the patched FFmpeg (`make ffmpeg`, found by
`toolchain.patched_ffmpeg`) its filters run the model inside FFmpeg; without it, PyAV
(or, for the two-input vmaf_tiny, the bundled FFmpeg) decodes, `vmaftune.zoo.inference` does
the filters' arithmetic in onnxruntime, and the frames go on to the bundled FFmpeg. Both
engines run the bytes that `models.load` verified: they are written into a private folder
and the filter is pointed at that copy, so no engine can run a file that changed after
the check, and no user path needs escaping inside a filtergraph.

Pre-filtered frames travel as raw video in NUT on a pipe, so the encoder sees the same
frames and timestamps from either engine; the encoder sets the source's pixel aspect
itself (PyAV cannot write it into NUT).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.progress import PROGRESS_ARGS, Progress, ProgressParser
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError, ProcessError, ToolError, UsageError, VmaftuneError
from vmaftune.steps.probe import MediaInfo
from vmaftune.steps.score import Pooled, pool
from vmaftune.zoo import registry as models
from vmaftune.zoo.inference import PlaneModel, fr_score, nr_score, prefilter_plane, temporal_plane

if TYPE_CHECKING:
    import av

ENGINES = ("auto", "ffmpeg", "python")
DEVICES = ("cpu", "cuda", "auto")
PLANES = ("luma", "all")
DEFAULT_NR_MODEL = "vmaf_post_nr"

# What the C filters accept (filters/vmaf_model.c pix_fmts), by FFmpeg/PyAV name.
FILTER_PIX_FMTS = frozenset(
    {
        "gray", "gray10le",
        "yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p",
        "yuv420p10le", "yuv422p10le", "yuv444p10le",
    }
)  # fmt: skip


PRE_FILTERS = {
    # filter name: (model kind, its options)
    "vmaf_pre": ("prefilter", ("model", "planes", "strength", "device")),
    "vmaf_pre_temporal": ("temporal", ("model", "planes", "strength", "device")),
}
PRE_USAGE = (
    "vmaf_pre=model=ID|PATH[:planes=luma|all][:strength=0..1][:device=cpu|cuda|auto] or "
    "vmaf_pre_temporal=model=ID|PATH[:planes=luma|all][:strength=0..1][:device=cpu|cuda|auto]"
)


@dataclass(frozen=True)
class PreFilter:
    """`vmaf_pre=model=ID|PATH[:planes=luma|all][:strength=0..1][:device=cpu|cuda|auto]`, or
    `vmaf_pre_temporal=` with the same options (a 5-frame window)."""

    model: str
    planes: str = "luma"
    strength: float = 1.0
    device: str = "cpu"
    name: str = "vmaf_pre"

    @property
    def kind(self) -> str:
        return PRE_FILTERS[self.name][0]

    @property
    def temporal(self) -> bool:
        return self.name == "vmaf_pre_temporal"

    @staticmethod
    def parse(spec: str) -> PreFilter:
        name, sep, args = spec.partition("=")
        if name not in PRE_FILTERS or not sep:
            raise UsageError(f"--pre {spec!r}: expected {PRE_USAGE}")
        allowed = PRE_FILTERS[name][1]
        options: dict[str, str] = {}
        for part in args.split(":"):
            key, eq, value = part.partition("=")
            if not eq or key not in allowed:
                raise UsageError(
                    f"--pre: unknown option {part!r}; {name} takes {', '.join(allowed)}"
                )
            options[key] = value
        if not options.get("model"):
            raise UsageError(f"--pre {name} needs model=ID|PATH")
        planes = options.get("planes", "luma")
        device = options.get("device", "cpu")
        if planes not in PLANES:
            raise UsageError(f"--pre: planes must be luma or all, not {planes!r}")
        if device not in DEVICES:
            raise UsageError(f"--pre: device must be cpu, cuda or auto, not {device!r}")
        try:
            strength = float(options.get("strength", "1"))
        except ValueError:
            strength = -1.0
        if not 0.0 <= strength <= 1.0:
            raise UsageError(
                f"--pre: strength must be a number from 0 to 1, not {options['strength']!r}"
            )
        return PreFilter(options["model"], planes, strength, device, name)

    def filter(self, model_file: str) -> str:
        # The planes/strength/device values come from the fixed sets checked above, so
        # nothing here needs filtergraph escaping.
        return (
            f"{self.name}=model={model_file}:planes={self.planes}:strength={self.strength!r}"
            f":device={self.device}"
        )

    def spec(self) -> str:
        return self.filter(self.model)


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


def _copy_model(model: models.LoadedModel, folder: Path) -> str:
    (folder / "model.onnx").write_bytes(model.data)
    return "model.onnx"


@contextmanager
def _filter_says(name: str) -> Iterator[None]:
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


# --- pre-filter: a NUT stream of filtered raw frames -------------------------------------


def pre_feed(
    source: MediaInfo,
    pre: PreFilter,
    pix_fmt: str,
    patched: FFmpeg | None,
) -> Callable[[IO[bytes]], None]:
    """A function that writes the pre-filtered video of `source` as NUT into a pipe."""
    model = models.load(pre.model, kind=pre.kind)
    if patched is not None:
        return lambda sink: _pre_ffmpeg(patched, source, pre, model, pix_fmt, sink)
    session = model.session(providers(pre.device))
    plane_model = PlaneModel(session, model.name)
    return lambda sink: _pre_python(source, pre, plane_model, pix_fmt, sink)


def _pre_ffmpeg(
    ffmpeg: FFmpeg,
    source: MediaInfo,
    pre: PreFilter,
    model: models.LoadedModel,
    pix_fmt: str,
    sink: IO[bytes],
) -> None:
    with tempfile.TemporaryDirectory(prefix="vmaftune-pre-") as work:
        name = _copy_model(model, Path(work))
        argv = ffmpeg.argv(
            "-i", f"file:{source.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-fps_mode", "passthrough",
            "-vf", f"format={pix_fmt},{pre.filter(name)}",
            # The source's time base, as the Python engine writes it.
            "-enc_time_base", "demux",
            "-c:v", "rawvideo", "-f", "nut", "pipe:1",
        )  # fmt: skip
        with _filter_says(pre.name):
            process.stream_bytes(argv, what=f"{pre.name} (patched FFmpeg)", sink=sink,
                                 cwd=Path(work))  # fmt: skip


def _plane(frame: av.VideoFrame, index: int, dtype: np.dtype[np.generic]) -> np.ndarray:
    plane = frame.planes[index]
    row = plane.line_size // dtype.itemsize
    data: np.ndarray = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, row)
    return data[:, : plane.width]


def _set_plane(frame: av.VideoFrame, index: int, values: np.ndarray) -> None:
    plane = frame.planes[index]
    row = plane.line_size // values.dtype.itemsize
    padded = np.zeros((plane.height, row), dtype=values.dtype)
    padded[:, : plane.width] = values
    plane.update(padded.tobytes())


def _decoded(source: MediaInfo, pix_fmt: str) -> Iterator[tuple[av.VideoFrame, Fraction]]:
    """Every frame of the first video stream in `pix_fmt`, with the stream's frame rate as
    FFmpeg guesses it (what the filter engine's output carries)."""
    import av

    try:
        container = av.open(str(source.path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{source.path}: cannot be opened: {exc}") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.guessed_rate or stream.average_rate or Fraction(25)
        try:
            for frame in container.decode(stream):
                if frame.format.name != pix_fmt:
                    frame = frame.reformat(format=pix_fmt)
                yield frame, Fraction(rate)
        except av.error.FFmpegError as exc:
            raise InputError(f"{source.path}: cannot be decoded: {exc}") from None


def _frame_samples(pix_fmt: str, w: int, h: int) -> int:
    """Samples in one frame of a FILTER_PIX_FMTS format."""
    if pix_fmt.startswith("gray"):
        return w * h
    cw = w if "444" in pix_fmt else (w + 1) // 2
    ch = (h + 1) // 2 if "420" in pix_fmt else h
    return w * h + 2 * cw * ch


def _depth(pix_fmt: str) -> int:
    return 10 if "10" in pix_fmt else 8


def _pre_python(
    source: MediaInfo, pre: PreFilter, model: PlaneModel, pix_fmt: str, sink: IO[bytes]
) -> None:
    import av

    out = av.open(sink, "w", format="nut")
    depth = _depth(pix_fmt)
    dtype = np.dtype("<u2" if depth > 8 else "u1")
    with out:
        stream = None
        decoded = _decoded(source, pix_fmt)
        filtered = (_temporal_frames(decoded, pre, model, depth, dtype) if pre.temporal
                    else _spatial_frames(decoded, pre, model, depth, dtype))  # fmt: skip
        for frame, rate in filtered:
            if stream is None:
                stream = out.add_stream("rawvideo", rate=rate)
                stream.width, stream.height = frame.width, frame.height
                stream.pix_fmt = pix_fmt
                time_base = frame.time_base or Fraction(1, 90000)
                stream.time_base = time_base
                stream.codec_context.time_base = time_base
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode(None))


Decoded = Iterator[tuple["av.VideoFrame", Fraction]]


def _spatial_frames(decoded: Decoded, pre: PreFilter, model: PlaneModel, depth: int,
                    dtype: np.dtype[np.generic]) -> Decoded:  # fmt: skip
    for frame, rate in decoded:
        # The decoder may still read this picture as a reference: filter a copy, as
        # the C filter does with ff_inlink_make_frame_writable.
        frame.make_writable()
        for p in range(len(frame.planes) if pre.planes == "all" else 1):
            filtered = prefilter_plane(model, _plane(frame, p, dtype), depth, pre.strength)
            _set_plane(frame, p, filtered)
        yield frame, rate


def _temporal_frames(decoded: Decoded, pre: PreFilter, model: PlaneModel, depth: int,
                     dtype: np.dtype[np.generic]) -> Decoded:  # fmt: skip
    """Each frame filtered from copies of its window's planes (the frame itself is rewritten
    only once it is the centre, while its neighbours read the copies)."""

    def with_planes() -> Iterator[tuple[tuple[av.VideoFrame, Fraction], list[np.ndarray]]]:
        for frame, rate in decoded:
            count = len(frame.planes) if pre.planes == "all" else 1
            yield (frame, rate), [_plane(frame, p, dtype).copy() for p in range(count)]

    for centre, window in temporal_windows(with_planes()):
        (frame, rate), _ = centre
        frame.make_writable()
        for p in range(len(window[0][1])):
            stack = np.stack([planes[p] for _, planes in window])
            _set_plane(frame, p, temporal_plane(model, stack, depth, pre.strength))
        yield frame, rate


T = TypeVar("T")


def temporal_windows(items: Iterable[T], half: int = 2) -> Iterator[tuple[T, list[T]]]:
    """Each item with its window of 2*half + 1 items centred on it, mirrored at both ends
    (item -1 is item 1, item n is item n-2; clamped for very short runs), as the
    vmaf_pre_temporal filter builds it. Holds at most 2*half + 1 items."""
    buf: list[T] = []
    first = 0  # index of buf[0]
    n = 0
    done = 0

    def at(i: int, end: bool) -> T:
        if i < 0:
            i = -i
        if end and i >= n:
            i = 2 * (n - 1) - i
        return buf[min(max(i, 0), n - 1) - first]

    def emit(end: bool) -> tuple[T, list[T]]:
        nonlocal first, done
        t = done
        window = [at(t + d, end) for d in range(-half, half + 1)]
        done += 1
        while buf and first < done - half:
            buf.pop(0)
            first += 1
        return window[half], window

    for item in items:
        buf.append(item)
        n += 1
        while done + half < n:
            yield emit(False)
    while done < n:
        yield emit(True)


# --- no-reference score ------------------------------------------------------------------


@dataclass(frozen=True)
class NrScore:
    model: str
    engine: str  # "ffmpeg vmaf_post" or "python onnxruntime"
    frames: tuple[float, ...]  # per frame, rounded to 6 decimals as the filter prints them
    pooled: Pooled


def nr_video(
    video: MediaInfo,
    model_name: str,
    patched: FFmpeg | None,
    *,
    device: str = "cpu",
    on_progress: Callable[[Progress], None] | None = None,
) -> NrScore:
    """The no-reference model's score of every frame of `video`, and its pooling."""
    model = models.load(model_name, kind="nr")
    pix_fmt = work_pix_fmt(video.pix_fmt, video.bit_depth)
    if patched is not None:
        frames = _nr_ffmpeg(patched, video, model, pix_fmt, device, on_progress)
        engine = "ffmpeg vmaf_post"
    else:
        plane_model = PlaneModel(model.session(providers(device)), model.name)
        frames = _nr_python(video, plane_model, pix_fmt, on_progress)
        engine = "python onnxruntime"
    if not frames:
        raise InputError(f"{video.path}: no frames were decoded")
    return NrScore(model_name, engine, frames, pool(np.asarray(frames, dtype=np.float64)))


_SCORE_LINE = re.compile(r"^lavfi\.vmaf_post\.score=(\S+)$")


def _nr_ffmpeg(
    ffmpeg: FFmpeg,
    video: MediaInfo,
    model: models.LoadedModel,
    pix_fmt: str,
    device: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[float, ...]:
    with tempfile.TemporaryDirectory(prefix="vmaftune-nr-") as work:
        name = _copy_model(model, Path(work))
        graph = (
            f"format={pix_fmt},vmaf_post=model={name}:device={device},"
            "metadata=print:key=lavfi.vmaf_post.score:file=scores.txt"
        )
        argv = ffmpeg.argv(
            "-i", f"file:{video.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-fps_mode", "passthrough",
            "-vf", graph,
            *PROGRESS_ARGS,
            "-f", "null", "-",
        )  # fmt: skip
        parser = ProgressParser(on_progress or (lambda _p: None))
        with _filter_says("vmaf_post"):
            process.stream_lines(
                argv, what="vmaf_post (patched FFmpeg)", on_line=parser.feed, cwd=Path(work)
            )
        text = (Path(work) / "scores.txt").read_text()
    scores = []
    for line in text.splitlines():
        match = _SCORE_LINE.match(line.strip())
        if match:
            scores.append(float(match.group(1)))
    return tuple(scores)


def _nr_python(
    video: MediaInfo,
    model: PlaneModel,
    pix_fmt: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[float, ...]:
    scores = []
    depth = _depth(pix_fmt)
    for n, (frame, _rate) in enumerate(_decoded(video, pix_fmt), start=1):
        luma = _plane(frame, 0, np.dtype("<u2" if depth > 8 else "u1"))
        # Through the same "%.6f" text the filter writes, so both engines agree exactly.
        scores.append(float(f"{nr_score(model, luma, depth):.6f}"))
        if on_progress is not None and n % 10 == 0:
            on_progress(Progress(frame=n, out_time=0.0, speed=None, done=False))
    return tuple(scores)


# --- tiny full-reference score (vmaf_tiny filter) ----------------------------------------

DEFAULT_FR_MODEL = "vmaf_tiny_fr"


def _fr_chains(reference: MediaInfo, distorted: MediaInfo, pix_fmt: str) -> tuple[str, str]:
    """The distorted and reference chains both engines run before the model: the distorted
    scaled to the reference's size (bicubic, as `score` does), both in one format, and
    stamped by frame index so frames pair by position."""
    scale = ""
    if (distorted.width, distorted.height) != (reference.width, reference.height):
        scale = f"scale={reference.width}:{reference.height}:flags=bicubic,"
    stamps = "settb=1/1000,setpts=N"
    return f"{scale}format={pix_fmt},{stamps}", f"format={pix_fmt},{stamps}"


def fr_video(
    reference: MediaInfo,
    distorted: MediaInfo,
    model_name: str,
    patched: FFmpeg | None,
    ffmpeg: FFmpeg,
    *,
    device: str = "cpu",
) -> NrScore:
    """The tiny full-reference model's score of every frame pair (the shorter video's
    count), from the patched FFmpeg's vmaf_tiny filter or, without it, from frames the
    bundled FFmpeg prepares with the same chains and onnxruntime."""
    model = models.load(model_name, kind="fr_pixel")
    pix_fmt = work_pix_fmt(reference.pix_fmt, reference.bit_depth)
    dis_chain, ref_chain = _fr_chains(reference, distorted, pix_fmt)
    inputs = ("-i", f"file:{distorted.path.resolve()}", "-i", f"file:{reference.path.resolve()}")
    with tempfile.TemporaryDirectory(prefix="vmaftune-fr-") as work:
        if patched is not None:
            name = _copy_model(model, Path(work))
            graph = (
                f"[0:v]{dis_chain}[d];[1:v]{ref_chain}[r];"
                f"[d][r]vmaf_tiny=model={name}:device={device}:shortest=1,"
                "metadata=print:key=lavfi.vmaf_tiny.score:file=scores.txt"
            )
            argv = patched.argv(*inputs, "-filter_complex", graph, "-an", "-sn", "-dn",
                                "-f", "null", "-")  # fmt: skip
            with _filter_says("vmaf_tiny"):
                process.run(argv, what="vmaf_tiny (patched FFmpeg)", cwd=Path(work))
            text = (Path(work) / "scores.txt").read_text()
            frames = tuple(float(m) for m in re.findall(r"lavfi\.vmaf_tiny\.score=(\S+)", text))
            engine = "ffmpeg vmaf_tiny"
        else:
            plane_model = PlaneModel(model.session(providers(device)), model.name)
            frames = _fr_python(ffmpeg, inputs, dis_chain, ref_chain, reference, pix_fmt,
                                plane_model)  # fmt: skip
            engine = "python onnxruntime"
    if not frames:
        raise InputError(f"{distorted.path}: no frame pairs were scored")
    return NrScore(model_name, engine, frames, pool(np.asarray(frames, dtype=np.float64)))


def _fr_python(
    ffmpeg: FFmpeg,
    inputs: tuple[str, ...],
    dis_chain: str,
    ref_chain: str,
    reference: MediaInfo,
    pix_fmt: str,
    model: PlaneModel,
) -> tuple[float, ...]:
    # Each pair arrives as one picture: distorted above, reference below, in the filters'
    # own format (a conversion to grey could rescale the samples); its luma plane is read.
    depth = _depth(pix_fmt)
    w, h = reference.width, reference.height
    dtype = np.dtype("<u2" if depth > 8 else "u1")
    graph = f"[0:v]{dis_chain}[d];[1:v]{ref_chain}[r];[d][r]vstack=shortest=1[o]"
    # Index stamps 1 ms apart: passthrough, or the muxer's rate would drop frames.
    argv = ffmpeg.argv(*inputs, "-filter_complex", graph, "-map", "[o]",
                       "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1")  # fmt: skip
    scores: list[float] = []

    def on_pair(record: bytes) -> None:
        both = np.frombuffer(record, dtype, count=2 * w * h).reshape(2, h, w)
        scores.append(round(fr_score(model, both, depth), 6))

    size = _frame_samples(pix_fmt, w, 2 * h) * dtype.itemsize
    process.stream_records(argv, what="the tiny full-reference pass", size=size, on_record=on_pair)
    return tuple(scores)
