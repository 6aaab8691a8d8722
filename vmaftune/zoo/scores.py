"""The zoo's quality models over whole videos: `score --nr` (vmaf_post), `score --tiny-fr`
(the vmaf_tiny filter running vmaf_tiny_fr) and `score --tiny` (vmaf_tiny over libvmaf's
features)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.progress import PROGRESS_ARGS, Progress, ProgressParser
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError
from vmaftune.steps.probe import MediaInfo
from vmaftune.steps.score import INDEX_STAMPS, POOLS, Pooled, Score, pool
from vmaftune.zoo import engines, stream
from vmaftune.zoo import registry as models
from vmaftune.zoo.inference import PlaneModel, fr_score, nr_score

if TYPE_CHECKING:
    pass

DEFAULT_NR_MODEL = "vmaf_post_nr"


# --- no-reference score ------------------------------------------------------------------


@dataclass(frozen=True)
class ModelScore:
    model: str
    engine: str  # "ffmpeg vmaf_post" or "python onnxruntime"
    frames: tuple[float, ...]  # per frame, rounded to 6 decimals as the filter prints them
    pooled: Pooled
    registered: bool = True  # False: a file no registry row pins (reports flag it)
    # What the model saw besides the pixels, as vmaf_post's lavfi.vmaf_post.inputs says it
    # (the most frames' value): "pixels", "pixels+qp", "pixels+bits", "pixels+qp+bits".
    inputs: str = "pixels"
    # Half-width of the 90 % interval of the mean score, from the model card's
    # leave-one-source-out residuals for these inputs (None: the row has none).
    interval: float | None = None


# lavfi.vmaf_post.inputs -> the training mode whose held-out residuals size the interval
# (models/train/nr.py MODES).
_MODE_OF_INPUTS = {
    "pixels+qp+bits": "python", "pixels+qp": "filter", "pixels+bits": "bits", "pixels": "pixels",
}  # fmt: skip


def interval90(model: models.LoadedModel, inputs: str) -> float | None:
    """The registry row's 90 % per-encode interval for a score made from `inputs`."""
    if model.entry is None:
        return None
    mode = model.entry.metrics.get("modes", {}).get(_MODE_OF_INPUTS.get(inputs, ""), {})
    value = mode.get("interval90")
    return float(value) if isinstance(value, (int, float)) else None


def nr_video(
    video: MediaInfo,
    model_name: str,
    patched: FFmpeg | None,
    *,
    device: str = "cpu",
    on_progress: Callable[[Progress], None] | None = None,
) -> ModelScore:
    """The no-reference model's score of every frame of `video`, and its pooling."""
    model = models.load(model_name, kind="nr")
    pix_fmt = engines.work_pix_fmt(video.pix_fmt, video.bit_depth)
    if patched is not None:
        frames, inputs = _nr_ffmpeg(patched, video, model, pix_fmt, device, on_progress)
        engine = "ffmpeg vmaf_post"
    else:
        plane_model = PlaneModel(model.session(engines.providers(device)), model.name,
                                     model.range)  # fmt: skip
        frames, inputs = _nr_python(video, plane_model, pix_fmt, on_progress)
        engine = "python onnxruntime"
    if not frames:
        raise InputError(f"{video.path}: no frames were decoded")
    model.check_outputs(frames)
    return ModelScore(model_name, engine, frames, pool(np.asarray(frames, dtype=np.float64)),
                      model.registered, inputs, interval90(model, inputs))  # fmt: skip


def _most(seen: list[str]) -> str:
    return max(sorted(set(seen)), key=seen.count) if seen else "pixels"


_META_LINE = re.compile(r"^lavfi\.vmaf_post\.(score|inputs)=(\S+)$")


