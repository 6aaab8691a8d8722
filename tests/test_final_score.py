"""The per-shot output's whole-file VMAF, composed from the shots' trials and a 4-frame
libvmaf window across each cut (issue 18, Deliver 7), is stock libvmaf's over the whole
output, frame by frame; when a shot lacks per-frame scores it falls back to the full pass."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import vmaftune


def stock_frames(ffmpeg: str, dis: Path, ref: Path) -> np.ndarray:
    """Every frame's VMAF of `dis` against `ref`, paired by decode index: no vmaftune code."""
    index = "settb=1/1000,setpts=N"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "vmaf.json"
        subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(dis), "-i",
             str(ref), "-lavfi", f"[0:v]{index}[d];[1:v]{index}[r];[d][r]libvmaf=log_fmt=json:"
             f"log_path={log}", "-f", "null", "-"],
            check=True,
        )  # fmt: skip
        frames = json.loads(log.read_text())["frames"]
    return np.array([f["metrics"]["vmaf"] for f in frames])


def test_composed_whole_score_is_stock_libvmaf_frame_by_frame(
    cut_clip, ffmpeg_exe, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    src, _truth = cut_clip
    out = tmp_path / "out.mkv"
    request = vmaftune.TargetRequest(src, out, "x264", 90.0, preset="ultrafast", jobs=2)
    result = vmaftune.encode_target(request).wait()
    assert len(result.shots) >= 3
    assert any("cut window" in n for n in result.whole.notes)  # the composed path ran
    composed = np.array([f.vmaf for f in result.whole.frames])
    stock = stock_frames(ffmpeg_exe, out, src)
    assert len(composed) == len(stock)
    # Trials keep 4 decimals; the frames at each cut differ by up to several VMAF between
    # a shot scored alone and the whole file, so this fails if a window is wrong.
    assert np.abs(composed - stock).max() < 1e-3
    doc = json.loads((tmp_path / "out.mkv.shots.json").read_text())
    assert abs(doc["output"]["vmaf"]["mean"] - float(stock.mean())) < 1e-3

    # The same run with the full pass gives the same numbers.
    full = vmaftune.encode_target(
        vmaftune.TargetRequest(
            src, tmp_path / "full.mkv", "x264", 90.0, preset="ultrafast", jobs=2, final_score="full"
        )
    ).wait()
    assert not any("cut window" in n for n in full.whole.notes)
    assert abs(full.whole.pooled.mean - result.whole.pooled.mean) < 1e-3


def test_the_cut_frames_do_differ_from_the_shots_alone(cut_clip, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the windows are for: at a cut the whole file's motion sees the other shot."""
    src, _ = cut_clip
    out = tmp_path / "out.mkv"
    result = vmaftune.encode_target(
        vmaftune.TargetRequest(src, out, "x264", 90.0, preset="ultrafast", jobs=2)
    ).wait()
    alone = np.concatenate([r.chosen.per_frame for r in result.shots])
    whole = np.array([f.vmaf for f in result.whole.frames])
    starts = [r.shot.start for r in result.shots[1:]]
    assert np.abs(alone - whole).max() > 0.01
    at_cuts = {i for s in starts for i in (s - 1, s)}
    assert {int(i) for i in np.nonzero(np.abs(alone - whole) > 1e-9)[0]} <= at_cuts


def test_subsampled_trials_are_confirmed_on_every_frame(cut_clip, ffmpeg_exe, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--trial-subsample 3: trials are scored on every third frame, each shot's answer on
    all of them, and the output is checked as ever (issue 18, Deliver 3)."""
    src, _ = cut_clip
    out = tmp_path / "out.mkv"
    result = vmaftune.encode_target(
        vmaftune.TargetRequest(
            src, out, "x264", 90.0, preset="ultrafast", jobs=2, trial_subsample=3
        )
    ).wait()
    for shot in result.shots:
        assert shot.chosen.subsample == 1 and len(shot.chosen.per_frame) == shot.shot.frames
        assert shot.chosen.scores.mean >= 90.0
        others = [t for t in shot.trials if t.setting != shot.chosen.setting]
        assert all(t.subsample == 3 and len(t.per_frame) < t.frames + 1 for t in others)
    stock = stock_frames(ffmpeg_exe, out, src)
    composed = np.array([f.vmaf for f in result.whole.frames])
    assert np.abs(composed - stock).max() < 1e-3
