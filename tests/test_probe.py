"""`vmaftune probe`: facts about real and generated files."""

from __future__ import annotations

import subprocess
from fractions import Fraction

from vmaftune.steps.probe import probe

from .conftest import opencv_clip


def decoded_frames(ffmpeg_exe: str, path) -> int:
    """What FFmpeg itself decodes, frame for frame."""
    done = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
         "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return sum(1 for line in done.stdout.splitlines() if line and not line.startswith("#"))


def test_real_mp4(bbb, ffmpeg_exe):
    info = probe(bbb)
    assert (info.width, info.height, info.pix_fmt, info.bit_depth) == (1280, 720, "yuv420p", 8)
    assert info.frame_rate == Fraction(25) and not info.vfr
    assert info.frame_count == decoded_frames(ffmpeg_exe, bbb) == 132
    assert abs(info.duration - 132 / 25) < 1e-9
    assert info.has_audio and not info.hdr
    assert 0 < info.video_bytes < info.file_bytes


def test_real_avi_files(ffmpeg_exe):
    megamind = probe(opencv_clip("Megamind.avi"))
    assert (megamind.codec, megamind.width, megamind.height) == ("mpeg4", 720, 528)
    assert megamind.frame_count == decoded_frames(ffmpeg_exe, megamind.path)
    tree = probe(opencv_clip("tree.avi"))
    # Cinepak AVI with dropped frames: 68 real frames in a 15 fps, 444-tick index.
    assert tree.vfr and tree.pix_fmt == "rgb24"
    assert tree.frame_count == decoded_frames(ffmpeg_exe, tree.path) == 68


def test_ntsc_rate_is_exact():
    info = probe(opencv_clip("Megamind.avi"))
    assert info.frame_rate == Fraction(2997, 125)  # 23.976 as the AVI header states it


def test_generated_vfr_hdr_10bit(clips):
    vfr = probe(clips["vfr"])
    assert vfr.vfr and vfr.frame_count == 50
    cfr = probe(clips["cfr"])
    assert not cfr.vfr and cfr.frame_count == 50 and cfr.frame_rate == 25
    hdr = probe(clips["hdr10"])
    assert hdr.hdr and hdr.color_transfer == "smpte2084"
    assert hdr.bit_depth == 10 and hdr.pix_fmt == "yuv420p10le"


def test_cli_json_and_table(cli, bbb, clips):
    result = cli("probe", bbb, "--json")
    assert result.code == 0
    data = result.json()
    assert data["frame_count"] == 132 and data["vfr"] is False
    assert data["frame_rate_fraction"] == "25/1"
    table = cli("probe", clips["hdr10"])
    assert table.code == 0 and "(HDR)" in table.stdout and "10-bit" in table.stdout
    vfr = cli("probe", clips["vfr"])
    assert "VFR" in vfr.stdout
