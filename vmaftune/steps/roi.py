"""Saliency maps to encoder region-of-interest offsets: the arithmetic the vmaf_roi FFmpeg
filter runs (filters/vf_vmaf_roi.c), so `vmaftune roi` and the filter give the same maps.

A saliency model returns one value per 16x16 block. Per frame:
1. temporal smoothing, so blocks do not flicker between frames:
   state = smooth * state + (1 - smooth) * map (the first frame starts the state);
2. levels: each block's distance from the frame's mean saliency, over SPREAD standard
   deviations of the map, times LEVELS, rounded half to even and clipped: an integer in
   -LEVELS..LEVELS (salient blocks positive); a flat map (deviation < FLAT) is all zeros;
3. offsets: level L becomes the qoffset -L/LEVELS * strength * QMAX in FFmpeg's
   AVRegionOfInterest scale (-1..1, which libx264/libx265 multiply by 51 for 8-bit): at
   strength 1 a salient block gets up to 10 QP less, a dull one up to 10 more, and the
   frame's mean offset stays near 0;
4. regions: runs of equal non-zero level along each block row, merged with an identical
   run directly above; over max_regions, the regions of largest |level| are kept (ties
   in raster order) and the rest left at 0.

SVT-AV1's ROI map (`SvtAv1EncApp --roi-map-file`) takes one qindex offset per 64x64 block:
the mean level of the 16x16 blocks inside, rounded half to even, turned into its qoffset and
scaled by 255, the qindex range (as FFmpeg's AV1 encoders scale AVRegionOfInterest: the
libsvtav1 patch in our series, vaapi_encode_av1), rounded; at most 2*LEVELS+1 = 7 distinct
values (AV1 allows 8 segments).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vmaftune.errors import UsageError

BLOCK = 16
LEVELS = 3
QMAX = 0.2
FLAT = 1e-3
SPREAD = 2.0
SVT_BLOCK = 64
QP_RANGE = 51  # libx264/libx265 (8-bit) scale a qoffset of 1 to 51 QP
QINDEX_RANGE = 255  # AV1: a qoffset of 1 is 255 qindex


@dataclass(frozen=True)
class RoiOptions:
    strength: float = 0.5
    smooth: float = 0.5
    max_regions: int = 256

    def checked(self) -> RoiOptions:
        if not 0 <= self.strength <= 1:
            raise UsageError(f"ROI strength {self.strength:g} is outside 0..1")
        if not 0 <= self.smooth < 1:
            raise UsageError(f"ROI smoothing {self.smooth:g} is outside 0..1 (1 excluded)")
        if not 1 <= self.max_regions <= 65536:
            raise UsageError(f"ROI max_regions {self.max_regions} is outside 1..65536")
        return self


@dataclass(frozen=True)
class Region:
    left: int  # pixels; right and bottom exclusive
    top: int
    right: int
    bottom: int
    level: int


class Smoother:
    """Exponential smoothing of successive maps (float32, as the filter keeps them)."""

    def __init__(self, smooth: float) -> None:
        self.smooth = np.float32(smooth)
        self.state: np.ndarray | None = None

    def __call__(self, saliency: np.ndarray) -> np.ndarray:
        s = np.asarray(saliency, dtype=np.float32)
        if self.state is None or self.state.shape != s.shape:
            self.state = s.copy()
        else:
            self.state = self.smooth * self.state + (np.float32(1) - self.smooth) * s
        return self.state


def levels(saliency: np.ndarray) -> np.ndarray:
    """The block levels (int8, -LEVELS..LEVELS) of one smoothed map."""
    s = np.asarray(saliency, dtype=np.float32)
    if not s.size:
        return np.zeros(s.shape, np.int8)
    # float64 sums, as the filter accumulates in double.
    centred = s - np.float32(s.mean(dtype=np.float64))
    deviation = float(np.sqrt(np.mean(np.square(centred, dtype=np.float64))))
    if deviation < FLAT:
        return np.zeros(s.shape, np.int8)
    scale = np.float32(LEVELS / (SPREAD * deviation))
    out: np.ndarray = np.clip(np.rint(centred * scale), -LEVELS, LEVELS).astype(np.int8)
    return out


def qoffset(level: int, strength: float) -> Fraction:
    """The AVRegionOfInterest qoffset of a level, as the filter writes it."""
    return Fraction(-level * round(strength * QMAX * 1000), LEVELS * 1000)


def qp_offsets(lv: np.ndarray, strength: float) -> np.ndarray:
    """Each block's offset in QP (libx264/libx265, 8-bit): qoffset * 51."""
    scale = round(strength * QMAX * 1000) / (LEVELS * 1000) * QP_RANGE
    return -lv.astype(np.float64) * scale


