"""One encode of a whole input at one setting, then its VMAF (`vmaftune encode --crf`):
probe → encode (optionally through a zoo pre-filter) → score → the result."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vmaftune import encoders
from vmaftune.edges.outputs import atomic_output, check_output, output_lock
from vmaftune.edges.toolchain import FFmpeg, patched_ffmpeg, resolve
from vmaftune.errors import InputError
from vmaftune.run.events import Emit, Encoded, EncodeStart, Note, Run, progress_hook
from vmaftune.steps import encode
from vmaftune.steps.probe import MediaInfo, probe
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, Pooled, VmafOptions, score_files
from vmaftune.zoo import engines, prefilter


@dataclass(frozen=True)
class OnceRequest:
    input: Path
    output: Path
    codec: str
    quality: float | None = None  # CRF, CQ or global_quality; None: the encoder's default
    preset: str | None = None
    pix_fmt: str | None = None
    force: bool = False
    audio: bool = True
    vmaf: bool = True  # score OUT against INPUT
    model: str = DEFAULT_VMAF_MODEL
    threads: int = 0  # libvmaf threads; 0: one per core
    pre: str | None = None  # vmaf_pre=... or vmaf_pre_temporal=... (see docs/cli.md)
    engine: str = "auto"  # where a pre-filter runs: auto, ffmpeg, python


@dataclass(frozen=True)
class OnceResult:
    output: MediaInfo
    encoder: str
    knob: str  # crf, cq, global_quality
    setting: float
    preset: str
    pix_fmt: str
    seconds: float  # the encode's wall time
    vmaf: Pooled | None  # None: not scored (vmaf=False)


def encode_once(request: OnceRequest, ffmpeg: FFmpeg | None = None) -> Run[OnceResult]:
    """Encode INPUT with one quality setting and score the result."""
    return Run(lambda emit: _run(request, ffmpeg, emit))


def _run(req: OnceRequest, given: FFmpeg | None, emit: Emit) -> OnceResult:
    encoder = encoders.get(req.codec)
    encode.require_container(req.output, encoder)
    pre = prefilter.PreFilter.parse(req.pre) if req.pre is not None else None
    quality = encoder.quality
    value = quality.check(quality.default if req.quality is None else req.quality, encoder.name)
    preset = encoder.pick_preset(req.preset)
    options = VmafOptions(model=req.model, threads=req.threads).checked()
    check_output(req.output, [req.input], force=req.force)
    source = probe(req.input)
    pix_fmt = encoder.pick_pix_fmt(req.pix_fmt, source.bit_depth)
    ffmpeg = given or resolve()
    encode.require_size(source, encoder, pix_fmt)
    encode.require_encoder(ffmpeg, encoder, pix_fmt)
    feed = None
    if pre is not None:
        runner = engines.pick_engine(req.engine, patched_ffmpeg())
        work_fmt = engines.work_pix_fmt(pix_fmt, source.bit_depth)
        feed = prefilter.pre_feed(source, pre, work_fmt, runner)
        where = f"the patched FFmpeg {runner.path}" if runner else "Python onnxruntime"
        emit(Note(f"{pre.spec()} at {work_fmt} via {where}", kind="pre-filter"))
    total = source.frame_count
    emit(EncodeStart(req.input, req.output, encoder.name, quality.name, value, preset, pix_fmt,
                     total))  # fmt: skip
    # OUT takes its name only once it is scored: a failed score must not have replaced a
    # good file (--force) or left a file that was never checked.
    with output_lock(req.output), atomic_output(req.output) as tmp:
        audio = req.audio and source.has_audio
        spec = encode.EncodeSpec(source=source, output=tmp, encoder=encoder, value=value,
                                 preset=preset, pix_fmt=pix_fmt, audio=audio,
                                 piped=feed is not None)  # fmt: skip
        done = encode.run(ffmpeg, spec, on_progress=progress_hook("encode", total, emit), feed=feed)
        out = replace(done.output, path=req.output)
        emit(Encoded(req.output, out.file_bytes, out.video_bitrate, out.frame_count, done.seconds))
        pooled = None
        if req.vmaf and out.frame_count != source.frame_count:
            # The encode holds what decoded; a header that promised other frames is a
            # damaged input, not a pair to --align (an option encode does not have).
            raise InputError(
                f"{req.input}: its header lists {source.frame_count} frames but "
                f"{out.frame_count} decode (a truncated or damaged file?); {req.output} "
                "was not written"
            )
        if req.vmaf:
            score = score_files(ffmpeg, source, done.output, options,
                                on_progress=progress_hook("score", total, emit))  # fmt: skip
            pooled = score.pooled
            for note in score.notes:
                emit(Note(note))
    return OnceResult(out, encoder.name, quality.name, value, preset, pix_fmt, done.seconds, pooled)
