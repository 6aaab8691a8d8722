"""vmaf_pre_temporal: the 5-frame window, mirrored at both ends of the stream, gives one
output per input with the same timestamps. The filter in the FFmpeg that `make ffmpeg`
builds matches Python onnxruntime on real frames (8 and 10 bit) within 1 code value, first
and last frames included, and runs clean under valgrind; `encode --pre` gives the same
frames through either engine."""

from __future__ import annotations

import numpy as np
import pytest

from vmaftune.zoo import registry as zoo
from vmaftune.zoo.inference import PlaneModel, temporal_plane
from vmaftune.zoo.prefilter import PreFilter, temporal_windows

from .test_vmaf_filters import (
    FRAMES,
    MODELS,
    assert_valgrind_clean,
    decoded,
    needs_valgrind,
    planes,
    run,
    showinfo_pts,
)

TDN = "vmaf_pre_tdn"

needs_tdn = pytest.mark.skipif(
    TDN not in zoo.registry(MODELS).ids(),
    reason=f"{TDN} is not registered yet (python models/train/temporal.py)",
)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 9])
def test_windows_mirror_at_both_ends_one_output_per_input(n: int) -> None:
    got = list(temporal_windows(range(n)))
    assert [c for c, _ in got] == list(range(n))
    for t, (centre, window) in enumerate(got):
        assert window[2] == centre == t and len(window) == 5
        for d in (-2, -1, 1, 2):
            i = t + d
            if 0 <= i < n:
                assert window[2 + d] == i  # inside the stream: the frame itself
    if n >= 3:
        assert got[0][1] == [2, 1, 0, 1, 2]
        assert got[-1][1] == [n - 3, n - 2, n - 1, n - 2, n - 3]


def test_windows_hold_at_most_five_items() -> None:
    held = []

    def items():
        for i in range(20):
            held.append(i)
            yield i

    for centre, window in temporal_windows(items()):
        # By the time frame t leaves, at most t+2 has been read.
        assert max(held) <= centre + 2
        assert min(window) >= centre - 2


def test_pre_option_parses_the_temporal_filter() -> None:
    pre = PreFilter.parse("vmaf_pre_temporal=model=vmaf_pre_tdn:planes=all:device=auto")
    assert pre.temporal and pre.kind == "temporal" and pre.planes == "all"
    assert pre.spec() == (
        "vmaf_pre_temporal=model=vmaf_pre_tdn:planes=all:strength=auto:device=auto"
    )
    from vmaftune.errors import UsageError

    with pytest.raises(UsageError, match="vmaf_pre_temporal takes model, planes, strength, noise"):
        PreFilter.parse("vmaf_pre_temporal=model=x:radius=2")


def model() -> PlaneModel:
    return PlaneModel(zoo.load(TDN, folder=MODELS).session(), TDN)


def python_filtered(frames: list[list[np.ndarray]], depth: int, all_planes: bool, strength: float):
    m = model()
    out = []
    for centre, window in temporal_windows(frames):
        got = []
        for p in range(3):
            if p and not all_planes:
                got.append(centre[p])
                continue
            got.append(temporal_plane(m, np.stack([f[p] for f in window]), depth, strength))
        out.append(got)
    return out


@needs_tdn
@pytest.mark.parametrize(
    ("pix_fmt", "depth", "opts"),
    [
        ("yuv420p", 8, ":strength=1"),
        ("yuv420p10le", 10, ":planes=all:strength=1"),
        ("yuv420p", 8, ":strength=0.5"),
    ],
)
def test_filter_matches_python_onnxruntime(ffmpeg_built, noisy, pix_fmt, depth, opts):
    vf = f"format={pix_fmt},vmaf_pre_temporal=model={TDN}:registry={MODELS}{opts}"
    filtered = planes(decoded(ffmpeg_built, noisy, pix_fmt, vf), depth)
    source = planes(decoded(ffmpeg_built, noisy, pix_fmt, f"format={pix_fmt}"), depth)
    assert len(filtered) == len(source) == FRAMES
    want = python_filtered(source, depth, "planes=all" in opts, 0.5 if "0.5" in opts else 1.0)
    for t, (got, exp, src) in enumerate(zip(filtered, want, source, strict=True)):
        for p in range(3):
            diff = int(np.abs(got[p].astype(int) - exp[p].astype(int)).max())
            assert diff <= 1, f"frame {t} plane {p}: filter and Python differ by {diff}"
        assert (got[0] != src[0]).mean() > 0.25, f"frame {t} was left nearly untouched"
    # The ends are filtered from mirrored windows, not skipped: frame 0 depends on frame 2.
    assert not np.array_equal(filtered[0][0], source[0][0])
    assert not np.array_equal(filtered[-1][0], source[-1][0])


