"""One encode of a whole input at one setting, then its VMAF (`vmaftune encode --crf`):
probe → encode (optionally through a zoo pre-filter) → score → the result."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vmaftune import encoders
from vmaftune.edges.outputs import atomic_output, check_output, output_lock
from vmaftune.edges.toolchain import FFmpeg, honours_roi, patched_ffmpeg, resolve
from vmaftune.encoders import Encoder
from vmaftune.errors import InputError, UsageError
from vmaftune.run.events import Emit, Encoded, EncodeStart, Note, Run, progress_hook
from vmaftune.run.roi import roi_record
from vmaftune.steps import encode
from vmaftune.steps.probe import MediaInfo, probe
from vmaftune.steps.roi import RoiSpec
from vmaftune.steps.score import DEFAULT_VMAF_MODEL, Pooled, VmafOptions, score_files
from vmaftune.zoo import engines, prefilter
from vmaftune.zoo.registry import load as load_model


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
    roi: str | None = None  # saliency[:model=...][:strength=S][:smooth=A] (steps/roi.py)


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
    roi: dict[str, Any] | None = None  # --roi: the model, its options, the FFmpeg that encoded


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
    if req.roi is not None and pre is not None:
        raise UsageError("--roi and --pre together are not supported yet; run one of them")
    with ExitStack() as stack:
        roi = _roi_filter(req.roi, encoder, ffmpeg, pix_fmt, source, stack)
        return _encoded(req, ffmpeg, emit, encoder, pre, value, preset, pix_fmt, options, source,
                        roi)  # fmt: skip


def _roi_filter(
    spec_text: str | None, encoder: Encoder, ffmpeg: FFmpeg, pix_fmt: str, source: MediaInfo,
    stack: ExitStack,
) -> tuple[FFmpeg, str, dict[str, Any]] | None:  # fmt: skip
    """--roi with one setting: the encode runs the vmaf_roi filter (a map per frame, as the
    per-shot runs' maps are made) in an FFmpeg that has it and whose encoder applies the
    regions: this one, else the patched build. PyAV cannot attach region side data to a
    frame, so there is no Python path here (per-shot runs use stock addroi filters)."""
    if spec_text is None:
        return None
    spec = RoiSpec.parse(spec_text)
    runner = ffmpeg if ffmpeg.has_filter("vmaf_roi") else patched_ffmpeg()
    if runner is None:
        raise UsageError(
            "--roi with one setting runs the vmaf_roi filter of the patched FFmpeg: build it "
            "with make ffmpeg, or use a per-shot run (--target-vmaf), which does without it"
        )
    if not honours_roi(runner, encoder):
        raise UsageError(
            f"--roi: {encoder.name} in {runner.path} ignores region-of-interest offsets; use "
            "x264, x265 or SVT-AV1"
        )
    encode.require_encoder(runner, encoder, pix_fmt)
    model = load_model(spec.model, kind="saliency")
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vmaftune-roi-")))
    path = folder / engines.copy_model(model, folder)
    if any(c in str(path) for c in ":,;[]'\\"):
        raise UsageError(f"--roi: the temporary folder {folder} has a character FFmpeg's "
                         "filter syntax reserves; set TMPDIR to a plain path")  # fmt: skip
    work_fmt = engines.work_pix_fmt(pix_fmt, source.bit_depth)
    o = spec.options
    graph = (f"format={work_fmt},vmaf_roi=model={path}:strength={o.strength!r}"
             f":smooth={o.smooth!r}:max_regions={o.max_regions}")  # fmt: skip
    record = roi_record(model, spec, runner if runner is not ffmpeg else None,
                        map="per frame: the vmaf_roi filter inside the encode")  # fmt: skip
    return runner, graph, record


def _encoded(
    req: OnceRequest, ffmpeg: FFmpeg, emit: Emit, encoder: Encoder,
    pre: prefilter.PreFilter | None, value: float, preset: str, pix_fmt: str,
    options: VmafOptions, source: MediaInfo, roi: tuple[FFmpeg, str, dict[str, Any]] | None,
) -> OnceResult:  # fmt: skip
    quality = encoder.quality
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
                                 piped=feed is not None, vf=roi[1] if roi else "")  # fmt: skip
        encoder_ffmpeg = roi[0] if roi else ffmpeg
        with engines.filter_says("vmaf_roi"):
            done = encode.run(encoder_ffmpeg, spec, feed=feed,
                              on_progress=progress_hook("encode", total, emit))  # fmt: skip
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
    return OnceResult(out, encoder.name, quality.name, value, preset, pix_fmt, done.seconds, pooled,
                      roi[2] if roi else None)  # fmt: skip
