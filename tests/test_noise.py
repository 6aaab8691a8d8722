"""The noise estimator (vmaftune.zoo.noise) on real frames: near zero on a clean clip and
on a flat synthetic one, close to the deviation of Gaussian noise added to them, and
rising with it."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.conftest import opencv_clip
from vmaftune.zoo import noise


@pytest.fixture(scope="module")
def frames(ffmpeg_exe) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Six luma frames of vtest.avi (people in a mall, 768x576), decoded as they are."""
    argv = [ffmpeg_exe, "-v", "error", "-i", str(opencv_clip("vtest.avi")), "-frames:v", "6",
            "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(6, 576, 768)


def test_clean_frames_read_low_and_added_noise_reads_as_itself(frames):
    rng = np.random.default_rng(19)
    clean = [noise.sigma(f) for f in frames]
    assert max(clean) < 2.5, clean
    for s in (3.0, 6.0, 12.0):
        noisy = [noise.sigma(np.clip(f + rng.normal(0, s, f.shape), 0, 255)) for f in frames]
        # The clip's own faint noise adds in quadrature.
        assert all(abs(n - s) < 0.15 * s + 1.0 for n in noisy), (s, noisy)
    flat = np.full((144, 176), 128.0)
    assert noise.sigma(flat) == 0.0
    assert noise.sigma(flat + rng.normal(0, 5, flat.shape)) == pytest.approx(5, rel=0.1)


def test_tiny_or_wrong_shape_planes_are_refused():
    with pytest.raises(ValueError):
        noise.sigma(np.zeros((10, 10)))
    with pytest.raises(ValueError):
        noise.sigma(np.zeros((3, 64, 64)))