@needs_tdn
def test_filter_keeps_frames_and_timestamps(ffmpeg_built, noisy, tmp_path):
    # A stream with uneven timestamps (VFR) and two frames only: every pts survives.
    vfr = tmp_path / "vfr.mkv"
    run(ffmpeg_built, "-i", str(noisy), "-vf", "setpts='N*N*100'", "-fps_mode", "passthrough",
        "-c:v", "ffv1", str(vfr))  # fmt: skip
    for clip, frames in ((noisy, FRAMES), (vfr, FRAMES)):
        base = run(ffmpeg_built, "-i", str(clip), "-vf", "showinfo", "-f", "null", "-").stderr
        ours = run(ffmpeg_built, "-i", str(clip), "-vf",
                   f"vmaf_pre_temporal=model={TDN}:registry={MODELS},showinfo",
                   "-f", "null", "-").stderr  # fmt: skip
        assert showinfo_pts(ours) == showinfo_pts(base) and len(showinfo_pts(ours)) == frames
    # Streams shorter than the window: every frame still comes out, once.
    for n in (1, 2, 3):
        short = tmp_path / f"short{n}.mkv"
        run(ffmpeg_built, "-i", str(noisy), "-frames:v", str(n), "-c:v", "ffv1", str(short))
        ours = run(ffmpeg_built, "-i", str(short), "-vf",
                   f"vmaf_pre_temporal=model={TDN}:registry={MODELS},showinfo",
                   "-f", "null", "-").stderr  # fmt: skip
        assert len(showinfo_pts(ours)) == n


@needs_tdn
def test_filter_refuses_a_single_frame_model(ffmpeg_built, noisy):
    proc = run(ffmpeg_built, "-v", "error", "-i", str(noisy), "-vf",
               f"vmaf_pre_temporal=model={MODELS / 'vmaf_pre_dn.onnx'}", "-f", "null", "-",
               check=False)  # fmt: skip
    assert proc.returncode != 0
    assert b"takes a window of 5 planes" in proc.stderr
    proc = run(ffmpeg_built, "-v", "error", "-i", str(noisy), "-vf",
               f"vmaf_pre_temporal=model=vmaf_pre_dn:registry={MODELS}", "-f", "null", "-",
               check=False)  # fmt: skip
    assert proc.returncode != 0 and b"is a prefilter model" in proc.stderr


@needs_tdn
@needs_valgrind
def test_filter_runs_clean_under_valgrind(ffmpeg_built, noisy, tmp_path):
    clip = tmp_path / "short.mkv"
    run(ffmpeg_built, "-i", str(noisy), "-frames:v", "3", "-c:v", "ffv1", str(clip))
    vf = f"vmaf_pre_temporal=model={TDN}:registry={MODELS}:planes=all"
    assert_valgrind_clean(ffmpeg_built, "-i", str(clip), "-vf", vf)


@needs_tdn
def test_encode_pre_temporal_same_frames_from_both_engines(cli, noisy, tmp_path, ffmpeg_built):
    outs = {}
    for engine in ("python", "ffmpeg"):
        out = tmp_path / f"{engine}.mkv"
        r = cli("encode", noisy, "-o", out, "-c", "x264", "--crf", "0",
                "--pre", f"vmaf_pre_temporal=model={TDN}", "--engine", engine)  # fmt: skip
        assert r.code == 0, r.stderr
        outs[engine] = planes(decoded(ffmpeg_built, out, "yuv420p"), 8)
    assert len(outs["python"]) == len(outs["ffmpeg"]) == FRAMES
    for a, b in zip(outs["python"], outs["ffmpeg"], strict=True):
        for p in range(3):
            assert int(np.abs(a[p].astype(int) - b[p].astype(int)).max()) <= 1
