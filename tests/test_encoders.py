"""Encoder adapters: the TOML data agrees with the real FFmpeg, argv is exact, hardware
encoders fail with a clear message where no device exists."""

from __future__ import annotations

import re
import subprocess

import pytest

from vmaftune import encoders
from vmaftune.edges.toolchain import resolve, trial_encode
from vmaftune.encoders import load_all
from vmaftune.errors import UsageError

FAMILIES = {"x264", "x265", "svtav1", "nvenc", "qsv"}


def encoder_help(ffmpeg_exe: str, name: str) -> str:
    return subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-h", f"encoder={name}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_all_families_and_encoders_load():
    found = load_all()
    assert {e.family for e in found} == FAMILIES
    assert {e.name for e in found} == {
        "x264", "x265", "svtav1", "h264_nvenc", "hevc_nvenc", "av1_nvenc",
        "h264_qsv", "hevc_qsv", "av1_qsv",
    }  # fmt: skip


@pytest.mark.parametrize("enc", load_all(), ids=lambda e: e.name)
def test_data_agrees_with_ffmpeg_help(ffmpeg_exe, enc):
    text = encoder_help(ffmpeg_exe, enc.ffmpeg)
    supported = set(re.search(r"Supported pixel formats: (.*)", text).group(1).split())  # type: ignore[union-attr]
    assert set(enc.all_pix_fmts) <= supported
    if enc.quality.option != "-global_quality":  # a generic AVCodecContext option
        assert re.search(rf"^\s+{re.escape(enc.quality.option)}\s", text, re.M)
    if enc.family in {"nvenc", "qsv"}:
        # Their presets are named constants in the help text.
        for preset in enc.presets:
            assert re.search(rf"^\s+{preset}\s", text, re.M), preset


def test_lookup_aliases_and_suggestions():
    assert encoders.get("libx264").name == "x264"
    assert encoders.get("SVT-AV1").name == "svtav1"
    assert encoders.get("hevc").name == "x265"
    with pytest.raises(UsageError, match="did you mean x265"):
        encoders.get("x256")


def test_quality_range_and_steps():
    x264 = encoders.get("x264")
    assert x264.quality.check(23.5, "x264") == 23.5
    with pytest.raises(UsageError, match=r"out of range for x264 \(0\.\.51\)"):
        x264.quality.check(52, "x264")
    svt = encoders.get("svtav1")
    with pytest.raises(UsageError, match="whole --crf"):
        svt.quality.check(30.5, "svtav1")
    assert svt.quality.render(30.0) == "30"
    with pytest.raises(UsageError, match="unknown preset"):
        x264.pick_preset("ludicrous")
    assert encoders.get("x265").pick_pix_fmt(None, source_bit_depth=10) == "yuv420p10le"
    assert encoders.get("h264_qsv").pick_pix_fmt(None) == "nv12"


def test_nvenc_and_qsv_argv_exact():
    """The argv we hand FFmpeg for hardware encoders (no device here to run them)."""
    nvenc = encoders.get("hevc_nvenc")
    assert nvenc.video_args(27, "p5", "p010le") == [
        "-c:v", "hevc_nvenc", "-preset", "p5", "-cq", "27", "-rc", "vbr", "-b:v", "0",
        "-pix_fmt", "p010le",
    ]  # fmt: skip
    assert encoders.get("av1_nvenc").video_args(30.5, "p7", "yuv420p")[4:6] == ["-cq", "30.5"]
    qsv = encoders.get("h264_qsv")
    assert qsv.video_args(23, "slow", "nv12") == [
        "-c:v", "h264_qsv", "-preset", "slow", "-global_quality", "23", "-pix_fmt", "nv12",
    ]  # fmt: skip
    assert encoders.get("x265").video_args(28, "fast", "yuv420p") == [
        "-c:v", "libx265", "-preset", "fast", "-crf", "28", "-pix_fmt", "yuv420p",
        "-x265-params", "log-level=error:info=0",
    ]  # fmt: skip
    assert encoders.get("x265").video_args(28, "fast", "yuv420p", threads=2)[-4:] == [
        "-threads", "2", "-x265-params", "log-level=error:info=0:pools=2",
    ]  # fmt: skip
    assert encoders.get("svtav1").video_args(30, "8", "yuv420p", threads=1)[-2:] == [
        "-svtav1-params", "lp=1",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["h264_nvenc", "hevc_qsv"])
def test_hardware_encoder_runs_or_says_why(cli, carphone, tmp_path, name):
    enc = encoders.get(name)
    out = tmp_path / f"{name}.mp4"
    trial = trial_encode(resolve(), enc.ffmpeg, enc.default_pix_fmt)
    result = cli("encode", carphone[0], "-o", out, "-c", name, "--no-vmaf")
    if trial.usable:
        assert result.code == 0 and out.exists()
        return
    assert result.code == 4
    need = "NVIDIA GPU" if enc.hardware == "nvidia" else "Intel GPU"
    assert need in result.stderr and "cannot run here" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()
    pytest.skip(f"real {name} encode skipped: no device here ({trial.reason})")


def test_encoders_command(cli):
    result = cli("encoders", "--json")
    assert result.code == 0
    rows = {r["name"]: r for r in result.json()}
    assert rows["x264"]["usable"] and rows["svtav1"]["range"] == [1, 63]
    assert rows["h264_qsv"]["roi"] and not rows["av1_nvenc"]["roi"]
    assert cli("encoders").code == 0
