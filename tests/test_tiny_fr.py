"""The vmaf_tiny filter (pixel-domain full-reference model, no libvmaf) in the FFmpeg that
`make ffmpeg` builds: two inputs like libvmaf, a score per frame as metadata that matches
Python onnxruntime on real frame pairs, the pooled summary, one-line refusals, valgrind
clean; and `score --tiny-fr` giving the same per-frame scores from either engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vmaftune.zoo import registry as zoo
from vmaftune.zoo.inference import PlaneModel, fr_score

from .test_vmaf_filters import (
    MODELS,
    assert_valgrind_clean,
    decoded,
    needs_valgrind,
    planes,
    run,
    showinfo_pts,
)

FR = "vmaf_tiny_fr"
W, H = 176, 144

needs_fr = pytest.mark.skipif(
    FR not in zoo.registry(MODELS).ids(),
    reason=f"{FR} is not registered yet (python models/train/tiny_fr.py)",
)


@pytest.fixture(scope="module")
def pair(ffmpeg_built, carphone, tmp_path_factory) -> tuple[Path, Path, Path]:
    """Ten frames of carphone, lossless, and x264 encodes of them at CRF 20 and 40."""
    folder = tmp_path_factory.mktemp("tinyfr")
    ref = folder / "ref.mkv"
    run(ffmpeg_built, "-i", str(carphone[0]), "-frames:v", "10", "-c:v", "ffv1",
        "-pix_fmt", "yuv420p", str(ref))  # fmt: skip
    outs = []
    for crf in (20, 40):
        out = folder / f"crf{crf}.mkv"
        run(ffmpeg_built, "-i", str(ref), "-c:v", "libx264", "-crf", str(crf), str(out))
        outs.append(out)
    return ref, outs[0], outs[1]


def filter_scores(ffmpeg: Path, dist: Path, ref: Path, tmp: Path) -> list[float]:
    meta = tmp / "meta.txt"
    run(ffmpeg, "-i", str(dist), "-i", str(ref), "-lavfi",
        f"vmaf_tiny=model={FR}:registry={MODELS}:log={tmp}/fr.json,metadata=print:file={meta}",
        "-f", "null", "-")  # fmt: skip
    return [float(v) for v in re.findall(r"lavfi\.vmaf_tiny\.score=([0-9.]+)", meta.read_text())]


@needs_fr
def test_filter_matches_python_and_pools(ffmpeg_built, pair, tmp_path, monkeypatch):
    ref, good, bad = pair
    # The filter runs the id as named; Python, at the default precision, would run the
    # faster INT8 variant.
    monkeypatch.setenv(zoo.ENV_PRECISION, "fp32")
    got = filter_scores(ffmpeg_built, good, ref, tmp_path)
    assert len(got) == 10
    m = PlaneModel(zoo.load(FR, folder=MODELS).session(), FR)
    dist = planes(decoded(ffmpeg_built, good, "yuv420p"), 8)
    refs = planes(decoded(ffmpeg_built, ref, "yuv420p"), 8)
    want = [fr_score(m, np.stack([d[0], r[0]]), 8) for d, r in zip(dist, refs, strict=True)]
    assert np.abs(np.array(got) - np.array(want)).max() <= 1e-4
    summary = json.loads((tmp_path / "fr.json").read_text())
    assert summary["filter"] == "vmaf_tiny" and summary["frames"] == 10
    assert summary["mean"] == pytest.approx(np.mean(got), abs=1e-5)
    # The model orders quality as libvmaf does: CRF 40 scores below CRF 20.
    worse = filter_scores(ffmpeg_built, bad, ref, tmp_path)
    assert np.mean(worse) < np.mean(got) - 5


@needs_fr
def test_filter_passes_distorted_frames_on(ffmpeg_built, pair):
    ref, good, _ = pair
    base = run(ffmpeg_built, "-i", str(good), "-vf", "showinfo", "-f", "null", "-").stderr
    graph = f"vmaf_tiny=model={FR}:registry={MODELS},showinfo"
    proc = run(ffmpeg_built, "-i", str(good), "-i", str(ref), "-lavfi", graph, "-f", "null", "-")
    ours = proc.stderr
    assert showinfo_pts(ours) == showinfo_pts(base) and len(showinfo_pts(ours)) == 10


@needs_fr
def test_filter_refusals_are_one_line(ffmpeg_built, pair, tmp_path):
    ref, good, _ = pair
    small = tmp_path / "small.mkv"
    run(ffmpeg_built, "-i", str(good), "-vf", "scale=88:72", "-c:v", "ffv1", str(small))
    for lavfi, words in (
        (f"vmaf_tiny=model={FR}:registry={MODELS}", b"scale and convert one to the other"),
        (f"vmaf_tiny=model=vmaf_post_nr:registry={MODELS}", b"is a nr model"),
        # A file by path is checked for what it holds: one plane in, not two.
        (f"vmaf_tiny=model={MODELS / 'vmaf_pre_dn.onnx'}", b"takes the distorted and reference"),
    ):
        dist = small if b"scale" in words else good
        proc = run(ffmpeg_built, "-v", "error", "-i", str(dist), "-i", str(ref), "-lavfi", lavfi,
                   "-f", "null", "-", check=False)  # fmt: skip
        assert proc.returncode != 0 and words in proc.stderr, proc.stderr[-500:]


@needs_fr
def test_score_tiny_fr_same_from_both_engines(cli, pair, tmp_path):
    ref, good, _ = pair
    got = {}
    for engine in ("python", "ffmpeg"):
        dest = tmp_path / f"{engine}.json"
        r = cli("score", ref, good, "--tiny-fr", "--engine", engine, "--json", dest)
        assert r.code == 0, r.stderr
        doc = json.loads(dest.read_text())["tiny_fr"]
        assert doc["type"] == "tiny-fr-score" and doc["frames_scored"] == 10
        engines = {"python": "python onnxruntime", "ffmpeg": "ffmpeg vmaf_tiny"}
        assert doc["engine"] == engines[engine]
        got[engine] = [f["score"] for f in doc["frames"]]
    assert got["python"] == got["ffmpeg"]


def test_score_tiny_fr_bad_input_is_one_line(cli, pair, tmp_path):
    r = cli("score", pair[0], "--nr", "--tiny-fr")
    assert r.code == 2 and "--tiny-fr needs REF and DIST" in r.stderr
    for model, words in (("vmaf_post_nr", "is a nr model"), (tmp_path / "none.onnx", "none.onnx")):
        dest = tmp_path / "out.json"
        r = cli("score", pair[0], pair[1], "--tiny-fr", "--tiny-fr-model", model, "--json", dest)
        assert r.code != 0 and words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not dest.exists()


@needs_fr
@needs_valgrind
def test_filter_runs_clean_under_valgrind(ffmpeg_built, pair, tmp_path):
    ref, good, _ = pair
    graph = f"vmaf_tiny=model={FR}:registry={MODELS}:log={tmp_path}/v.json"
    assert_valgrind_clean(ffmpeg_built, "-i", str(good), "-i", str(ref), "-frames:v", "3",
                          "-lavfi", graph)  # fmt: skip
