"""One encode of a whole input with one setting (the `encode` step)."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

from vmaftune.edges import process
from vmaftune.edges.progress import PROGRESS_ARGS, Progress, ProgressParser
from vmaftune.edges.toolchain import FFmpeg, trial_encode
from vmaftune.encoders import HARDWARE_NEEDS, Encoder
from vmaftune.errors import InputError, InternalError, ToolError, UsageError
from vmaftune.steps.probe import MediaInfo, probe


@dataclass(frozen=True)
class EncodeSpec:
    source: MediaInfo
    output: Path
    encoder: Encoder
    value: float  # the quality knob's value (CRF, CQ, global_quality)
    preset: str
    pix_fmt: str
    audio: bool = True  # copy the source's audio streams
    # The video arrives pre-filtered as NUT on stdin (zoo.prefilter.pre_feed); audio and
    # metadata still come from the source.
    piped: bool = False
    # Filters before the encoder (--roi with one setting: the vmaf_roi filter).
    vf: str = ""

    def argv(self, ffmpeg: FFmpeg, destination: Path) -> list[str]:
        source = f"file:{self.source.path.resolve()}"
        if self.piped:
            inputs = ["-f", "nut", "-i", "pipe:0", "-i", source,
                      "-map_metadata", "1", "-map_metadata:s:v:0", "1:s:v:0",
                      "-vf", self._source_tags()]  # fmt: skip
            src = "1"
        else:
            inputs, src = ["-i", source, *(("-vf", self.vf) if self.vf else ())], "0"
        audio = ["-map", f"{src}:a?", "-c:a", "copy"] if self.audio else ["-an"]
        return ffmpeg.argv(
            "-y",
            *inputs,
            "-map", "0:v:0",
            *audio,
            "-sn", "-dn",
            # One output frame per input frame: no duplication or dropping by the muxer's
            # rate handling, so VMAF pairs frames one to one.
            "-fps_mode", "passthrough",
            *self.encoder.video_args(self.value, self.preset, self.pix_fmt),
            *PROGRESS_ARGS,
            f"file:{destination}",
        )  # fmt: skip

    def _source_tags(self) -> str:
        """What NUT does not carry from the source to the encoder: the pixel aspect and
        the color tags, set on the piped frames as the decoder would have set them."""
        sar = self.source.sample_aspect
        size = max(sar.numerator, sar.denominator, 100)
        graph = f"setsar=r={sar.numerator}/{sar.denominator}:max={size}"
        names = ("range", "color_primaries", "color_trc", "colorspace")
        unspecified = (0, 2, 2, 2)
        tags = [
            f"{n}={v}"
            for n, v, u in zip(names, self.source.color_tags, unspecified, strict=True)
            if v != u
        ]
        return graph + (",setparams=" + ":".join(tags) if tags else "")


@dataclass(frozen=True)
class EncodeResult:
    spec: EncodeSpec
    output: MediaInfo
    seconds: float


# H.264 and HEVC crop a picture in whole chroma samples (their crop offsets count 2
# luma samples per unit under 4:2:0): a 321x241 picture cannot be coded as 4:2:0 by any
# of their encoders, hardware or not. AV1 codes any size.
WHOLE_CHROMA_CODECS = frozenset({"h264", "hevc"})


def require_size(source: MediaInfo, encoder: Encoder, pix_fmt: str) -> None:
    """Fail before encoding when the codec cannot hold the source's size in pix_fmt (the
    encoder would fail later with "Nothing was written")."""
    if encoder.codec not in WHOLE_CHROMA_CODECS:
        return
    from av.video.format import VideoFormat

    fmt = VideoFormat(pix_fmt)
    step_w = 2 if fmt.chroma_width(2) == 1 else 1
    step_h = 2 if fmt.chroma_height(2) == 1 else 1
    w, h = source.width, source.height
    odd = [what for what, n, step in (("width", w, step_w), ("height", h, step_h)) if n % step]
    if odd:
        raise InputError(
            f"{source.path}: {w}x{h} has an odd {' and '.join(odd)}, which {encoder.codec} "
            f"cannot code as {pix_fmt}; crop it first (ffmpeg -vf crop={w - w % step_w}:"
            f"{h - h % step_h}), or use --pix-fmt yuv444p or an AV1 encoder"
        )


def require_encoder(ffmpeg: FFmpeg, encoder: Encoder, pix_fmt: str) -> None:
    """Fail early, with one line, when this FFmpeg or this machine cannot run the encoder."""
    if not ffmpeg.has_encoder(encoder.ffmpeg):
        raise ToolError(
            f"{ffmpeg.path} has no {encoder.ffmpeg} encoder; use an FFmpeg built with it "
            "(the bundled one has it)"
        )
    if encoder.hardware != "none":
        trial = trial_encode(ffmpeg, encoder.ffmpeg, pix_fmt)
        if not trial.usable:
            raise ToolError(
                f"{encoder.name} needs {HARDWARE_NEEDS[encoder.hardware]}; it cannot run "
                f"here: {trial.reason}"
            )


# The containers vmaftune writes, by extension, and the codecs each takes: FFmpeg 9.0.2's
# webm muxer accepts VP8, VP9 and AV1 only.
CONTAINERS: dict[str, frozenset[str]] = {
    ".mp4": frozenset({"h264", "hevc", "av1"}),
    ".m4v": frozenset({"h264", "hevc", "av1"}),
    ".mov": frozenset({"h264", "hevc", "av1"}),
    ".mkv": frozenset({"h264", "hevc", "av1"}),
    ".webm": frozenset({"av1"}),
    ".ts": frozenset({"h264", "hevc"}),
}


def require_container(output: Path, encoder: Encoder) -> None:
    """OUT's extension names a container that can hold the encoder's codec (FFmpeg's own
    failure, far into the run, would only say "Invalid argument")."""
    ext = output.suffix.lower()
    if ext not in CONTAINERS:
        known = ", ".join(CONTAINERS)
        what = f"{ext!r} is not" if ext else "no extension names"
        raise UsageError(f"{output}: {what} a container vmaftune writes; end OUT in {known}")
    if encoder.codec not in CONTAINERS[ext]:
        fits = ", ".join(e for e, codecs in CONTAINERS.items() if encoder.codec in codecs)
        raise UsageError(
            f"{output}: {ext} cannot hold {encoder.codec} ({encoder.name}); use {fits}"
        )


def run(
    ffmpeg: FFmpeg,
    spec: EncodeSpec,
    on_progress: Callable[[Progress], None] | None = None,
    feed: Callable[[IO[bytes]], None] | None = None,
) -> EncodeResult:
    """Encode into spec.output, which the caller names and renames (run/once.py writes a
    temporary file beside OUT and renames it once the encode is scored); `feed` writes the
    video into a piped spec."""
    if spec.piped != (feed is not None):
        raise InternalError("a piped encode needs a feed, and only a piped one")
    started = time.monotonic()
    parser = ProgressParser(on_progress or (lambda _p: None))
    process.stream_lines(
        spec.argv(ffmpeg, spec.output),
        what=f"encode with {spec.encoder.name}",
        on_line=parser.feed,
        env=dict(spec.encoder.env),
        feed=feed,
        writes=spec.output,
    )
    encoded = probe(spec.output)
    return EncodeResult(spec=spec, output=encoded, seconds=time.monotonic() - started)


@cache
def encoder_version(ffmpeg: FFmpeg, encoder: Encoder) -> str:
    """The encoder library's own version string, read from what it writes into a tiny
    encode (x264 and x265 stamp it into the stream, SVT-AV1 logs it); FFmpeg's name for
    the encoder when the library does not say."""
    if not encoder.version_regex:
        return encoder.ffmpeg
    with tempfile.TemporaryDirectory(prefix="vmaftune-version-") as work:
        dest = Path(work) / "v.mkv"
        done = process.run(
            ffmpeg.argv(
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=64x64:r=25:d=0.08",
                *encoder.video_args(
                    encoder.quality.default, encoder.default_preset, encoder.default_pix_fmt
                ),
                *encoder.version_args,
                f"file:{dest}",
            ),
            what=f"version check of {encoder.name}",
            env={**dict(encoder.env), **dict(encoder.version_env)},
            check=False,
            timeout=60,
        )
        data = dest.read_bytes().decode("latin-1") if dest.exists() else ""
    found = re.search(encoder.version_regex, data + "\n" + done.stderr)
    return found.group(0).strip() if found else encoder.ffmpeg
