"""Every error a user can cause: one line on stderr, the documented exit code, no
traceback, no partial output. Run as real subprocesses, as a user would."""

from __future__ import annotations

import pytest

from .conftest import cli_subprocess, ffmpeg_failing_encodes, ffmpeg_hiding


def one_line_error(result, code: int, *fragments: str) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vmaftune: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, bbb, ffmpeg_exe):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("this is not a video\n" * 100)
    data = bbb.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: lost
    # A faststart file cut in half: the index survives, the frames do not.
    import subprocess

    fs = d / "faststart.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(bbb), "-c", "copy",
                    "-movflags", "+faststart", str(fs)], check=True)  # fmt: skip
    cut = fs.read_bytes()
    (d / "cut.mp4").write_bytes(cut[: len(cut) // 2])
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "sine=d=1",
                    str(d / "audio.wav")], check=True)  # fmt: skip
    return d


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("missing.mp4", "no such file"),
        ("empty.mp4", "empty file"),
        ("notes.mp4", "not a readable video file"),
        ("truncated.mp4", "not a readable video file"),
        ("cut.mp4", "truncated"),
        ("audio.wav", "has no video stream"),
    ],
)
def test_bad_input_files(bad_inputs, tmp_path, name, fragment):
    source = bad_inputs / name
    out = tmp_path / "out.mp4"
    for args in (
        ("probe", source),
        ("encode", source, "-o", out, "-c", "x264"),
        ("score", source, source),
    ):
        one_line_error(cli_subprocess(*args), 3, str(source), fragment)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_folder_as_input(tmp_path):
    one_line_error(cli_subprocess("probe", tmp_path), 3, "is a folder")


def test_unknown_codec_and_out_of_range(carphone, tmp_path):
    out = tmp_path / "o.mp4"
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "x266"), 2, "unknown codec 'x266'"
    )
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "x264", "--crf", "60"),
        2, "--crf 60 is out of range for x264 (0..51)",
    )  # fmt: skip
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "svtav1", "--crf", "0"),
        2, "out of range for svtav1 (1..63)",
    )  # fmt: skip
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "x264", "--pix-fmt", "rgb24"),
        2, "does not take pixel format 'rgb24'",
    )  # fmt: skip
    assert not out.exists()


def test_bad_option_values_are_usage_errors(carphone):
    one_line_error(cli_subprocess("score", *carphone, "--subsample", "zero"), 2, "--subsample")
    one_line_error(cli_subprocess("frobnicate"), 2, "frobnicate")
    one_line_error(cli_subprocess("encode", carphone[0], "-c", "x264"), 2, "--output")


def test_bad_per_shot_scoring_options_are_usage_errors(carphone, tmp_path):
    out = tmp_path / "o.mkv"
    base = ("encode", carphone[0], "-o", out, "-c", "x264", "-t", "90")
    one_line_error(cli_subprocess(*base, "--final-score", "quick"), 2,
                   "--final-score must be composed or full")  # fmt: skip
    for bad in ("0", "31"):
        one_line_error(cli_subprocess(*base, "--trial-subsample", bad), 2,
                       f"--trial-subsample must be 1..30, not {bad}")  # fmt: skip
    one_line_error(cli_subprocess(*base, "--trial-subsample", "two"), 2, "--trial-subsample")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(carphone, tmp_path):
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", tmp_path / "nope" / "o.mp4", "-c", "x264"),
        3, "output folder does not exist",
    )  # fmt: skip
    # /proc refuses new files even to root, where chmod would not stop us.
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", "/proc/vmaftune-out.mp4", "-c", "x264"),
        3, "cannot write there",
    )  # fmt: skip
    one_line_error(
        cli_subprocess("score", *carphone, "--json", "/proc/vmaftune.json"), 3, "cannot write"
    )


