"""Shot detection (the `shots` step): cut points from cheap frame-difference features,
then shots bounded by a minimum and a maximum length.

FFmpeg decodes the video once into tiny grey thumbnails (64x36, area-averaged, which also
averages away noise and grain); everything after that is numpy over those thumbnails:

- hard cuts: a frame whose luma-histogram change from its predecessor stands out against
  its neighbourhood (local median), and whose pixels changed too;
- gradual transitions (cross-fades, fades through black): the histogram distance across a
  half-second window peaks while no single frame step explains it; the cut is placed at the
  peak, the middle of the fade.

Shots shorter than the minimum are merged into a neighbour by dropping their weaker cut;
shots longer than the maximum are split into equal parts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InputError, UsageError
from vmaftune.steps import cuts
from vmaftune.steps.probe import MediaInfo, Timeline, timeline

THUMB_W, THUMB_H = cuts.THUMB_W, cuts.THUMB_H
_BINS = 32
# A fade: mean luma change across the window (0..1) above this, and the middle frame's
# distance from the ends' average below this share of that change. On the cut-list video
# fades measured 0.05-0.25 and motion 0.52 or more (docs/benchmarks.md).
_FADE_MIN_CHANGE = 0.08
_FADE_MAX_ERROR = 0.35


@dataclass(frozen=True)
class ShotOptions:
    min_seconds: float = 1.0
    max_seconds: float = 10.0
    # Hard-cut sensitivity: a frame's histogram change must exceed this many times its
    # neighbourhood's median change (and the absolute floors below).
    sensitivity: float = 4.0

    def checked(self) -> ShotOptions:
        if self.min_seconds <= 0:
            raise UsageError("--min-shot must be above 0 seconds")
        if self.max_seconds < 2 * self.min_seconds:
            raise UsageError("--max-shot must be at least twice --min-shot")
        if self.sensitivity <= 1:
            raise UsageError("--sensitivity must be above 1")
        return self


@dataclass(frozen=True)
class Cut:
    frame: int  # first frame of the new shot
    strength: float
    kind: str  # "hard" or "gradual"


@dataclass(frozen=True)
class Shot:
    index: int
    start: int  # first frame
    end: int  # one past the last frame
    start_time: float  # seconds from the first frame's timestamp
    end_time: float
    cut: str  # how the shot begins: "start", "hard", "gradual" or "split"

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


# --- features (the only part that runs FFmpeg) -------------------------------------------


def thumbnails(ffmpeg: FFmpeg, media: MediaInfo) -> np.ndarray:
    """All frames as 64x36 grey thumbnails, shape (frames, 36, 64), uint8."""
    return cuts.scan(ffmpeg, media, timeline(media.path)).thumbs


# --- pure detection ------------------------------------------------------------------------


def _histograms(thumbs: np.ndarray) -> np.ndarray:
    flat = thumbs.reshape(len(thumbs), -1) // (256 // _BINS)
    counts = np.stack([np.bincount(row, minlength=_BINS) for row in flat]).astype(np.float64)
    hist: np.ndarray = counts / flat.shape[1]
    return hist


def _hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half the L1 distance: 0 for equal histograms, 1 for disjoint ones."""
    distance: np.ndarray = 0.5 * np.abs(a - b).sum(axis=-1)
    return distance


def _local_median(values: np.ndarray, radius: int) -> np.ndarray:
    n = len(values)
    out = np.empty(n)
    for i in range(n):
        lo, hi = max(0, i - radius), min(n, i + radius + 1)
        window = np.concatenate([values[lo:i], values[i + 1 : hi]])
        out[i] = np.median(window) if window.size else 0.0
    return out


def find_cuts(thumbs: np.ndarray, rate: float, options: ShotOptions) -> list[Cut]:
    n = len(thumbs)
    if n < 2:
        return []
    hist = _histograms(thumbs)
    pix = thumbs.astype(np.float32) / 255.0
    h = np.zeros(n)
    d = np.zeros(n)
    h[1:] = _hist_distance(hist[1:], hist[:-1])
    d[1:] = np.abs(pix[1:] - pix[:-1]).mean(axis=(1, 2))
    radius = max(3, round(rate / 2))
    base = _local_median(h, radius)
    cuts: list[Cut] = []
    for t in range(1, n):
        # A cut lifts one step; a flash lifts two (into and out of it) and a fade many.
        stands_out = h[t] > options.sensitivity * base[t] + 0.05
        neighbours = max(h[t - 1], h[min(t + 1, n - 1)] if t + 1 < n else 0.0)
        if stands_out and d[t] > 0.04 and h[t] > 2 * neighbours:
            cuts.append(Cut(frame=t, strength=float(h[t]), kind="hard"))
    cuts.extend(_gradual(pix, rate, [c.frame for c in cuts]))
    return sorted(cuts, key=lambda c: c.frame)


