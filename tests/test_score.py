"""`vmaftune score` must equal stock `ffmpeg -lavfi libvmaf` on the same inputs."""

from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vmaftune.errors import InputError, UsageError
from vmaftune.steps.probe import probe
from vmaftune.steps.score import CANONICAL6, VmafOptions, plan, pool

from .conftest import opencv_clip


def stock_libvmaf(
    ffmpeg_exe: str, ref: Path, dist: Path, tmp_path: Path, extra: str = "", pre: str = ""
) -> dict:
    """The command a user would type, with FFmpeg's own defaults."""
    log = tmp_path / "stock.json"
    graph = (
        f"[0:v]{pre}[d];[d][1:v]libvmaf=log_fmt=json:log_path={log}{extra}"
        if pre
        else (f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}{extra}")
    )
    subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error",
         "-i", str(dist), "-i", str(ref), "-lavfi", graph, "-f", "null", "-"],
        check=True, capture_output=True,
    )  # fmt: skip
    return json.loads(log.read_text())


def ours(cli, ref: Path, dist: Path, *args: str) -> dict:
    result = cli("score", ref, dist, "--json", "-", *args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def assert_frames_equal(our: dict, stock: dict) -> None:
    assert len(our["frames"]) == len(stock["frames"])
    for mine, theirs in zip(our["frames"], stock["frames"], strict=True):
        assert mine["frame"] == theirs["frameNum"]
        assert abs(mine["vmaf"] - theirs["metrics"]["vmaf"]) <= 1e-6
        for name in CANONICAL6:
            assert abs(mine[name] - theirs["metrics"][f"integer_{name}"]) <= 1e-6


def test_equals_stock_libvmaf_on_real_pair(cli, ffmpeg_exe, carphone, tmp_path):
    ref, dist = carphone
    our = ours(cli, ref, dist)
    stock = stock_libvmaf(ffmpeg_exe, ref, dist, tmp_path)
    assert_frames_equal(our, stock)
    # The carphone pair is heavily distorted: a low score, not a placeholder.
    assert 20 < our["pooled"]["mean"] < 50
    pooled = stock["pooled_metrics"]["vmaf"]
    assert abs(our["pooled"]["mean"] - pooled["mean"]) <= 1e-6
    assert abs(our["pooled"]["harmonic_mean"] - pooled["harmonic_mean"]) <= 1e-6
    assert our["pooled"]["min"] == pytest.approx(pooled["min"], abs=1e-9)


def test_equals_stock_libvmaf_on_real_encode(cli, ffmpeg_exe, bbb, clips, tmp_path):
    our = ours(cli, bbb, clips["bbb_x264"])
    stock = stock_libvmaf(ffmpeg_exe, bbb, clips["bbb_x264"], tmp_path)
    assert_frames_equal(our, stock)
    assert our["frames_scored"] == 132
    assert 60 < our["pooled"]["mean"] < 99


def test_scales_distorted_to_reference_bicubic(cli, ffmpeg_exe, bbb, clips, tmp_path):
    our = ours(cli, bbb, clips["bbb_small"])
    assert any("scaled from 640x360 to 1280x720 (bicubic)" in n for n in our["notes"])
    stock = stock_libvmaf(
        ffmpeg_exe, bbb, clips["bbb_small"], tmp_path, pre="scale=1280:720:flags=bicubic"
    )
    assert_frames_equal(our, stock)


def test_models_subsample_and_threads(cli, ffmpeg_exe, carphone, tmp_path):
    ref, dist = carphone
    default = ours(cli, ref, dist, "--threads", "1")
    neg = ours(cli, ref, dist, "--model", "vmaf_v0.6.1neg")
    k4 = ours(cli, ref, dist, "--model", "vmaf_4k")
    assert neg["model"] == "vmaf_v0.6.1neg" and k4["model"] == "vmaf_4k"
    # NEG limits enhancement gain: never above the default model on the same frames.
    assert neg["pooled"]["mean"] < default["pooled"]["mean"]
    assert k4["pooled"]["mean"] != default["pooled"]["mean"]
    stock_neg = stock_libvmaf(
        ffmpeg_exe, ref, dist, tmp_path, extra=":model=version=vmaf_v0.6.1neg"
    )
    for mine, theirs in zip(neg["frames"], stock_neg["frames"], strict=True):
        assert abs(mine["vmaf"] - theirs["metrics"]["vmaf"]) <= 1e-6
    sub = ours(cli, ref, dist, "--subsample", "5")
    assert [f["frame"] for f in sub["frames"]] == list(range(0, 120, 5))
    by_frame = {f["frame"]: f["vmaf"] for f in default["frames"]}
    assert all(abs(f["vmaf"] - by_frame[f["frame"]]) <= 1e-6 for f in sub["frames"])


def test_csv_holds_frames_and_pooled_rows(cli, carphone, tmp_path):
    ref, dist = carphone
    dest = tmp_path / "out.csv"
    result = cli("score", ref, dist, "--csv", dest, "--json", tmp_path / "out.json")
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(dest.open()))
    assert list(rows[0].keys()) == ["frame", "vmaf", *CANONICAL6]
    frames = [r for r in rows if r["frame"].isdigit()]
    pooled = {r["frame"]: r for r in rows if not r["frame"].isdigit()}
    assert len(frames) == 120
    assert set(pooled) == {"mean", "harmonic_mean", "min", "p1", "p5"}
    values = np.array([float(r["vmaf"]) for r in frames])
    assert float(pooled["mean"]["vmaf"]) == pytest.approx(values.mean(), abs=1e-6)
    assert float(pooled["p5"]["vmaf"]) == pytest.approx(np.percentile(values, 5), abs=1e-6)
    report = json.loads((tmp_path / "out.json").read_text())
    assert [f["vmaf"] for f in report["frames"]] == pytest.approx(values.tolist(), abs=1e-6)
    # The human summary still reaches the terminal.
    assert "harmonic_mean" in result.stdout