def regions(lv: np.ndarray, width: int, height: int, max_regions: int) -> list[Region]:
    """The rectangles of equal non-zero level, in raster order (see the module's text)."""
    rows, cols = lv.shape
    found: list[Region] = []
    above: dict[tuple[int, int, int], int] = {}  # (x0, x1, level) -> index, previous row
    for y in range(rows):
        here: dict[tuple[int, int, int], int] = {}
        x = 0
        while x < cols:
            level = int(lv[y, x])
            end = x + 1
            while end < cols and int(lv[y, end]) == level:
                end += 1
            if level:
                key = (x, end, level)
                right, bottom = min(end * BLOCK, width), min((y + 1) * BLOCK, height)
                if key in above:
                    i = above[key]
                    r = found[i]
                    found[i] = Region(r.left, r.top, r.right, bottom, level)
                    here[key] = i
                else:
                    here[key] = len(found)
                    found.append(Region(x * BLOCK, y * BLOCK, right, bottom, level))
            x = end
        above = here
    if len(found) > max_regions:
        keep = sorted(range(len(found)), key=lambda i: (-abs(found[i].level), i))[:max_regions]
        found = [found[i] for i in sorted(keep)]
    return found


def applied(found: list[Region], shape: tuple[int, int]) -> np.ndarray:
    """The block levels an encoder sees from `found` (blocks of no region at 0)."""
    out = np.zeros(shape, np.int8)
    for r in found:
        rows = slice(r.top // BLOCK, -(-r.bottom // BLOCK))
        out[rows, r.left // BLOCK : -(-r.right // BLOCK)] = r.level
    return out


def svt_offsets(lv: np.ndarray, width: int, height: int, strength: float) -> np.ndarray:
    """One qindex offset per 64x64 block (rows x cols of the SVT-AV1 grid), int."""
    rows, cols = -(-height // SVT_BLOCK), -(-width // SVT_BLOCK)
    k = SVT_BLOCK // BLOCK
    padded = np.full((rows * k, cols * k), np.nan)
    padded[: lv.shape[0], : lv.shape[1]] = lv
    mean = np.nanmean(padded.reshape(rows, k, cols, k), axis=(1, 3))
    big = np.rint(mean)
    per_level = -float(qoffset(1, strength)) * QINDEX_RANGE
    offsets: np.ndarray = np.rint(-big * per_level).astype(int)
    return offsets


def svt_line(picture: int, offsets: np.ndarray) -> str:
    """One event of SvtAv1EncApp's --roi-map-file: the picture number, then the offsets
    row by row."""
    return " ".join([str(picture), *(str(int(v)) for v in offsets.reshape(-1))])


# --- per shot (encode --roi) -----------------------------------------------------------------

ROI_USAGE = "saliency[:model=ID|PATH][:strength=0..1][:smooth=0..1]"


@dataclass(frozen=True)
class RoiSpec:
    """`encode --roi saliency[:model=ID|PATH][:strength=S][:smooth=A]`."""

    model: str = "vmaf_saliency"
    options: RoiOptions = RoiOptions()

    @staticmethod
    def parse(spec: str) -> RoiSpec:
        kind, _, rest = spec.partition(":")
        if kind != "saliency":
            raise UsageError(f"--roi {spec!r}: expected {ROI_USAGE}")
        values: dict[str, str] = {}
        for part in filter(None, rest.split(":")):
            key, eq, value = part.partition("=")
            if not eq or key not in ("model", "strength", "smooth"):
                raise UsageError(f"--roi: unknown option {part!r}; expected {ROI_USAGE}")
            values[key] = value
        try:
            strength = float(values.get("strength", "0.5"))
            smooth = float(values.get("smooth", "0.5"))
        except ValueError:
            raise UsageError(f"--roi {spec!r}: strength and smooth are numbers") from None
        options = RoiOptions(strength=strength, smooth=smooth).checked()
        return RoiSpec(values.get("model") or "vmaf_saliency", options)

    def spec(self) -> str:
        o = self.options
        return f"saliency:model={self.model}:strength={o.strength:g}:smooth={o.smooth:g}"


def shot_levels(frame_levels: list[np.ndarray]) -> np.ndarray:
    """One map for a whole shot: each block's mean level over the shot's frames, rounded
    half to even (the trials of a shot all see the same regions)."""
    if not frame_levels:
        raise ValueError("a shot without frames")
    mean = np.mean(np.stack(frame_levels).astype(np.float64), axis=0)
    out: np.ndarray = np.clip(np.rint(mean), -LEVELS, LEVELS).astype(np.int8)
    return out


def addroi_filters(found: list[Region], strength: float) -> tuple[str, ...]:
    """FFmpeg's stock addroi filters that attach `found` to every frame (any FFmpeg)."""
    return tuple(
        f"addroi=x={r.left}:y={r.top}:w={r.right - r.left}:h={r.bottom - r.top}"
        f":qoffset={qoffset(r.level, strength)}"
        for r in found
    )