def test_ffmpeg_lacking_the_encoder(carphone, tmp_path, ffmpeg_exe):
    wrapper = ffmpeg_hiding(tmp_path, ffmpeg_exe, "-encoders", "libsvtav1")
    out = tmp_path / "o.mkv"
    result = cli_subprocess(
        "encode", carphone[0], "-o", out, "-c", "svtav1", env={"VMAFTUNE_FFMPEG": str(wrapper)}
    )
    one_line_error(result, 4, "has no libsvtav1 encoder")
    assert not out.exists()


def test_missing_ffmpeg(carphone, tmp_path):
    one_line_error(
        cli_subprocess("--ffmpeg", "/nonexistent/ffmpeg", "doctor"),
        4, "/nonexistent/ffmpeg does not exist",
    )  # fmt: skip
    result = cli_subprocess(
        "encode", carphone[0], "-o", tmp_path / "o.mp4", "-c", "x264",
        env={"VMAFTUNE_FFMPEG": "/nonexistent/ffmpeg"},
    )  # fmt: skip
    one_line_error(result, 4, "$VMAFTUNE_FFMPEG: /nonexistent/ffmpeg does not exist")


def test_verbose_shows_command_and_stderr_tail(carphone, tmp_path, ffmpeg_exe):
    # An FFmpeg whose encodes fail (an unknown option after the output), the rest real:
    # an unknown OUT extension, the old way to make it fail, is now refused up front.
    wrapper = ffmpeg_failing_encodes(tmp_path, ffmpeg_exe)
    result = cli_subprocess("-v", "encode", carphone[0], "-o", tmp_path / "x.mp4", "-c", "x264",
                            env={"VMAFTUNE_FFMPEG": str(wrapper)})  # fmt: skip
    assert result.code == 4
    assert "command: " in result.stderr and "-c:v libx264" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_never_overwrites_an_input(carphone, tmp_path):
    ref = tmp_path / "ref.mp4"
    ref.write_bytes(carphone[0].read_bytes())
    one_line_error(cli_subprocess("score", ref, carphone[1], "--csv", ref), 2, "is the input")
    assert ref.read_bytes() == carphone[0].read_bytes()


def test_bad_preset_and_thread_count(carphone, tmp_path):
    out = tmp_path / "o.mp4"
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "x264", "--preset", "ludicrous"),
        2, "unknown preset 'ludicrous' for x264",
    )  # fmt: skip
    one_line_error(
        cli_subprocess("encode", carphone[0], "-o", out, "-c", "x264", "--threads", "-1"),
        2, "--threads must be 0",
    )  # fmt: skip
    one_line_error(cli_subprocess("score", *carphone, "--threads", "-2"), 2, "--threads")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def odd_size(tmp_path_factory, ffmpeg_exe):
    import subprocess

    path = tmp_path_factory.mktemp("odd") / "odd.mkv"
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=0.4",
                    "-vf", "scale=321:241", "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(path)],
                   check=True)  # fmt: skip
    return path


@pytest.mark.parametrize("codec", ["x264", "x265", "hevc_nvenc"])
@pytest.mark.parametrize("mode", [("--crf", "30"), ("--target-vmaf", "90")], ids=["crf", "target"])
def test_an_odd_size_is_named_before_encoding(odd_size, tmp_path, codec, mode):
    out = tmp_path / "o.mkv"
    r = cli_subprocess("encode", str(odd_size), "-o", str(out), "-c", codec, *mode)
    # Before: exit 4, "Nothing was written into output file ..." after the encoder failed.
    one_line_error(r, 3, "321x241 has an odd width and height", "crop=320:240")
    assert not out.exists() and not (tmp_path / "o.mkv.vmaftune-work").exists()


def test_an_odd_size_encodes_where_the_codec_can_hold_it(odd_size, tmp_path):
    # AV1 codes any size; 4:4:4 H.264 has no chroma to halve.
    for codec, extra in (("svtav1", ("--preset", "12")), ("x264", ("--pix-fmt", "yuv444p"))):
        out = tmp_path / f"{codec}.mkv"
        r = cli_subprocess(
            "encode", str(odd_size), "-o", str(out), "-c", codec, "--crf", "35", *extra
        )
        assert r.code == 0, r.stderr
        import av

        with av.open(str(out)) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == (321, 241)
