"""How noisy a frame is: the standard deviation of additive white noise in its luma, in code
values of its bit depth, for the pre-filters' automatic mode (issue 19: do nothing on clean
content).

Immerkær's estimator (CVIU 64(2), 1996): the 3x3 kernel [1 -2 1; -2 4 -2; 1 -2 1] is the
difference of two Laplacians, which cancels smooth image structure and leaves noise; for
white noise of deviation s the mean absolute response is s * 6 * sqrt(2/pi). Texture and
edges respond too, so the frame is cut into 16x16 blocks and the estimate is the median
of the quietest quarter of them: most frames have some flat area, and flat areas show
only noise. Picking the quietest blocks reads pure noise 9.7 % low (their block means are
the low tail of a distribution; measured on 1080p and 176x144 Gaussian noise at deviations
1 to 20: 0.900-0.904 of the truth), so the result is divided by 0.902. Known to read a
little high on frames with no flat area at all (dense foliage), where a denoiser's gate
errs on the side of filtering.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 16
QUIET_SHARE = 0.25
QUIET_BIAS = 0.902  # what the quietest blocks read of pure white noise (see above)
_SCALE = math.sqrt(math.pi / 2) / 6 / QUIET_BIAS


def sigma(luma: np.ndarray) -> float:
    """The noise deviation of one luma plane (2-D, any integer or float code values)."""
    y = np.asarray(luma, dtype=np.float64)
    if y.ndim != 2 or min(y.shape) < BLOCK + 2:
        raise ValueError(f"a luma plane of at least {BLOCK + 2}x{BLOCK + 2}, not {y.shape}")
    r = (
        y[:-2, :-2] - 2 * y[:-2, 1:-1] + y[:-2, 2:]
        - 2 * y[1:-1, :-2] + 4 * y[1:-1, 1:-1] - 2 * y[1:-1, 2:]
        + y[2:, :-2] - 2 * y[2:, 1:-1] + y[2:, 2:]
    )  # fmt: skip
    rows, cols = r.shape[0] // BLOCK, r.shape[1] // BLOCK
    blocks = np.abs(r[: rows * BLOCK, : cols * BLOCK]).reshape(rows, BLOCK, cols, BLOCK)
    per_block = np.sort(blocks.mean(axis=(1, 3)).reshape(-1))
    quiet = per_block[: max(1, int(len(per_block) * QUIET_SHARE))]
    return float(np.median(quiet) * _SCALE)


def sigma8(luma: np.ndarray, depth: int) -> float:
    """`sigma` in 8-bit code values, as the pre-filters' automatic mode reads a frame: planes
    too small to hold one block read 0 (clean), as vf_vmaf_pre*.c does."""
    if luma.ndim != 2 or min(luma.shape) < BLOCK + 2:
        return 0.0
    return sigma(luma) / (1 << (depth - 8))
