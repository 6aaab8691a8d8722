"""The zoo's frame models run in Python: the same arithmetic as the vmaf_pre and vmaf_post
FFmpeg filters (filters/vf_vmaf_pre.c, filters/vf_vmaf_post.c), so the fallback without the
patched FFmpeg gives the same frames and scores, and the parity tests have a reference.

Both filters feed the model one plane as float32 in [0,1] (sample / (2^depth - 1)); the
pre-filter blends `v + strength * (model - v)`, rounds half to even and clips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vmaftune.errors import InputError
from vmaftune.zoo.registry import check_range
from vmaftune.zoo.stream import STREAM_FEATURES

if TYPE_CHECKING:
    import onnxruntime


@dataclass(frozen=True)
class PlaneModel:
    session: onnxruntime.InferenceSession
    name: str
    range: tuple[float, float] | None = None  # what it may return (LoadedModel.range)

    @property
    def channels(self) -> int | None:
        """The planes the model takes per run (None: not fixed by the file)."""
        shape = list(self.session.get_inputs()[0].shape)
        return shape[1] if len(shape) == 4 and isinstance(shape[1], int) else None

    def run(self, plane: np.ndarray, depth: int, extra: np.ndarray | None = None) -> np.ndarray:
        """One plane [H, W], or a window of planes [C, H, W] as the model's channels;
        `extra` ([H, W] float32) follows them unscaled (vmaf_post's stream plane)."""
        stack = plane if plane.ndim == 3 else plane[None]
        plane = stack[0]
        scale = np.float32(1.0 / ((1 << depth) - 1))
        x = stack.astype(np.float32) * scale
        if extra is not None:
            x = np.concatenate([x, extra[None].astype(np.float32)])
        inp = self.session.get_inputs()[0]
        channels = self.channels
        if channels is not None and channels != len(x):
            raise InputError(
                f"model {self.name} takes {channels} plane(s) per run; this filter gives it "
                f"{len(x)}"
            )
        # Checked before running, in the words of the C filters' config_input.
        want = list(inp.shape)[2:]
        if len(want) == 2 and any(
            isinstance(w, int) and w != have for w, have in zip(want, plane.shape, strict=True)
        ):
            w, h = (v if isinstance(v, int) else -1 for v in (want[1], want[0]))
            raise InputError(
                f"model {self.name} takes {w}x{h} planes but this one is "
                f"{plane.shape[1]}x{plane.shape[0]}; scale first or use a model with dynamic "
                "height and width"
            )
        try:
            (y,) = self.session.run(None, {inp.name: x[None]})
        except Exception as e:  # onnxruntime raises its own error types
            cause = " ".join(str(e).split())
            raise InputError(
                f"model {self.name} failed on a {plane.shape[1]}x{plane.shape[0]} plane: {cause}"
            ) from None
        out: np.ndarray = np.asarray(y, dtype=np.float32)
        check_range(self.name, out, self.range)
        return out


def prefilter_plane(
    model: PlaneModel, plane: np.ndarray, depth: int, strength: float = 1.0
) -> np.ndarray:
    """One plane (uint8 or uint16 samples) through a pre-filter model."""
    maxv = (1 << depth) - 1
    y = model.run(plane, depth)
    if y.shape != (1, 1, *plane.shape):
        raise InputError(
            f"model {model.name} returned {list(y.shape)} for a plane of {list(plane.shape)}"
        )
    v = plane.astype(np.float32) * np.float32(1.0 / maxv)
    v = v + np.float32(strength) * (y[0, 0] - v)
    out = np.clip(np.rint(v * np.float32(maxv)), 0, maxv)
    result: np.ndarray = out.astype(plane.dtype)
    return result


def temporal_plane(
    model: PlaneModel, window: np.ndarray, depth: int, strength: float = 1.0
) -> np.ndarray:
    """Frame t's plane from the window t-2..t+2 ([5, H, W] uint8 or uint16 samples), as
    vf_vmaf_pre_temporal.c writes it: the model's floats, blended over frame t's own when
    strength < 1, rounded and clipped."""
    maxv = (1 << depth) - 1
    y = model.run(window, depth)
    if y.shape != (1, 1, *window.shape[1:]):
        raise InputError(
            f"model {model.name} returned {list(y.shape)} for a window of {list(window.shape)}"
        )
    v = y[0, 0]
    if strength < 1.0:
        o = window[2].astype(np.float32) * np.float32(1.0 / maxv)
        v = o + np.float32(strength) * (v - o)
    out = np.clip(np.rint(v * np.float32(maxv)), 0, maxv)
    result: np.ndarray = out.astype(window.dtype)
    return result


def fr_score(model: PlaneModel, pair: np.ndarray, depth: int) -> float:
    """The tiny full-reference model's VMAF for one pair of luma planes ([2, H, W]:
    distorted, reference), as the vmaf_tiny filter computes it."""
    y = model.run(pair, depth)
    if y.size != 1:
        raise InputError(
            f"model {model.name} returned {list(y.shape)}; a full-reference model returns one "
            "number"
        )
    return float(np.float32(y.reshape(())))


def nr_score(
    model: PlaneModel, luma: np.ndarray, depth: int, stream: np.ndarray | None = None
) -> float:
    """The no-reference model's VMAF for one luma plane, with the frame's stream vector
    (vmaftune.zoo.stream.vector) for a two-channel model: the first samples of channel 1's
    first row, zeros elsewhere, as vf_vmaf_post.c lays it out."""
    extra = None
    if model.channels == 2:
        if luma.shape[1] < len(STREAM_FEATURES):
            raise InputError(
                f"frames {luma.shape[1]} samples wide cannot carry the "
                f"{len(STREAM_FEATURES)} stream facts model {model.name} reads"
            )
        extra = np.zeros(luma.shape, dtype=np.float32)
        if stream is not None:
            extra[0, : len(stream)] = stream
    y = model.run(luma, depth, extra)
    if y.size != 1:
        raise InputError(
            f"model {model.name} returned {list(y.shape)}; a no-reference model returns one number"
        )
    return float(y.reshape(()))


def tiny_vmaf(session: onnxruntime.InferenceSession, name: str, features: np.ndarray) -> np.ndarray:
    """vmaf_tiny's VMAF of each frame from its canonical-6 row (adm2, vif_scale0..3,
    motion2), as libvmaf logs them."""
    if features.ndim != 2 or features.shape[1] != 6:
        raise InputError(f"model {name} takes rows of the 6 canonical features")
    inp = session.get_inputs()[0].name
    try:
        (y,) = session.run(None, {inp: features.astype(np.float32)})
    except Exception as e:  # onnxruntime raises its own error types
        raise InputError(f"model {name} failed: {' '.join(str(e).split())}") from None
    out: np.ndarray = np.asarray(y, dtype=np.float64).reshape(-1)
    if out.shape[0] != features.shape[0]:
        raise InputError(
            f"model {name} returned {out.shape[0]} scores for {features.shape[0]} frames"
        )
    return out
