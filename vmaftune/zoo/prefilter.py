"""`encode --pre`: the learned pre-filters (vmaf_pre, vmaf_pre_temporal) over a whole
video, in the patched FFmpeg or in Python.

Pre-filtered frames travel as raw video in NUT on a pipe, so the encoder sees the same
frames and timestamps from either engine; the encoder sets the source's pixel aspect
itself (PyAV cannot write it into NUT).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import UsageError
from vmaftune.steps.probe import MediaInfo
from vmaftune.zoo import engines, noise
from vmaftune.zoo import registry as models
from vmaftune.zoo.inference import PlaneModel, prefilter_plane, temporal_plane

if TYPE_CHECKING:
    import av

PLANES = ("luma", "all")
OPTIONS = ("model", "planes", "strength", "noise_gate", "noise_full", "max_strength", "device")
PRE_FILTERS = {
    # filter name: model kind
    "vmaf_pre": "prefilter",
    "vmaf_pre_temporal": "temporal",
}
PRE_USAGE = (
    "vmaf_pre=model=ID|PATH[:planes=luma|all][:strength=auto|0..1][:noise_gate=S]"
    "[:noise_full=S][:max_strength=0..1][:device=cpu|cuda|auto], or vmaf_pre_temporal= with "
    "the same options"
)
AUTO = -1.0  # strength=auto: from each frame's measured noise


@dataclass(frozen=True)
class Ramp:
    """strength=auto: 0 below `gate` (noise deviation in 8-bit code values: clean frames pass
    untouched), rising linearly to `ceiling` at `full`, flat above."""

    gate: float
    full: float
    ceiling: float

    def strength(self, sigma8: float) -> float:
        if sigma8 < self.gate:
            return 0.0
        ramp = (sigma8 - self.gate) / (self.full - self.gate) if self.full > self.gate else 1.0
        return self.ceiling * min(ramp, 1.0)


# The filters' defaults (VMAF_PRE*_GATE/FULL/CEILING in filters/vf_vmaf_pre*.c), chosen for
# the shipped models on a validation split by models/train/prefilter_auto.py
# (models/prefilter_auto.metrics.json); tests/test_prefilter_auto.py holds them equal.
RAMPS = {
    # The v2 models' ceilings (0.5) were chosen on a validation split
    # (models/train/prefilter_select.py); each saves bits on every held-out clip x codec
    # measured (docs/benchmarks.md).
    "vmaf_pre": Ramp(gate=3.5, full=7.5, ceiling=0.5),
    "vmaf_pre_temporal": Ramp(gate=3.5, full=7.5, ceiling=0.5),
}


@dataclass(frozen=True)
class PreFilter:
    """`vmaf_pre=model=ID|PATH[:planes=luma|all][:strength=auto|0..1][...]`, or
    `vmaf_pre_temporal=` with the same options (a 5-frame window). `ramp` None: the
    filter's default."""

    model: str
    planes: str = "luma"
    strength: float = AUTO
    device: str = "cpu"
    name: str = "vmaf_pre"
    ramp: Ramp | None = None

    @property
    def kind(self) -> str:
        return PRE_FILTERS[self.name]

    @property
    def auto(self) -> Ramp:
        return self.ramp or RAMPS[self.name]

    def frame_strength(self, luma: np.ndarray, depth: int) -> float:
        """The strength one frame gets (its luma noise in auto mode), as the filter sets it."""
        if self.strength != AUTO:
            return self.strength
        return self.auto.strength(noise.sigma8(luma, depth))

    @property
    def temporal(self) -> bool:
        return self.name == "vmaf_pre_temporal"

    @staticmethod
    def parse(spec: str) -> PreFilter:
        name, sep, args = spec.partition("=")
        if name not in PRE_FILTERS or not sep:
            raise UsageError(f"--pre {spec!r}: expected {PRE_USAGE}")
        options: dict[str, str] = {}
        for part in args.split(":"):
            key, eq, value = part.partition("=")
            if not eq or key not in OPTIONS:
                raise UsageError(
                    f"--pre: unknown option {part!r}; {name} takes {', '.join(OPTIONS)}"
                )
            options[key] = value
        if not options.get("model"):
            raise UsageError(f"--pre {name} needs model=ID|PATH")
        planes = options.get("planes", "luma")
        device = options.get("device", "cpu")
        if planes not in PLANES:
            raise UsageError(f"--pre: planes must be luma or all, not {planes!r}")
        if device not in engines.DEVICES:
            raise UsageError(f"--pre: device must be cpu, cuda or auto, not {device!r}")
        value = options.get("strength", "auto")
        strength = AUTO if value == "auto" else _number(value, "strength", 0.0, 1.0)
        ramp = None
        if {"noise_gate", "noise_full", "max_strength"} & options.keys():
            default = RAMPS[name]
            ramp = Ramp(
                _number(options.get("noise_gate", str(default.gate)), "noise_gate", 0, 255),
                _number(options.get("noise_full", str(default.full)), "noise_full", 0, 255),
                _number(options.get("max_strength", str(default.ceiling)), "max_strength", 0, 1),
            )
        return PreFilter(options["model"], planes, strength, device, name, ramp)

    def filter(self, model_file: str) -> str:
        # Every value is a number or comes from the fixed sets checked above, so nothing
        # here needs filtergraph escaping.
        strength = "auto" if self.strength == AUTO else repr(self.strength)
        ramp = ""
        if self.ramp is not None:
            ramp = (f":noise_gate={self.ramp.gate!r}:noise_full={self.ramp.full!r}"
                    f":max_strength={self.ramp.ceiling!r}")  # fmt: skip
        return (
            f"{self.name}=model={model_file}:planes={self.planes}:strength={strength}{ramp}"
            f":device={self.device}"
        )

    def spec(self) -> str:
        return self.filter(self.model)


