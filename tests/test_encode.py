"""`vmaftune encode`: real encodes with x264, x265 and SVT-AV1."""

from __future__ import annotations

import pytest

from vmaftune.steps.probe import probe

from .conftest import ffmpeg_failing_encodes, opencv_clip


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial" in p.name or "write-test" in p.name]


@pytest.mark.parametrize(
    ("codec", "crf", "preset", "suffix"),
    [
        ("x264", "28", "veryfast", ".mp4"),
        ("x265", "30", "ultrafast", ".mkv"),
        ("svtav1", "40", "12", ".mkv"),
    ],
)
def test_real_encode_reports_vmaf_size_bitrate(cli, carphone, tmp_path, codec, crf, preset, suffix):
    source = carphone[0]
    out = tmp_path / f"out{suffix}"
    result = cli("encode", source, "-o", out, "-c", codec, "--crf", crf, "--preset", preset,
                 "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    events = result.ndjson()
    types = [e["type"] for e in events]
    assert types[0] == "encode-start" and types[-1] == "done" and "encoded" in types
    done = events[-1]
    info = probe(out)
    assert info.frame_count == probe(source).frame_count == done["frames"]
    assert done["bytes"] == out.stat().st_size
    assert done["video_bitrate"] == round(info.video_bitrate) > 0
    assert 50 < done["vmaf"]["mean"] <= 100
    assert done["vmaf"]["min"] <= done["vmaf"]["p5"] <= done["vmaf"]["mean"]
    assert leftovers(tmp_path) == []


def test_lower_crf_means_higher_vmaf_and_more_bytes(cli, carphone, tmp_path):
    runs = {}
    for crf in ("20", "40"):
        out = tmp_path / f"c{crf}.mp4"
        result = cli("encode", carphone[0], "-o", out, "-c", "x264", "--crf", crf, "--json")
        assert result.code == 0, result.stderr
        runs[crf] = result.ndjson()[-1]
    assert runs["20"]["vmaf"]["mean"] > runs["40"]["vmaf"]["mean"] + 5
    assert runs["20"]["bytes"] > 2 * runs["40"]["bytes"]


def test_ten_bit_and_audio_copy(cli, bbb, tmp_path):
    out = tmp_path / "bbb10.mkv"
    result = cli("encode", bbb, "-o", out, "-c", "x265", "--crf", "32", "--preset", "ultrafast",
                 "--pix-fmt", "yuv420p10le", "--no-vmaf")  # fmt: skip
    assert result.code == 0, result.stderr
    info = probe(out)
    assert info.bit_depth == 10 and info.frame_count == 132
    assert info.has_audio  # bigbuckbunny.mp4 carries AAC; copied by default
    muted = tmp_path / "muted.mp4"
    assert cli("encode", bbb, "-o", muted, "-c", "x264", "--no-audio", "--no-vmaf").code == 0
    assert not probe(muted).has_audio


def test_avi_source_human_summary(cli, tmp_path):
    source = opencv_clip("vtest.avi")
    out = tmp_path / "vtest.mp4"
    result = cli("encode", source, "-o", out, "-c", "x264", "--preset", "ultrafast",
                 "--crf", "30")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "VMAF" in result.stdout and "kb/s" in result.stdout
    assert probe(out).frame_count == 795


def test_existing_output_needs_force_and_input_is_never_overwritten(cli, carphone, tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    refused = cli("encode", carphone[0], "-o", out, "-c", "x264", "--no-vmaf")
    assert refused.code == 3 and "--force" in refused.stderr
    assert out.read_bytes() == b"precious"
    forced = cli("encode", carphone[0], "-o", out, "-c", "x264", "--no-vmaf", "--force")
    assert forced.code == 0 and probe(out).frame_count == 120
    src = tmp_path / "src.mp4"
    src.write_bytes(carphone[0].read_bytes())
    same = cli("encode", src, "-o", src, "-c", "x264", "--force")
    assert same.code == 2 and "is the input" in same.stderr
    assert src.read_bytes() == carphone[0].read_bytes()


def test_failed_encode_leaves_nothing(cli, carphone, tmp_path, ffmpeg_exe, monkeypatch):
    # An FFmpeg whose encodes fail (an unknown option after the output), the rest real:
    # an unknown OUT extension, the old way to make it fail, is now refused up front.
    tools = tmp_path.parent / f"{tmp_path.name}-tools"
    tools.mkdir()
    wrapper = ffmpeg_failing_encodes(tools, ffmpeg_exe)
    monkeypatch.setenv("VMAFTUNE_FFMPEG", str(wrapper))
    out = tmp_path / "out.mp4"
    result = cli("encode", carphone[0], "-o", out, "-c", "x264", "--no-vmaf")
    assert result.code == 4
    assert result.stderr.startswith("vmaftune: error: encode with x264 failed")
    assert result.stderr.count("\n") == 1
    assert not out.exists() and leftovers(tmp_path) == []