def test_pooling_definitions():
    values = np.array([0.0, 50.0, 100.0, 100.0])
    pooled = pool(values)
    assert pooled.mean == 62.5
    assert pooled.min == 0.0
    # libvmaf's harmonic mean: 1 / mean(1 / (x + 1)) - 1
    expected = 1 / np.mean(1 / (values + 1)) - 1
    assert pooled.harmonic_mean == pytest.approx(expected)
    assert pooled.p1 < pooled.p5 < pooled.mean


def test_frame_count_mismatch_needs_align(cli, ffmpeg_exe, bbb, tmp_path):
    short = tmp_path / "short.mp4"
    subprocess.run(
        [ffmpeg_exe, "-v", "error", "-i", str(bbb), "-frames:v", "100", "-an",
         "-c:v", "libx264", "-preset", "veryfast", str(short)],
        check=True,
    )  # fmt: skip
    refused = cli("score", bbb, short)
    assert refused.code == 3
    assert "frame counts differ (reference 132, distorted 100)" in refused.stderr
    assert "--align" in refused.stderr
    aligned = ours(cli, bbb, short, "--align")
    assert aligned["frames_scored"] == 100
    assert any("100 common frames" in n for n in aligned["notes"])


def test_frame_rate_mismatch_resamples_with_align(cli, ffmpeg_exe, clips, tmp_path):
    fast = tmp_path / "50fps.mp4"
    subprocess.run(
        [ffmpeg_exe, "-v", "error", "-i", str(clips["cfr"]), "-vf", "fps=50",
         "-c:v", "libx264", str(fast)],
        check=True,
    )  # fmt: skip
    refused = cli("score", clips["cfr"], fast)
    assert refused.code == 3 and "frame rates differ" in refused.stderr
    aligned = ours(cli, clips["cfr"], fast, "--align")
    assert aligned["frames_scored"] == 50
    # Every 50 fps frame is a copy of a 25 fps one: after resampling, near-lossless.
    assert aligned["pooled"]["mean"] > 90


def test_plan_is_pure_and_converts_unsupported_pixel_formats():
    ref = probe(opencv_clip("tree.avi"))  # cinepak, rgb24: libvmaf cannot take it
    score_plan = plan(ref, ref, VmafOptions())
    assert "format=yuv420p" in score_plan.reference_chain
    assert "format=yuv420p" in score_plan.distorted_chain
    graph = score_plan.filtergraph("vmaf.json")
    assert graph.startswith("[0:v]format=yuv420p,settb=1/1000,setpts=N[dis];")
    assert "[dis][ref]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=vmaf.json:" in graph
    assert "shortest" not in graph and "n_subsample" not in graph


def test_score_rgb_source_against_its_encode(cli, ffmpeg_exe, tmp_path):
    tree = opencv_clip("tree.avi")
    enc = tmp_path / "tree.mkv"
    subprocess.run(
        [ffmpeg_exe, "-v", "error", "-i", str(tree), "-fps_mode", "passthrough",
         "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(enc)],
        check=True,
    )  # fmt: skip
    our = ours(cli, tree, enc)
    # Paired by index: 68 frames. Stock libvmaf pairs this VFR clip by timestamp and
    # repeats one frame (69 pairs); see vmaftune/score.py.
    assert our["frames_scored"] == 68
    assert our["pooled"]["mean"] > 85
    assert not math.isnan(our["pooled"]["p1"])


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="unknown VMAF model"):
        VmafOptions(model="vmaf_v9").checked()
    with pytest.raises(UsageError, match="--subsample"):
        VmafOptions(subsample=0).checked()


def test_unknown_model_on_cli(cli, carphone):
    result = cli("score", *carphone, "--model", "nope")
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "unknown VMAF model" in result.stderr


def test_plan_refuses_mismatch_without_align(carphone, bbb):
    with pytest.raises(InputError, match="differ"):
        plan(probe(bbb), probe(carphone[0]), VmafOptions())


def test_align_across_rates_reports_the_frames_it_scored(cli, ffmpeg_exe, tmp_path):
    """15 fps against 25 fps: the distorted is resampled to 25 fps, so the note counts the
    frames libvmaf paired, as the table does (issue 17: it said 30 while 50 were scored)."""
    ref, dis = tmp_path / "ref.mp4", tmp_path / "dis.mp4"
    for path, rate in ((ref, 25), (dis, 15)):
        subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=s=320x240:r={rate}:d=2", "-c:v", "libx264", str(path)],
                       check=True)  # fmt: skip
    r = cli("score", ref, dis, "--align", "--json", "-")
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["frames_scored"] == 50
    assert "scored the 50 common frames (--align)" in data["notes"]
