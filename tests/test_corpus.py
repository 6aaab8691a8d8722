"""The predictor's corpus and its cheap features, on real clips through the real FFmpeg:
features that order content by difficulty, and a corpus table whose VMAF falls and bits
shrink as the setting rises, resumable without redoing encodes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vmaftune.edges.toolchain import resolve
from vmaftune.steps.probe import read
from vmaftune.steps.shots import Shot
from vmaftune.zoo import features

from .conftest import ffmpeg_run


def whole(path: Path) -> tuple[object, list[Shot]]:
    media, timeline = read(path)
    end = timeline.frame_count
    half = end // 2
    secs = timeline.seconds()
    shots = [Shot(0, 0, half, 0.0, secs[half], "start"),
             Shot(1, half, end, secs[half], secs[-1], "hard")]  # fmt: skip
    return media, shots


def test_features_order_content_by_difficulty(tmp_path: Path, ffmpeg_exe: str, carphone) -> None:
    flat = tmp_path / "flat.mkv"
    busy = tmp_path / "busy.mkv"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "color=c=gray:s=320x180:r=25:d=2",
               "-c:v", "ffv1", str(flat))  # fmt: skip
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
               "-vf", "noise=alls=30:allf=t", "-c:v", "ffv1", str(busy))  # fmt: skip
    ff = resolve()
    got = {}
    for name, path in (("flat", flat), ("busy", busy), ("carphone", carphone[0])):
        media, shots = whole(path)
        fs = features.video_features(ff, media, shots)  # type: ignore[arg-type]
        assert [f.shot for f in fs] == [0, 1]
        assert all(len(f.values) == len(features.FEATURE_NAMES) for f in fs)
        got[name] = fs[0].as_dict()
        # Each shot starts on a keyframe of its own: its first frame costs most.
        assert all(f.as_dict()["probe_i_bpp"] > f.as_dict()["probe_p_bpp"] for f in fs)
    assert got["flat"]["si_mean"] < 1 and got["flat"]["ti_mean"] < 1
    assert got["flat"]["probe_bpp"] < got["carphone"]["probe_bpp"] < got["busy"]["probe_bpp"]
    assert got["carphone"]["si_mean"] > got["flat"]["si_mean"]
    assert got["busy"]["ti_mean"] > got["carphone"]["ti_mean"] > 0
    assert got["carphone"]["log2_pixels"] == pytest.approx(14.63, abs=0.01)  # 176x144


def test_corpus_build_real_clip_and_resume(cli, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    r = cli("corpus", "build", "--out", out, "--sources", "carphone", "--codecs", "x264",
            "--no-augment")  # fmt: skip
    assert r.code == 0, r.stderr
    table = pq.read_table(out / "corpus.parquet")
    meta = json.loads(table.schema.metadata[b"vmaftune"])
    rows = table.to_pylist()
    assert meta["schema"] == "vmaftune.corpus/1" and meta["rows"] == len(rows)
    shots = sorted({r["shot"] for r in rows})
    assert len(shots) >= 2 and len(rows) == 6 * len(shots)
    assert {r["source_id"] for r in rows} == {"carphone"}
    for s in shots:
        mine = sorted((r for r in rows if r["shot"] == s), key=lambda r: r["setting"])
        vmaf = [r["vmaf_mean"] for r in mine]
        size = [r["bytes"] for r in mine]
        # CRF 14 to 44: quality falls and files shrink, by a wide margin end to end.
        assert vmaf[0] > 90 and vmaf[-1] < vmaf[0] - 20
        assert all(b > a - 2 for a, b in zip(vmaf[1:], vmaf, strict=False))
        assert all(b > a for a, b in zip(size[1:], size, strict=False))
        assert all(0 <= r["adm2"] <= 1.01 and r["f_probe_bpp"] > 0 for r in mine)
        # The encoder's own report (-vstats_file): its QP follows the CRF.
        qp = [r["enc_qp_mean"] for r in mine]
        assert all(b > a for a, b in itertools.pairwise(qp)), qp
        assert all(0 < r["enc_intra_bytes"] <= 1 and 0 < r["enc_intra_frames"] <= 1 for r in mine)
    # A second run finds every encode done: same table, and no encode runs again.
    records = sorted((out / "work" / "records").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in records]
    r = cli("corpus", "build", "--out", out, "--sources", "carphone", "--codecs", "x264",
            "--no-augment")  # fmt: skip
    assert r.code == 0, r.stderr
    again = json.loads((out / "corpus.json").read_text())
    assert again["digest"] == meta["digest"]
    assert [p.stat().st_mtime_ns for p in records] == stamps
    # Without the work folder (another machine, the committed table only): the table's
    # own rows are reused, features included, and nothing is encoded.
    import shutil

    shutil.rmtree(out / "work")
    r = cli("corpus", "build", "--out", out, "--sources", "carphone", "--codecs", "x264",
            "--no-augment")  # fmt: skip
    assert r.code == 0, r.stderr
    third = json.loads((out / "corpus.json").read_text())
    assert third["digest"] == meta["digest"] and third["reused_rows"] == len(rows)
    assert not list((out / "work").rglob("*.json")) and third["complete"]
    assert {r["label"] for r in rows} == {"live"}


def test_corpus_bad_options(cli, tmp_path: Path) -> None:
    r = cli("corpus", "build", "--out", tmp_path / "c", "--sources", "nope")
    assert r.code == 2 and "unknown --sources nope" in r.stderr
    r = cli("corpus", "build", "--out", tmp_path / "c", "--codecs", "x264,vp9")
    assert r.code == 2 and "'vp9'" in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("corpus", "build", "--out", blocker / "c", "--sources", "carphone")
    assert r.code == 3 and "Traceback" not in r.stderr


def test_corpus_clips_are_cut_to_even_sizes(tmp_path: Path) -> None:
    # cityCC0.mpg is 720x405: its x264 and x265 encodes would fail at 4:2:0.
    from vmaftune.edges.toolchain import resolve
    from vmaftune.steps.probe import probe
    from vmaftune.zoo import corpus
    from vmaftune.zoo.sources import Source

    odd = Source("odd", "lavfi", "testsrc2=s=320x240:r=25:d=1,scale=321:241", "synthetic", "-", "-")
    clip = corpus.prepare(resolve(), corpus.Variant(odd, "odd", "null"), tmp_path)
    info = probe(clip)
    assert (info.width, info.height) == (320, 240) and info.frame_count == 25