def _number(value: str, option: str, lo: float, hi: float) -> float:
    """A float option's value, kept to what a C float holds, so both engines blend alike."""
    try:
        number = float(np.float32(value))
    except ValueError:
        number = float("nan")
    if not lo <= number <= hi:
        what = "auto or a number from 0 to 1" if option == "strength" else f"from {lo} to {hi}"
        raise UsageError(f"--pre: {option} must be {what}, not {value!r}")
    return number


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
    session = model.session(engines.providers(pre.device))
    plane_model = PlaneModel(session, model.name, model.range)
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
        name = engines.copy_model(model, Path(work))
        argv = ffmpeg.argv(
            "-i", f"file:{source.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-fps_mode", "passthrough",
            "-vf", f"format={pix_fmt},{pre.filter(name)}",
            # The source's time base, as the Python engine writes it.
            "-enc_time_base", "demux",
            "-c:v", "rawvideo", "-f", "nut", "pipe:1",
        )  # fmt: skip
        with engines.filter_says(pre.name):
            process.stream_bytes(argv, what=f"{pre.name} (patched FFmpeg)", sink=sink,
                                 cwd=Path(work))  # fmt: skip


def _pre_python(
    source: MediaInfo, pre: PreFilter, model: PlaneModel, pix_fmt: str, sink: IO[bytes]
) -> None:
    import av

    out = av.open(sink, "w", format="nut")
    depth = engines.depth(pix_fmt)
    dtype = np.dtype("<u2" if depth > 8 else "u1")
    with out:
        stream = None
        decoded = engines.decoded(source, pix_fmt)
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
        strength = pre.frame_strength(engines.plane(frame, 0, dtype), depth)
        # Strength 0 blends nothing in: the frame passes without the model, as in C.
        count = (len(frame.planes) if pre.planes == "all" else 1) if strength else 0
        for p in range(count):
            filtered = prefilter_plane(model, engines.plane(frame, p, dtype), depth, strength)
            engines.set_plane(frame, p, filtered)
        yield frame, rate


def _temporal_frames(decoded: Decoded, pre: PreFilter, model: PlaneModel, depth: int,
                     dtype: np.dtype[np.generic]) -> Decoded:  # fmt: skip
    """Each frame filtered from copies of its window's planes (the frame itself is rewritten
    only once it is the centre, while its neighbours read the copies)."""

    def with_planes() -> Iterator[tuple[tuple[av.VideoFrame, Fraction], list[np.ndarray]]]:
        for frame, rate in decoded:
            count = len(frame.planes) if pre.planes == "all" else 1
            yield (frame, rate), [engines.plane(frame, p, dtype).copy() for p in range(count)]

    for centre, window in temporal_windows(with_planes()):
        (frame, rate), planes_t = centre
        frame.make_writable()
        strength = pre.frame_strength(planes_t[0], depth)
        # Strength 0 blends nothing in: frame t passes without the model, as in C.
        for p in range(len(window[0][1]) if strength else 0):
            stack = np.stack([planes[p] for _, planes in window])
            engines.set_plane(frame, p, temporal_plane(model, stack, depth, strength))
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