def _nr_ffmpeg(
    ffmpeg: FFmpeg,
    video: MediaInfo,
    model: models.LoadedModel,
    pix_fmt: str,
    device: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[tuple[float, ...], str]:
    with tempfile.TemporaryDirectory(prefix="vmaftune-nr-") as work:
        name = engines.copy_model(model, Path(work))
        graph = (
            f"format={pix_fmt},vmaf_post=model={name}:device={device},"
            "metadata=print:file=scores.txt"
        )
        argv = ffmpeg.argv(
            # The decoder's block QPs, which a two-channel model reads (H.264 fills them).
            # Frame threads would copy the QPs of a picture another thread is still
            # decoding (FFmpeg 9.0's h264dec exports them before that thread ends).
            "-thread_type", "slice",
            "-export_side_data", "venc_params",
            "-i", f"file:{video.path.resolve()}",
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-fps_mode", "passthrough",
            "-vf", graph,
            *PROGRESS_ARGS,
            "-f", "null", "-",
        )  # fmt: skip
        parser = ProgressParser(on_progress or (lambda _p: None))
        with engines.filter_says("vmaf_post"):
            process.stream_lines(
                argv, what="vmaf_post (patched FFmpeg)", on_line=parser.feed, cwd=Path(work)
            )
        text = (Path(work) / "scores.txt").read_text()
    scores: list[float] = []
    inputs: list[str] = []
    for line in text.splitlines():
        match = _META_LINE.match(line.strip())
        if match and match.group(1) == "score":
            scores.append(float(match.group(2)))
        elif match:
            inputs.append(match.group(2))
    return tuple(scores), _most(inputs)


def _nr_python(
    video: MediaInfo,
    model: PlaneModel,
    pix_fmt: str,
    on_progress: Callable[[Progress], None] | None,
    *,
    bits: bool = True,
) -> tuple[tuple[float, ...], str]:
    """Scores and the inputs the model saw. A two-channel model gets each frame's stream
    vector: its H.264 block QPs, and (with `bits`) its packet's bits, the stream's mean and
    the codec; bits=False gives exactly what the vmaf_post filter sees."""
    scores: list[float] = []
    seen: list[str] = []
    depth = engines.depth(pix_fmt)
    facts: list[stream.FrameStream] = []
    mean_bits: float | None = None
    codec: str | None = None
    if model.channels == 2:
        facts = list(stream.frames(video.path))
        codec = stream.codec_family(video.codec) if bits else None
        if facts and codec:
            mean_bits = float(np.mean([f.bits for f in facts]))
    for n, (frame, _rate) in enumerate(engines.decoded(video, pix_fmt), start=1):
        luma = engines.plane(frame, 0, np.dtype("<u2" if depth > 8 else "u1"))
        vector = None
        if model.channels == 2:
            fact = facts[n - 1] if n <= len(facts) else None
            vector = stream.vector(fact, pixels=luma.size, mean_bits=mean_bits, codec=codec)
            seen.append("pixels" + "+qp" * bool(vector[0]) + "+bits" * bool(vector[3]))
        # Through the same "%.6f" text the filter writes, so both engines agree exactly.
        scores.append(float(f"{nr_score(model, luma, depth, vector):.6f}"))
        if on_progress is not None and n % 10 == 0:
            on_progress(Progress(frame=n, out_time=0.0, speed=None, done=False))
    return tuple(scores), _most(seen)


# --- tiny full-reference score (vmaf_tiny filter) ----------------------------------------

DEFAULT_FR_MODEL = "vmaf_tiny_fr"


def _fr_chains(reference: MediaInfo, distorted: MediaInfo, pix_fmt: str) -> tuple[str, str]:
    """The distorted and reference chains both engines run before the model: the distorted
    scaled to the reference's size (bicubic, as `score` does), both in one format, and
    stamped by frame index so frames pair by position."""
    scale = ""
    if (distorted.width, distorted.height) != (reference.width, reference.height):
        scale = f"scale={reference.width}:{reference.height}:flags=bicubic,"
    stamps = INDEX_STAMPS
    return f"{scale}format={pix_fmt},{stamps}", f"format={pix_fmt},{stamps}"


def fr_video(
    reference: MediaInfo,
    distorted: MediaInfo,
    model_name: str,
    patched: FFmpeg | None,
    ffmpeg: FFmpeg,
    *,
    device: str = "cpu",
) -> ModelScore:
    """The tiny full-reference model's score of every frame pair (the shorter video's
    count), from the patched FFmpeg's vmaf_tiny filter or, without it, from frames the
    bundled FFmpeg prepares with the same chains and onnxruntime."""
    model = models.load(model_name, kind="fr_pixel")
    pix_fmt = engines.work_pix_fmt(reference.pix_fmt, reference.bit_depth)
    dis_chain, ref_chain = _fr_chains(reference, distorted, pix_fmt)
    inputs = ("-i", f"file:{distorted.path.resolve()}", "-i", f"file:{reference.path.resolve()}")
    with tempfile.TemporaryDirectory(prefix="vmaftune-fr-") as work:
        if patched is not None:
            name = engines.copy_model(model, Path(work))
            graph = (
                f"[0:v]{dis_chain}[d];[1:v]{ref_chain}[r];"
                f"[d][r]vmaf_tiny=model={name}:device={device}:shortest=1,"
                "metadata=print:key=lavfi.vmaf_tiny.score:file=scores.txt"
            )
            argv = patched.argv(*inputs, "-filter_complex", graph, "-an", "-sn", "-dn",
                                "-f", "null", "-")  # fmt: skip
            with engines.filter_says("vmaf_tiny"):
                process.run(argv, what="vmaf_tiny (patched FFmpeg)", cwd=Path(work))
            text = (Path(work) / "scores.txt").read_text()
            frames = tuple(float(m) for m in re.findall(r"lavfi\.vmaf_tiny\.score=(\S+)", text))
            engine = "ffmpeg vmaf_tiny"
        else:
            plane_model = PlaneModel(model.session(engines.providers(device)), model.name,
                                     model.range)  # fmt: skip
            frames = _fr_python(ffmpeg, inputs, dis_chain, ref_chain, reference, pix_fmt,
                                plane_model)  # fmt: skip
            engine = "python onnxruntime"
    if not frames:
        raise InputError(f"{distorted.path}: no frame pairs were scored")
    model.check_outputs(frames)
    return ModelScore(model_name, engine, frames, pool(np.asarray(frames, dtype=np.float64)),
                      model.registered)  # fmt: skip


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
    depth = engines.depth(pix_fmt)
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

    size = engines.frame_samples(pix_fmt, w, 2 * h) * dtype.itemsize
    process.stream_records(argv, what="the tiny full-reference pass", size=size, on_record=on_pair)
    return tuple(scores)


def tiny_scores(score: Score, name: str) -> dict[str, Any]:
    """vmaf_tiny over libvmaf's per-frame features, pooled like libvmaf's scores."""
    from vmaftune.zoo.inference import tiny_vmaf

    loaded = models.load(name, kind="fr")
    matrix = score.feature_matrix()
    values = tiny_vmaf(loaded.session(), name, matrix[:, 1:])
    loaded.check_outputs(values)
    pooled = pool(values)
    diff = values - matrix[:, 0]
    return {
        "model": name,
        "registered": loaded.registered,
        "pooled": {p: pooled.get(p) for p in POOLS},
        "agreement": {
            "rmse": float(np.sqrt(np.mean(diff**2))),
            "max_abs": float(np.max(np.abs(diff))),
        },
        "frames": [round(float(v), 6) for v in values],
    }