def _gradual(pix: np.ndarray, rate: float, hard: Sequence[int]) -> list[Cut]:
    """Cross-fades and fades through black: across a window the picture changes a lot,
    yet the middle frame is close to the average of the window's ends (a blend), which
    motion never gives (its middle frame is nearer one end or neither). One cut per
    transition, at its strongest window."""
    n = len(pix)
    found: list[Cut] = []
    for half in sorted({max(2, round(rate / 4)), max(3, round(rate / 2))}):
        if n < 2 * half + 1:
            continue
        a, b, mid = pix[: n - 2 * half], pix[2 * half :], pix[half : n - half]
        change = np.abs(b - a).mean(axis=(1, 2))
        blend_error = np.abs(mid - (a + b) / 2).mean(axis=(1, 2)) / np.maximum(change, 1e-6)
        strength = change * (1 - np.minimum(blend_error, 1))
        for i in np.flatnonzero((change > _FADE_MIN_CHANGE) & (blend_error < _FADE_MAX_ERROR)):
            found.append(Cut(frame=int(i) + half, strength=float(strength[i]), kind="gradual"))
    merged: list[Cut] = []
    reach = max(4, round(rate))  # the longest window: one transition, one cut
    for cut in sorted(found, key=lambda c: -c.strength):
        near_hard = any(abs(cut.frame - c) <= reach // 4 for c in hard)
        if not near_hard and all(abs(cut.frame - m.frame) > reach for m in merged):
            merged.append(cut)
    return merged


def shots_from_cuts(cuts: Sequence[Cut], timeline: Timeline, options: ShotOptions) -> list[Shot]:
    """Shots between the cuts, each at least `min_seconds` (weaker cuts dropped first) and
    at most `max_seconds` long (longer runs split into equal parts)."""
    n = timeline.frame_count
    times = timeline.seconds()
    end_time = timeline.end_seconds()

    def at(frame: int) -> float:
        return float(times[frame]) if frame < n else end_time

    kept = {c.frame: c for c in cuts if 0 < c.frame < n}
    while True:
        bounds = [0, *sorted(kept), n]
        short = [
            (i, bounds[i], bounds[i + 1])
            for i in range(len(bounds) - 1)
            if at(bounds[i + 1]) - at(bounds[i]) < options.min_seconds
        ]
        if not short or not kept:
            break
        # Drop the weakest cut that bounds a too-short shot.
        candidates = [kept[b] for _, a, z in short for b in (a, z) if b in kept]
        weakest = min(candidates, key=lambda c: (c.strength, c.frame))
        del kept[weakest.frame]
    bounds = [0, *sorted(kept), n]
    shots: list[Shot] = []
    for a, z in itertools.pairwise(bounds):
        kind = "start" if a == 0 else kept[a].kind
        parts = max(1, int(np.ceil((at(z) - at(a)) / options.max_seconds - 1e-9)))
        edges = [a + round(k * (z - a) / parts) for k in range(parts + 1)]
        for k, (s, e) in enumerate(itertools.pairwise(edges)):
            shots.append(
                Shot(
                    index=len(shots),
                    start=s,
                    end=e,
                    start_time=at(s) - at(0),
                    end_time=at(e) - at(0),
                    cut=kind if k == 0 else "split",
                )
            )
    return shots


def detect(
    ffmpeg: FFmpeg, media: MediaInfo, demuxed: Timeline, options: ShotOptions
) -> tuple[list[Shot], cuts.Frames]:
    """The shots, and the source's frames as FFmpeg decodes them (what the shots index),
    from one decode. `demuxed` is the packets' timeline (time base, container start)."""
    options = options.checked()
    if media.duration < options.min_seconds:
        raise InputError(
            f"{media.path}: {media.duration:.2f} s is shorter than one shot "
            f"(--min-shot {options.min_seconds:g} s)"
        )
    scanned = cuts.scan(ffmpeg, media, demuxed)
    found = find_cuts(scanned.thumbs, float(media.frame_rate), options)
    return shots_from_cuts(found, scanned.frames.timeline, options), scanned.frames
