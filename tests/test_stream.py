"""Per-frame stream facts (vmaftune.zoo.stream) on real encodes of a real clip: the bits
are the packets', the block QPs follow the CRF where the decoder exports them (H.264), and
are absent where it does not (HEVC)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import opencv_clip
from vmaftune.errors import InputError
from vmaftune.steps.probe import probe
from vmaftune.zoo import stream


def encode(ffmpeg: str, out: Path, codec: str, crf: int) -> Path:
    extra = ["-x265-params", "log-level=error"] if codec == "libx265" else []
    subprocess.run([ffmpeg, "-v", "error", "-i", str(opencv_clip("vtest.avi")), "-frames:v", "40",
                    "-c:v", codec, "-preset", "fast", "-crf", str(crf), "-g", "20", *extra,
                    str(out)], check=True)  # fmt: skip
    return out


def test_h264_frames_carry_bits_and_block_qps(ffmpeg_exe, tmp_path):
    fine = list(stream.frames(encode(ffmpeg_exe, tmp_path / "fine.mp4", "libx264", 20)))
    coarse = list(stream.frames(encode(ffmpeg_exe, tmp_path / "coarse.mp4", "libx264", 40)))
    assert len(fine) == len(coarse) == 40
    assert [f.index for f in fine] == list(range(40))
    # Every bit of the stream is some frame's, and a keyframe every 20 frames.
    assert sum(f.bits for f in fine) == probe(tmp_path / "fine.mp4").video_bytes * 8
    assert [f.index for f in fine if f.key] == [0, 20]
    assert all(f.qp is not None and f.qp_std is not None for f in fine + coarse)
    mean = lambda fs: sum(f.qp for f in fs) / len(fs)  # noqa: E731
    assert mean(coarse) > mean(fine) + 10
    assert sum(f.bits for f in coarse) < sum(f.bits for f in fine) / 3


def test_hevc_frames_carry_bits_but_no_qp(ffmpeg_exe, tmp_path):
    got = list(stream.frames(encode(ffmpeg_exe, tmp_path / "h.mp4", "libx265", 28), limit=10))
    assert len(got) == 10 and all(f.qp is None for f in got) and all(f.bits > 0 for f in got)


def test_unreadable_input_is_one_input_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(InputError):
        list(stream.frames(bad))


def test_vector_holds_what_each_codec_gives(ffmpeg_exe, tmp_path):
    """The model's stream vector: QPs where the decoder exported them, bits only with a
    codec the model knows (bits mean little without it), absent facts zero with flag zero."""
    h264 = encode(ffmpeg_exe, tmp_path / "a.mp4", "libx264", 30)
    hevc = encode(ffmpeg_exe, tmp_path / "b.mp4", "libx265", 30)
    assert stream.codec_family(probe(h264).codec) == "h264"
    assert stream.codec_family(probe(hevc).codec) == "hevc"
    assert stream.codec_family("libdav1d") == stream.codec_family("av1") == "av1"
    assert stream.codec_family("vp9") is None
    names = list(stream.STREAM_FEATURES)
    pixels = 768 * 576  # vtest.avi
    f = next(stream.frames(h264))
    v = stream.vector(f, pixels=pixels, mean_bits=f.bits / 2, codec="h264")
    assert v[names.index("has_qp")] == 1 and v[names.index("qp")] == pytest.approx(f.qp)
    assert v[names.index("qp_std")] == pytest.approx(f.qp_std)
    assert v[names.index("log2_bpp")] == pytest.approx(np.log2(f.bits / pixels), abs=1e-5)
    bpp = v[names.index("log2_bpp")]
    assert v[names.index("log2_mean_bpp")] == pytest.approx(bpp - 1, abs=1e-5)
    assert list(v[names.index("h264") :]) == [1, 0, 0]
    g = next(stream.frames(hevc))
    v = stream.vector(g, pixels=pixels, mean_bits=float(g.bits), codec="hevc")
    assert v[: names.index("has_bits")].tolist() == [0, 0, 0]
    assert v[names.index("has_bits")] == 1 and list(v[names.index("h264") :]) == [0, 1, 0]
    # The filter's view: QPs only. And an unknown codec's bits count as absent.
    assert stream.vector(f, pixels=pixels).tolist()[names.index("has_bits") :] == [0] * 6
    assert not stream.vector(g, pixels=pixels, mean_bits=1e5, codec=None).any()
    assert not stream.vector(None, pixels=pixels).any()
