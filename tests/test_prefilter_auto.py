"""strength=auto, the pre-filters' default (issue 19): each frame's luma noise, measured the
same way in C (vmaf_model.c) and Python (vmaftune.zoo.noise), sets the blend; clean frames
pass bit-exact without the model, noisy ones are filtered as Python filters them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vmaftune.zoo import noise
from vmaftune.zoo import registry as zoo
from vmaftune.zoo.inference import PlaneModel, prefilter_plane, temporal_plane
from vmaftune.zoo.prefilter import AUTO, RAMPS, PreFilter, Ramp, temporal_windows

from .test_vmaf_filters import FRAMES, MODELS, decoded, planes, run

MODEL = {"vmaf_pre": "vmaf_pre_dn", "vmaf_pre_temporal": "vmaf_pre_tdn"}


def test_ramp_is_zero_below_the_gate_then_linear_then_flat() -> None:
    r = Ramp(gate=2.0, full=6.0, ceiling=0.5)
    assert [r.strength(s) for s in (0.0, 1.99, 2.0, 4.0, 6.0, 40.0)] == [0, 0, 0, 0.25, 0.5, 0.5]
    assert Ramp(3.0, 3.0, 0.75).strength(3.0) == 0.75
    assert PreFilter.parse("vmaf_pre=model=m").strength == AUTO
    pre = PreFilter.parse("vmaf_pre_temporal=model=m:noise_gate=1.5")
    assert pre.auto == Ramp(
        1.5, RAMPS["vmaf_pre_temporal"].full, RAMPS["vmaf_pre_temporal"].ceiling
    )
    assert ":noise_gate=1.5:" in pre.spec()


def test_filter_defaults_are_the_python_ramps(ffmpeg_built: Path) -> None:
    for name, ramp in RAMPS.items():
        text = run(ffmpeg_built, "-h", f"filter={name}").stdout.decode()
        got = dict(
            re.findall(
                r"\b(noise_gate|noise_full|max_strength)\s+<float>.*\(default ([-0-9.]+)\)", text
            )
        )
        assert {k: float(v) for k, v in got.items()} == {
            "noise_gate": ramp.gate, "noise_full": ramp.full, "max_strength": ramp.ceiling
        }, text  # fmt: skip
        assert re.search(r"\bstrength\s+<float>.*\(default (auto|-1)\)", text), text


def metadata(text: str, name: str, key: str) -> list[float]:
    return [float(v) for v in re.findall(rf"lavfi\.{name}\.{key}=([-0-9.]+)", text)]


@pytest.mark.parametrize("name", ["vmaf_pre", "vmaf_pre_temporal"])
@pytest.mark.parametrize(("pix_fmt", "depth"), [("yuv420p", 8), ("yuv420p10le", 10)])
def test_auto_noise_and_strength_match_python_and_the_frames_follow(
    ffmpeg_built: Path, noisy: Path, carphone, tmp_path: Path, name: str, pix_fmt: str,
    depth: int,
) -> None:  # fmt: skip
    clean = tmp_path / "clean.mkv"
    run(ffmpeg_built, "-i", str(carphone[0]), "-frames:v", str(FRAMES), "-c:v", "ffv1",
        "-pix_fmt", "yuv420p", str(clean))  # fmt: skip
    m = PlaneModel(zoo.load(MODEL[name], folder=MODELS).session(), MODEL[name])
    pre = PreFilter.parse(f"{name}=model={MODEL[name]}")
    seen = {}
    for label, clip in (("clean", clean), ("noisy", noisy)):
        meta = tmp_path / f"{label}.txt"
        vf = (f"format={pix_fmt},{name}=model={MODEL[name]}:registry={MODELS},"
              f"metadata=print:file={meta}")  # fmt: skip
        got = planes(decoded(ffmpeg_built, clip, pix_fmt, vf), depth)
        source = planes(decoded(ffmpeg_built, clip, pix_fmt, f"format={pix_fmt}"), depth)
        text = meta.read_text()
        sigma, strength = metadata(text, name, "noise"), metadata(text, name, "strength")
        assert len(sigma) == len(strength) == len(got) == FRAMES
        want_sigma = [noise.sigma8(f[0], depth) for f in source]
        want_strength = [pre.frame_strength(f[0], depth) for f in source]
        assert np.allclose(sigma, want_sigma, atol=6e-5), (sigma, want_sigma)
        assert np.allclose(strength, want_strength, atol=6e-5), (strength, want_strength)
        seen[label] = want_strength
        windows = [w for _, w in temporal_windows(source)]
        for t, (out, src, s) in enumerate(zip(got, source, want_strength, strict=True)):
            for p in (1, 2):
                assert np.array_equal(out[p], src[p]), "chroma must pass untouched"
            if s == 0:
                assert np.array_equal(out[0], src[0]), f"{label} frame {t}: not bit-exact"
                continue
            if name == "vmaf_pre":
                want = prefilter_plane(m, src[0], depth, s)
            else:
                want = temporal_plane(m, np.stack([f[0] for f in windows[t]]), depth, s)
            diff = int(np.abs(out[0].astype(int) - want.astype(int)).max())
            assert diff <= 1, f"{label} frame {t}: filter and Python differ by {diff}"
            assert not np.array_equal(out[0], src[0])
    # Real footage as it came passes untouched; the same footage with grain is filtered.
    assert max(seen["clean"]) == 0 and min(seen["noisy"]) > 0, seen


def test_python_engine_auto_matches_the_filter(cli, noisy: Path, tmp_path: Path, ffmpeg_built):
    """`encode --pre` with the default strength, both engines, lossless: the same frames."""
    outs = {}
    for engine in ("python", "ffmpeg"):
        out = tmp_path / f"{engine}.mkv"
        r = cli("encode", noisy, "-o", out, "-c", "x264", "--crf", "0", "--no-vmaf",
                "--pre", "vmaf_pre=model=vmaf_pre_dn",
                "--engine", engine)  # fmt: skip
        assert r.code == 0, r.stderr
        outs[engine] = planes(decoded(ffmpeg_built, out, "yuv420p"), 8)
    source = planes(decoded(ffmpeg_built, noisy, "yuv420p"), 8)
    for a, b, src in zip(outs["python"], outs["ffmpeg"], source, strict=True):
        assert int(np.abs(a[0].astype(int) - b[0].astype(int)).max()) <= 1
        assert not np.array_equal(a[0], src[0])


@pytest.mark.parametrize("name", ["vmaf_pre", "vmaf_pre_temporal"])
def test_max_strength_0_passes_grainy_frames_and_says_so(ffmpeg_built, noisy, name):
    """max_strength=0 turns the ramp off: the frames come out as they went in."""
    vf = f"{name}=model={MODEL[name]}:registry={MODELS}:max_strength=0"
    proc = run(ffmpeg_built, "-i", str(noisy), "-vf", vf, "-f", "framemd5", "-")
    base = run(ffmpeg_built, "-i", str(noisy), "-f", "framemd5", "-")
    assert proc.stdout == base.stdout
    assert b"passes every frame as it is" in proc.stderr


@pytest.mark.parametrize("name", ["vmaf_pre", "vmaf_pre_temporal"])
def test_by_default_the_filters_filter_grainy_frames(ffmpeg_built, noisy, name):
    """The v2 models save bits on every held-out clip x codec measured, so both default
    ramps are on: grainy frames change, at the ceiling 0.5."""
    vf = f"{name}=model={MODEL[name]}:registry={MODELS}"
    proc = run(ffmpeg_built, "-i", str(noisy), "-vf", vf, "-f", "framemd5", "-")
    base = run(ffmpeg_built, "-i", str(noisy), "-f", "framemd5", "-")
    md5s = [[ln.rsplit(",", 1)[-1] for ln in p.stdout.decode().splitlines() if ln[:1] != "#"]
            for p in (proc, base)]  # fmt: skip
    assert len(md5s[0]) == len(md5s[1]) == 10
    assert all(a != b for a, b in zip(*md5s, strict=True))
    assert b"passes every frame" not in proc.stderr
    assert RAMPS[name].ceiling == 0.5
