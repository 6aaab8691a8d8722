"""The encode ladder end to end: real shots, real x264 encodes per rung, real libvmaf,
HLS read back by FFmpeg itself, segments checked shot by shot against the source."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.stock import stock_vmaf
from vmaftune.errors import ToolError
from vmaftune.steps import hls
from vmaftune.steps import probe as media

from .conftest import cli_subprocess

RUNGS = "360:95,180:93,120:88"  # 360 is taller than the 180-line clip: skipped
BASE = ("-c", "x264", "--preset", "veryfast", "--rungs", RUNGS)


@pytest.fixture(scope="module")
def ladder(cut_clip, tmp_path_factory):  # type: ignore[no-untyped-def]
    src = cut_clip[0]
    out = tmp_path_factory.mktemp("ladder") / "hls"
    result = cli_subprocess("ladder", src, "-o", out, *BASE, "--keep-work", "--json")
    assert result.code == 0, result.stderr
    return src, out, result


def _frames(ffmpeg_exe: str, playlist: Path, variant: int) -> list[tuple[int, str]]:
    """(pts, md5) of every frame FFmpeg decodes from one variant of a master playlist."""
    proc = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-i", str(playlist),
         "-map", f"0:v:{variant}", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split(",") for line in proc.stdout.splitlines() if not line.startswith("#")]
    return [(int(r[2]), r[5].strip()) for r in rows]


def test_ffmpeg_reads_back_every_rung(ladder, ffmpeg_exe):
    src, out, _ = ladder
    doc = json.loads((out / "ladder.json").read_text())
    assert doc["schema"] == "vmaftune.ladder/1"
    assert [r["name"] for r in doc["rungs"]] == ["180p", "120p"]
    assert doc["skipped"] == ["rung 360p skipped: taller than the source (180 lines)"]
    # 320x180 at 120 lines: 213.3 wide, rounded to even.
    assert [(r["width"], r["height"]) for r in doc["rungs"]] == [(320, 180), (214, 120)]
    master = (out / hls.MASTER).read_text()
    assert master.count("#EXT-X-STREAM-INF") == 2
    assert "RESOLUTION=214x120" in master and 'CODECS="avc1.' in master
    frames = media.probe(src).frame_count
    pts = []
    for k, rung in enumerate(doc["rungs"]):
        decoded = _frames(ffmpeg_exe, out / hls.MASTER, k)
        assert len(decoded) == frames, rung["name"]
        pts.append([p for p, _ in decoded])
        assert rung["bandwidth"] >= rung["average_bandwidth"] > 0
    # Every rung shows each frame at the same time: a player can switch at any segment.
    assert pts[0] == pts[1]


def test_segments_are_shots_starting_on_keyframes(ladder, tmp_path):
    import av

    _, out, _ = ladder
    doc = json.loads((out / "ladder.json").read_text())
    starts = [[s["start_frame"] for s in r["shots"]] for r in doc["rungs"]]
    assert starts[0] == starts[1] and len(starts[0]) >= 3
    for rung in doc["rungs"]:
        folder = out / rung["name"]
        playlist = (folder / hls.PLAYLIST).read_text()
        for shot in rung["shots"]:
            assert shot["segment"] in playlist
            # A segment after the init segment is a playable file holding exactly the
            # shot's frames, starting on a keyframe.
            alone = tmp_path / f"{rung['name']}-{shot['index']}.mp4"
            alone.write_bytes(
                (folder / hls.INIT).read_bytes() + (folder / shot["segment"]).read_bytes()
            )
            with av.open(str(alone)) as c:
                packets = [p for p in c.demux(c.streams.video[0]) if p.size]
            assert len(packets) == shot["frames"], (rung["name"], shot["index"])
            assert packets[0].is_keyframe


def test_every_shot_meets_its_rung_target_with_stock_libvmaf(ladder, ffmpeg_exe, tmp_path):
    """Scored as documented for --score-at source: the rung upscaled (bicubic) to the
    source's size, against the source's frames of that shot."""
    src, out, _ = ladder
    doc = json.loads((out / "ladder.json").read_text())
    rung = doc["rungs"][1]
    folder = out / rung["name"]
    for shot in rung["shots"]:
        alone = tmp_path / f"shot{shot['index']}.mp4"
        alone.write_bytes(
            (folder / hls.INIT).read_bytes() + (folder / shot["segment"]).read_bytes()
        )
        score = stock_vmaf(ffmpeg_exe, alone, src, shot["start_frame"], shot["end_frame"],
                           dis_trimmed=True, upscale=(320, 180))  # fmt: skip
        assert score >= rung["target_vmaf"], shot
        assert score == pytest.approx(shot["vmaf"]["mean"], abs=0.05)


def test_events_and_resume_from_the_journal(ladder):
    src, out, result = ladder
    events = result.ndjson()
    assert [e["rung"] for e in events if e["type"] == "rung-start"] == ["180p", "120p"]
    assert all("rung" in e for e in events if e["type"] == "shot-done")
    assert events[-1]["type"] == "done" and events[-1]["encodes"] > 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.m4s")}
    again = cli_subprocess("ladder", src, "-o", out, *BASE, "--force", "--json")
    assert again.code == 0, again.stderr
    done = again.ndjson()[-1]
    assert done["encodes"] == 0 and done["probes"] == events[-1]["probes"]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.m4s")} == before
    # Without --keep-work the second run removed the work folder.
    assert not Path(f"{out}.vmaftune-work").exists()


def test_score_at_rung_scales_the_source_down(cut_clip, tmp_path):
    src = cut_clip[0]
    out = tmp_path / "small"
    result = cli_subprocess("ladder", src, "-o", out, "-c", "x264", "--preset", "veryfast",
                            "--rungs", "90:85", "--score-at", "rung", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    doc = json.loads((out / "ladder.json").read_text())
    assert doc["target"]["score_at"] == "rung"
    assert all(s["vmaf"]["mean"] >= 85 for s in doc["rungs"][0]["shots"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rungs", "720"), "cannot read '720'"),
        (("--rungs", "181:90"), "even sizes"),
        (("--rungs", "120:101"), "(0, 100]"),
        (("--rungs", "120:90,120:95"), "same height"),
        (("--rungs", "2160:95"), "no rung fits the source"),
        (("--rungs", "120:90", "--score-at", "both"), "--score-at must be one of"),
        (("--rungs", "120:90", "--pool", "median"), "pool"),
    ],
)
def test_bad_ladder_options_fail_in_one_line(cli, cut_clip, tmp_path, args, message):
    out = tmp_path / "hls"
    result = cli("ladder", cut_clip[0], "-o", out, "-c", "x264", *args)
    assert result.code != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_output_folder_is_protected(cli, cut_clip, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = cli("ladder", cut_clip[0], "-o", busy, "-c", "x264", "--rungs", "120:90")
    assert result.code != 0 and "not empty; pass --force" in result.stderr
    assert (busy / "keep.txt").read_text() == "mine"
    inside = tmp_path / "inside"
    inside.mkdir()
    copy = inside / "src.mp4"
    copy.write_bytes(cut_clip[0].read_bytes())
    result = cli("ladder", copy, "-o", inside, "-c", "x264", "--rungs", "120:90", "--force")
    assert result.code != 0 and "holds the input" in result.stderr
    assert copy.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    result = cli("ladder", cut_clip[0], "-o", afile, "-c", "x264", "--rungs", "120:90")
    assert result.code != 0 and "not a folder" in result.stderr


def test_codec_strings_from_decoder_records():
    # avcC: version 1, High profile (100), no constraints, level 3.1.
    assert hls.codecs("h264", bytes([1, 0x64, 0x00, 0x1F, 0xFF])) == "avc1.64001F"
    # hvcC: Main profile, compatibility flag 1 and 2, progressive+frame-only, level 3.1.
    record = bytes([1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93]) + bytes(10)
    assert hls.codecs("hevc", record) == "hvc1.1.6.L93.B0"
    # av1C: Main profile, level index 8 (4.0), Main tier, 10-bit.
    assert hls.codecs("av1", bytes([0x81, 0x08, 0x4C, 0x00])) == "av01.0.08M.10"
    with pytest.raises(ToolError):
        hls.codecs("vp9", b"\x01\x02\x03\x04")


def test_playlist_target_duration_covers_rounded_segments():
    from vmaftune.steps.shots import Shot

    shots = [Shot(0, 0, 100, 0.0, 4.0, "start"), Shot(1, 100, 262, 4.0, 10.48, "hard")]
    text = hls.media_playlist([hls.MediaSegment(s, f"s{s.index}.m4s", 1) for s in shots])
    assert "#EXT-X-TARGETDURATION:6\n" in text  # 6.48 rounds to 6
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    with pytest.raises(ToolError):
        hls.boxes(b"\x00\x00\x00\x40moof")  # claims 64 bytes, holds 8
