"""A failed run never costs the user a good file, and no output of any command is
replaced without --force (issue 17, items 2 and 3)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory, ffmpeg_exe: str) -> Path:
    """A file whose display matrix turns it a quarter: FFmpeg's encode auto-rotates it,
    so the encode and its source no longer have the same size."""
    d = tmp_path_factory.mktemp("rotated")
    base = d / "base.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1",
                    "-c:v", "libx264", str(base)], check=True)  # fmt: skip
    rot = d / "rot.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-display_rotation", "90", "-i", str(base),
                    "-c", "copy", str(rot)], check=True)  # fmt: skip
    return rot


def test_a_failed_encode_leaves_the_previous_out_untouched(
    cli, rotated: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "old.mp4"
    old.write_bytes(b"a good file from an earlier run")
    before = digest(old)
    r = cli("encode", rotated, "-o", old, "-c", "x264", "--preset", "ultrafast", "--force")
    if r.code == 0:
        pytest.skip("this FFmpeg scores the rotated encode: nothing failed")
    assert r.code in (3, 4) and "Traceback" not in r.stderr
    assert digest(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.mp4"]


def test_existing_sidecars_need_force(cli, clips, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.mp4"
    sidecar = tmp_path / "o.mp4.shots.json"
    sidecar.write_text("mine")
    args = ("encode", clips["cfr"], "-o", out, "-c", "x264", "--preset", "ultrafast",
            "-t", "80", "--jobs", "1")  # fmt: skip
    r = cli(*args)
    assert r.code == 3 and "o.mp4.shots.json: exists; pass --force" in r.stderr
    assert sidecar.read_text() == "mine" and not out.exists()
    assert not (tmp_path / "o.mp4.vmaftune-work").exists()
    r = cli(*args, "--force")
    assert r.code == 0, r.stderr
    assert sidecar.read_text().startswith("{")


def test_a_folder_where_a_sidecar_goes_is_refused_before_any_encode(
    cli, clips, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.mp4"
    (tmp_path / "o.mp4.shots.csv").mkdir()
    r = cli("encode", clips["cfr"], "-o", out, "-c", "x264", "--preset", "ultrafast",
            "-t", "80", "--force")  # fmt: skip
    assert r.code == 3 and "o.mp4.shots.csv: is a folder" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    assert not (tmp_path / "o.mp4.vmaftune-work").exists()


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_score_reports_need_force(cli, carphone, tmp_path: Path, flag: str) -> None:  # type: ignore[no-untyped-def]
    ref, dist = carphone
    report = tmp_path / "report"
    report.write_text("mine")
    r = cli("score", ref, dist, flag, report)
    assert r.code == 3 and "exists; pass --force" in r.stderr
    assert report.read_text() == "mine"
    r = cli("score", ref, dist, flag, report, "--force")
    assert r.code == 0, r.stderr
    assert report.read_text() != "mine"


def test_a_refused_per_shot_run_leaves_no_work_folder(cli, ffmpeg_exe: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tiny = tmp_path / "two.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-frames:v", "2", "-c:v", "libx264", str(tiny)], check=True)  # fmt: skip
    r = cli("encode", tiny, "-o", tmp_path / "o.mp4", "-c", "x264", "-t", "90")
    assert r.code != 0 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.mp4"]


def test_what_a_killed_encode_left_is_removed_by_the_next_run(
    cli, bbb: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import signal
    import sys

    out = tmp_path / "o.mp4"
    argv = [sys.executable, "-m", "vmaftune", "encode", str(bbb), "-o", str(out), "-c", "x264",
            "--preset", "veryslow", "--json"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["type"] == "progress":
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert any(n.startswith(".o.") and n.endswith(".partial.mp4") for n in left), left
    r = cli("encode", bbb, "-o", out, "-c", "x264", "--preset", "ultrafast", "--no-vmaf")
    assert r.code == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_an_out_extension_that_cannot_hold_the_codec_is_a_usage_error(  # type: ignore[no-untyped-def]
    cli, carphone, tmp_path: Path
) -> None:
    ref = carphone[0]
    r = cli("encode", ref, "-o", tmp_path / "o.xyz", "-c", "x264")
    assert r.code == 2 and "'.xyz' is not a container vmaftune writes" in r.stderr
    r = cli("encode", ref, "-o", tmp_path / "noext", "-c", "x264")
    assert r.code == 2 and "no extension names a container" in r.stderr
    r = cli("encode", ref, "-o", tmp_path / "o.webm", "-c", "x264", "-t", "90")
    assert r.code == 2 and ".webm cannot hold h264 (x264)" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_local_file_that_looks_like_a_url_is_read_as_a_file(  # type: ignore[no-untyped-def]
    cli, carphone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    shutil.copyfile(carphone[0], tmp_path / "http:x.mp4")
    monkeypatch.chdir(tmp_path)
    r = cli("probe", "http:x.mp4")
    assert r.code == 0, r.stderr


def test_a_bad_ffmpeg_is_refused_even_by_commands_that_do_not_run_it(cli, carphone) -> None:  # type: ignore[no-untyped-def]
    r = cli("--ffmpeg", "/nonexistent/ffmpeg", "probe", carphone[0])
    assert r.code == 4 and "/nonexistent/ffmpeg" in r.stderr


def test_a_truncated_input_is_named_not_sent_to_align(cli, ffmpeg_exe: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The header (moov first) lists every frame; the last 3 % of the data is gone.
    whole = tmp_path / "whole.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
                    "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart",
                    str(whole)], check=True)  # fmt: skip
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 97 // 100])
    out = tmp_path / "out.mp4"
    r = cli("encode", cut, "-o", out, "-c", "x264", "--preset", "ultrafast", "--crf", "30")
    # Before: exit 3 "frame counts differ ...; use --align", an option encode lacks.
    assert r.code == 3 and "--align" not in r.stderr, r.stderr
    assert re.search(r"its header lists \d+ frames but \d+ decode \(a truncated", r.stderr)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "cut.mp4",
        "whole.mp4",
    ]


def test_a_vfr_input_keeps_every_frame_and_timestamp(cli, ffmpeg_exe: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Frame n at n²/100 s: the gaps grow from 10 ms to a second (the setpts case).
    src = tmp_path / "vfr.mkv"
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-vf", "setpts='N*N/100/TB'", "-fps_mode", "passthrough", "-c:v", "libx264",
                    "-preset", "ultrafast", str(src)], check=True)  # fmt: skip
    out = tmp_path / "out.mkv"
    r = cli("encode", src, "-o", out, "-c", "x264", "--preset", "ultrafast", "--target-vmaf", "90")
    assert r.code == 0, r.stderr
    import av

    def ticks(path: Path) -> list[int]:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            assert stream.time_base == Fraction(1, 1000)
            return sorted(int(p.pts) for p in c.demux(stream) if p.size)

    # Frames 0 and 1 share time 0 in the source (n²/4 rounded in lavfi's 1/25 s); every
    # other frame keeps its time exactly, and the second frame moves one tick (1 ms)
    # later. Before: all 50 restamped evenly at the average rate (0, 480, 960, ... ms).
    src_ticks, out_ticks = ticks(src), ticks(out)
    assert src_ticks[:3] == [0, 0, 40] and len(out_ticks) == 50
    assert out_ticks == [0, 1, *src_ticks[2:]]
