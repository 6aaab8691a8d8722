"""Saliency ROI maps (issue 20): the shared map arithmetic, `vmaftune roi` and its three
formats on real clips, the vmaf_roi FFmpeg filter giving the same maps, and its side
data reaching libx264 and libx265 (more quality where the map says, none at strength 0)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import opencv_clip
from tests.test_vmaf_filters import assert_valgrind_clean, needs_valgrind
from vmaftune.steps import roi

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


# --- the arithmetic ------------------------------------------------------------------------


def test_levels_are_centred_bounded_and_flat_maps_give_none():
    assert not roi.levels(np.full((4, 6), 0.7, np.float32)).any()
    rng = np.random.default_rng(1)
    s = rng.random((20, 30)).astype(np.float32)
    lv = roi.levels(s)
    assert lv.dtype == np.int8 and lv.min() >= -3 and lv.max() <= 3
    # Salient blocks up, dull ones down, and both used.
    assert lv[s > np.quantile(s, 0.95)].min() > 0 and lv[s < np.quantile(s, 0.05)].max() < 0
    assert abs(roi.qp_offsets(lv, 0.5).mean()) < 0.5


def test_smoother_keeps_part_of_the_previous_map():
    sm = roi.Smoother(0.5)
    a, b = np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)
    assert np.array_equal(sm(a), a)
    assert np.allclose(sm(b), 0.5) and np.allclose(sm(b), 0.75)


def test_regions_cover_exactly_the_non_zero_blocks_and_merge_rows():
    lv = np.zeros((5, 8), np.int8)
    lv[1:4, 2:5] = 2  # one 3x3 block square: one region after merging rows
    lv[0, 6:8] = -1
    lv[4, 0] = 3
    found = roi.regions(lv, 8 * 16 - 5, 5 * 16 - 3, 256)
    assert len(found) == 3
    assert roi.Region(32, 16, 80, 64, 2) in found
    assert roi.Region(96, 0, 123, 16, -1) in found  # clipped at the frame's right edge
    assert np.array_equal(roi.applied(found, lv.shape), lv)


def test_region_cap_keeps_the_strongest_levels_first():
    lv = np.zeros((1, 9), np.int8)
    lv[0, ::2] = [1, 3, 2, 3, 1]
    found = roi.regions(lv, 144, 16, 3)
    assert [r.level for r in found] == [3, 2, 3]


def test_qoffsets_and_svt_offsets():
    assert roi.qoffset(3, 0.5) == -roi.qoffset(-3, 0.5) and float(roi.qoffset(3, 0.5)) == -0.1
    assert roi.qoffset(2, 0.0) == 0
    lv = np.random.default_rng(2).integers(-3, 4, (34, 60)).astype(np.int8)  # 960x540
    svt = roi.svt_offsets(lv, 960, 540, 1.0)
    assert svt.shape == (9, 15)
    assert len(set(svt.reshape(-1).tolist())) <= 7 and np.abs(svt).max() <= 255
    line = roi.svt_line(4, svt)
    assert line.split()[0] == "4" and len(line.split()) == 1 + 9 * 15


# --- vmaftune roi --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest(tmp_path_factory, ffmpeg_exe) -> Path:  # type: ignore[no-untyped-def]
    """The first 3 s of opencv-doc's vtest.avi (people walking), 768x576."""
    out = tmp_path_factory.mktemp("roi") / "vtest.mkv"
    subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(opencv_clip("vtest.avi")), "-t", "3",
                    "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(out)], check=True)  # fmt: skip
    return out


def test_roi_json_svt_and_png(cli, vtest, tmp_path):
    r = cli("roi", vtest, "-o", tmp_path / "m.json", "--frames", "12", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["schema"] == "vmaftune.roi/1" and doc["model"] == "vmaf_saliency"
    assert (doc["width"], doc["height"], doc["block"]) == (768, 576, 16)
    assert len(doc["frames"]) == 12
    lv = np.array(doc["frames"][5]["levels"])
    assert lv.shape == (36, 48) and lv.min() < 0 < lv.max()
    assert doc["levels"]["3"]["qp"] == pytest.approx(-5.1)

    r = cli("roi", vtest, "-o", tmp_path / "m.svt", "--format", "svt-roi-map", "--frames", "12")
    assert r.code == 0, r.stderr
    lines = (tmp_path / "m.svt").read_text().splitlines()
    assert [int(x.split()[0]) for x in lines] == list(range(12))
    assert all(len(x.split()) == 1 + 12 * 9 for x in lines)
    for line in lines:
        assert len(set(line.split()[1:])) <= 7

    r = cli("roi", vtest, "-o", tmp_path / "png", "--format", "png", "--json")
    assert r.code == 0, r.stderr
    files = json.loads(r.stdout.strip().splitlines()[-1])["files"]
    assert files and all(Path(f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)


def test_roi_refusals_are_one_line(cli, vtest, tmp_path):
    (tmp_path / "m.json").write_text("{}")
    cases = [
        (("roi", vtest, "-o", tmp_path / "m.json"), "exists"),
        (("roi", vtest, "-o", tmp_path / "x.txt", "--format", "bmp"), "--format bmp"),
        (("roi", tmp_path / "none.mkv", "-o", tmp_path / "y.json"), "none.mkv"),
        (("roi", vtest, "-o", tmp_path / "z.json", "--strength", "3"), "strength 3"),
        (("roi", vtest, "-o", tmp_path / "z.json", "--model", "vmaf_post_nr"), "saliency"),
    ]
    for args, words in cases:
        r = cli(*args)
        assert r.code != 0 and words in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "m.json").read_text() == "{}"


# --- the vmaf_roi filter ---------------------------------------------------------------------


def filter_maps(ffmpeg: Path, clip: Path, frames: int, opts: str = "") -> list[np.ndarray]:
    graph = f"vmaf_roi=model=vmaf_saliency:registry={MODELS}{opts},metadata=print:file=-"
    argv = [str(ffmpeg), "-v", "error", "-i", str(clip), "-frames:v", str(frames), "-vf", graph,
            "-f", "null", "-"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The filter may see a frame more than -frames:v lets through.
    maps = re.findall(r"lavfi\.vmaf_roi\.map=(\S+)", proc.stdout)[:frames]
    return [np.array([[int(c) - 3 for c in row] for row in m.split("/")]) for m in maps]


def test_filter_maps_equal_python_maps(ffmpeg_built, cli, vtest, tmp_path):
    got = filter_maps(ffmpeg_built, vtest, 12)
    assert len(got) == 12
    r = cli("roi", vtest, "-o", tmp_path / "m.json", "--frames", "12")
    assert r.code == 0, r.stderr
    want = [np.array(f["levels"]) for f in json.loads((tmp_path / "m.json").read_text())["frames"]]
    same = np.mean([np.mean(g == w) for g, w in zip(got, want, strict=True)])
    # Float sums in another order may move a block that sits on a rounding edge.
    assert same >= 0.995, same


def psnr_by_level(ffmpeg: str, encoded: Path, source: Path, lv: np.ndarray) -> tuple[float, float]:
    """PSNR of the luma inside salient blocks (level > 0) and inside dull ones (< 0)."""

    def luma(path: Path) -> np.ndarray:
        argv = [ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
        raw = subprocess.run(argv, capture_output=True, check=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(-1, 576, 768).astype(np.float64)

    err = (luma(encoded) - luma(source)) ** 2
    mask = np.kron(lv, np.ones((16, 16)))[:576, :768]
    hi, lo = err[:, mask > 0].mean(), err[:, mask < 0].mean()
    return 10 * np.log10(255**2 / hi), 10 * np.log10(255**2 / lo)


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_roi_side_data_reaches_the_encoder(ffmpeg_built, vtest, tmp_path, codec):
    """At the same CRF, the encode through vmaf_roi spends its bits where the map says:
    salient blocks gain PSNR, dull ones lose it; at strength 0 the output is
    byte-identical to the encode without the filter."""
    ff = str(ffmpeg_built)
    graph = f"vmaf_roi=model=vmaf_saliency:registry={MODELS}"
    extra = ["-x265-params", "log-level=error"] if codec == "libx265" else []

    def encode(name: str, vf: str | None) -> Path:
        # A raw elementary stream: no container with a random segment id in the way.
        out = tmp_path / f"{name}.{'h264' if codec == 'libx264' else 'hevc'}"
        subprocess.run([ff, "-v", "error", "-i", str(vtest), "-frames:v", "30",
                        *(["-vf", vf] if vf else []), "-c:v", codec, "-preset", "fast",
                        "-crf", "30", *extra, "-threads", "1", str(out)], check=True)  # fmt: skip
        return out

    plain = encode("plain", None)
    zero = encode("zero", f"{graph}:strength=0")
    full = encode("full", f"{graph}:strength=1")
    assert zero.read_bytes() == plain.read_bytes()
    assert full.read_bytes() != plain.read_bytes()
    maps = filter_maps(ffmpeg_built, vtest, 30, ":strength=1")
    lv = np.rint(np.mean(maps, axis=0)).astype(int)
    src = tmp_path / "src.mkv"
    subprocess.run([ff, "-v", "error", "-i", str(vtest), "-frames:v", "30", "-c:v", "ffv1",
                    str(src)], check=True)  # fmt: skip
    hi_plain, lo_plain = psnr_by_level(ff, plain, src, lv)
    hi_full, lo_full = psnr_by_level(ff, full, src, lv)
    assert hi_full > hi_plain + 0.5, (hi_plain, hi_full)
    assert lo_full < lo_plain - 0.5, (lo_plain, lo_full)


# --- encode --roi ----------------------------------------------------------------------------


def test_python_and_filter_engines_give_the_same_maps(ffmpeg_built, vtest):
    from vmaftune.steps.probe import read
    from vmaftune.zoo.saliency import video_levels

    video, _ = read(vtest)
    options = roi.RoiOptions(strength=1.0)
    from vmaftune.zoo import registry as zoo

    model = zoo.load("vmaf_saliency", kind="saliency")
    py, e1 = video_levels(video, model, options, None)
    from vmaftune.edges.toolchain import patched_ffmpeg

    ff, e2 = video_levels(video, model, options, patched_ffmpeg())
    assert (e1, e2) == ("python onnxruntime", "ffmpeg vmaf_roi") and len(py) == len(ff)
    assert np.mean([np.mean(a == b) for a, b in zip(py, ff, strict=True)]) >= 0.995
    assert np.mean(roi.shot_levels(py) == roi.shot_levels(ff)) >= 0.99


def test_encode_target_with_roi_meets_the_target_and_records_the_map(cli, vtest, tmp_path):
    out = tmp_path / "out.mp4"
    r = cli("encode", vtest, "-o", out, "-c", "x264", "--target-vmaf", "88",
            "--roi", "saliency:strength=1", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    doc = json.loads((tmp_path / "out.mp4.shots.json").read_text())
    got = doc["target"]["roi"]
    assert got["model"] == "vmaf_saliency" and got["strength"] == 1.0
    assert len(got["per_shot_mean_qp_offset"]) == len(doc["shots"]) >= 1
    assert all(n > 0 for n in got["per_shot_regions"])
    # The target holds on whole-frame VMAF, as without --roi.
    assert all(s["vmaf"]["mean"] >= 88 for s in doc["shots"])
    plain = tmp_path / "plain.mp4"
    assert cli("encode", vtest, "-o", plain, "-c", "x264", "--target-vmaf", "88").code == 0
    assert plain.read_bytes() != out.read_bytes()


def test_encode_roi_refusals(cli, vtest, tmp_path):
    cases = [
        (
            ("--crf", "23", "--roi", "saliency", "--pre", "vmaf_pre=model=vmaf_pre_dn"),
            "--roi and --pre together",
        ),
        (("--crf", "23", "--roi", "saliency:strength=2"), "strength 2"),
        (("--crf", "23", "--roi", "saliency:model=vmaf_post_nr"), "saliency model"),
        (("--target-vmaf", "90", "--roi", "faces"), "expected saliency"),
        (("--target-vmaf", "90", "--roi", "saliency:strength=2"), "strength 2"),
        (("--target-vmaf", "90", "--roi", "saliency:model=vmaf_post_nr"), "saliency model"),
    ]
    for extra, words in cases:
        codec = () if "-c" in extra else ("-c", "x264")
        r = cli("encode", vtest, "-o", tmp_path / "o.mp4", *codec, *extra)
        assert r.code == 2 and words in r.stderr, (extra, r.stderr)
        assert not (tmp_path / "o.mp4").exists()


# --- SVT-AV1's map file ---------------------------------------------------------------------


def test_svt_roi_map_file_is_what_svtav1encapp_parses(  # type: ignore[no-untyped-def]
    ffmpeg_built, ffmpeg_exe, cli, vtest, tmp_path
):
    """SvtAv1EncApp (SVT-AV1 2.3.0, built with the patched FFmpeg) takes the map and
    encodes the salient 64x64 blocks better; a map with a block missing is refused, so
    the app does read the file."""
    app = ffmpeg_built.parent / "SvtAv1EncApp"
    if not app.exists():
        pytest.skip(f"{app} missing: make ffmpeg builds it")
    y4m = tmp_path / "in.y4m"
    subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(vtest), "-frames:v", "20",
                    "-pix_fmt", "yuv420p", str(y4m)], check=True)  # fmt: skip
    assert cli("roi", y4m, "-o", tmp_path / "m.svt", "--format", "svt-roi-map",
               "--strength", "1").code == 0  # fmt: skip
    lines = (tmp_path / "m.svt").read_text().splitlines()

    def encode(name: str, *extra: str) -> tuple[int, Path]:
        out = tmp_path / f"{name}.ivf"
        proc = subprocess.run([str(app), "-i", str(y4m), "-b", str(out), "--preset", "10",
                               "--crf", "40", *extra], capture_output=True)  # fmt: skip
        return proc.returncode, out

    rc, plain = encode("plain")
    assert rc == 0
    rc, mapped = encode("mapped", "--roi-map-file", str(tmp_path / "m.svt"))
    assert rc == 0 and mapped.read_bytes() != plain.read_bytes()
    (tmp_path / "short.svt").write_text(" ".join(lines[0].split()[:-1]) + "\n")
    assert encode("short", "--roi-map-file", str(tmp_path / "short.svt"))[0] != 0

    offsets = np.mean([[int(v) for v in line.split()[1:]] for line in lines], axis=0)
    grid = offsets.reshape(9, 12)  # 576/64 rows, 768/64 columns
    mask = np.kron(grid, np.ones((64, 64)))[:576, :768]

    def luma(path: Path) -> np.ndarray:
        argv = [ffmpeg_exe, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray",
                "-"]  # fmt: skip
        raw = subprocess.run(argv, capture_output=True, check=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(-1, 576, 768).astype(np.float64)

    src = luma(y4m)

    def psnr(path: Path, where: np.ndarray) -> float:
        return float(10 * np.log10(255**2 / ((luma(path) - src) ** 2)[:, where].mean()))

    salient, dull = mask < 0, mask > 0
    assert psnr(mapped, salient) > psnr(plain, salient) + 0.3
    assert psnr(mapped, dull) < psnr(plain, dull)


# --- SVT-AV1 inside FFmpeg (patch 0007) -------------------------------------------------------


def svt_encode(ff: Path, src: Path, out: Path, *args: str, crf: int = 40) -> Path:
    """An IVF file (no container ids that vary), preset 12, 30 frames."""
    subprocess.run([str(ff), "-v", "error", "-i", str(src), "-frames:v", "30", *args,
                    "-c:v", "libsvtav1", "-preset", "12", "-crf", str(crf), "-f", "ivf",
                    str(out)], check=True)  # fmt: skip
    return out


def luma_frames(ff: str, path: Path, w: int, h: int) -> np.ndarray:
    """Decoded by the bundled FFmpeg: the patched build has no AV1 decoder."""
    argv = [ff, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float64)


def test_svtav1_takes_the_filters_map_as_its_roi_map(ffmpeg_built, ffmpeg_exe, vtest, tmp_path):
    """At the same CRF the patched libsvtav1 moves quality into the 64x64 blocks the map
    marks salient and out of the dull ones; at strength 0, or with -roi_map 0, the output
    is the plain encode byte for byte."""
    graph = f"vmaf_roi=model=vmaf_saliency:registry={MODELS}"
    plain = svt_encode(ffmpeg_built, vtest, tmp_path / "plain.ivf")
    zero = svt_encode(ffmpeg_built, vtest, tmp_path / "zero.ivf", "-vf", f"{graph}:strength=0")
    off = svt_encode(ffmpeg_built, vtest, tmp_path / "off.ivf", "-vf", f"{graph}:strength=1",
                     "-roi_map", "0")  # fmt: skip
    full = svt_encode(ffmpeg_built, vtest, tmp_path / "full.ivf", "-vf", f"{graph}:strength=1")
    assert zero.read_bytes() == plain.read_bytes() == off.read_bytes()
    assert full.read_bytes() != plain.read_bytes()

    # The blocks' mean level over the 30 frames, on SVT-AV1's 64x64 grid (576x768: 9x12).
    lv = np.mean(filter_maps(ffmpeg_built, vtest, 30, ":strength=1"), axis=0)
    grid = lv.reshape(9, 4, 12, 4).mean(axis=(1, 3))
    mask = np.kron(grid, np.ones((64, 64)))
    src = luma_frames(ffmpeg_exe, vtest, 768, 576)[:30]

    def psnr(path: Path, where: np.ndarray) -> float:
        err = (luma_frames(ffmpeg_exe, path, 768, 576) - src) ** 2
        return float(10 * np.log10(255**2 / err[:, where].mean()))

    salient, dull = mask > 0.5, mask < -0.5
    assert salient.any() and dull.any()
    assert psnr(full, salient) > psnr(plain, salient) + 0.3
    assert psnr(full, dull) < psnr(plain, dull) - 0.3


def test_svtav1_maps_that_stop_or_are_all_negative_decode(ffmpeg_built, ffmpeg_exe, tmp_path):
    """Frames 0-9 all finer (every offset negative: a zero-offset segment is kept, so even
    CRF 1 never asks SVT-AV1 for lossless blocks), frames 10-19 with no regions (a neutral
    map), frames 20-29 a coarse rectangle: every encode decodes to 30 frames, and the first
    ten frames come out better than without regions."""
    src = tmp_path / "src.mkv"
    lavfi = "testsrc2=s=256x192:r=10:d=3"
    subprocess.run([str(ffmpeg_built), "-v", "error", "-f", "lavfi", "-i", lavfi, "-c:v", "ffv1",
                    str(src)], check=True)  # fmt: skip
    graph = ("[0:v]split=3[a][b][c];"
             "[a]trim=end_frame=10,addroi=0:0:iw:ih:-0.5[a1];"
             "[b]trim=start_frame=10:end_frame=20[b1];"
             "[c]trim=start_frame=20,addroi=0:0:128:96:0.8[c1];"
             "[a1][b1][c1]concat=n=3")  # fmt: skip
    for crf in (1, 45):
        out = svt_encode(ffmpeg_built, src, tmp_path / f"roi{crf}.ivf", "-filter_complex", graph,
                         crf=crf)  # fmt: skip
        decoded = subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(out), "-f",
                                  "framecrc", "-"], capture_output=True, text=True)  # fmt: skip
        assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr
        assert sum(1 for line in decoded.stdout.splitlines() if line[:1].isdigit()) == 30
    # Three maps (all finer, neutral, the rectangle), the first two released while
    # encoding, once their frames' packets were out.
    log = subprocess.run([str(ffmpeg_built), "-v", "debug", "-i", str(src), "-filter_complex",
                          graph, "-c:v", "libsvtav1", "-preset", "12", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr  # fmt: skip
    assert len(re.findall(r"ROI map from pts \d+: ", log)) == 3, log[-2000:]
    assert len(re.findall(r"ROI map from pts \d+ released", log)) == 2, log[-2000:]
    plain = svt_encode(ffmpeg_built, src, tmp_path / "plain45.ivf", crf=45)
    ref = luma_frames(ffmpeg_exe, src, 256, 192)

    def mse(path: Path, frames: slice) -> float:
        return float(((luma_frames(ffmpeg_exe, path, 256, 192) - ref)[frames] ** 2).mean())

    assert mse(tmp_path / "roi45.ivf", slice(0, 10)) < 0.8 * mse(plain, slice(0, 10))


def test_encoders_and_encode_roi_know_which_libsvtav1_takes_maps(
    ffmpeg_built, cli, vtest, tmp_path, monkeypatch
):
    """`vmaftune encoders` shows ROI for svtav1 with the patched FFmpeg only; `encode
    --roi` runs SVT-AV1's encodes in the patched FFmpeg (scoring stays with the bundled
    one, which has libvmaf): the target met, the map in the sidecar, the output not the
    plain one. Without a patched FFmpeg it refuses SVT-AV1 in one line."""

    def roi_column(*ffmpeg: str) -> bool:
        r = cli(*ffmpeg, "encoders", "--json")
        assert r.code == 0, r.stderr
        return next(row["roi"] for row in json.loads(r.stdout) if row["name"] == "svtav1")

    assert not roi_column()
    assert roi_column("--ffmpeg", str(ffmpeg_built))
    base = ("-c", "svt-av1", "--preset", "12", "--target-vmaf", "88")
    out = tmp_path / "out.mkv"
    r = cli("encode", vtest, "-o", out, *base, "--roi", "saliency:strength=1", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads((tmp_path / "out.mkv.shots.json").read_text())
    assert doc["target"]["roi"]["model"] == "vmaf_saliency"
    assert all(s["vmaf"]["mean"] >= 88 for s in doc["shots"])
    # The SVT-AV1 that encoded is the patched build's (2.3.0), not the bundled FFmpeg's.
    assert "v2.3.0" in doc["encoder"]["version"], doc["encoder"]
    assert doc["target"]["roi"]["encoded_with"] == str(ffmpeg_built.resolve())

    monkeypatch.setenv("VMAFTUNE_PATCHED_FFMPEG", "none")
    r = cli("encode", vtest, "-o", tmp_path / "o.mkv", *base, "--roi", "saliency")
    assert r.code == 2 and "ignores region-of-interest offsets" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mkv").exists()


@needs_valgrind
def test_svtav1_roi_maps_run_clean_under_valgrind(ffmpeg_built):
    """Maps sent, replaced, released while encoding and at close: no memory errors."""
    graph = ("[0:v]split=3[a][b][c];[a]trim=end_frame=4,addroi=0:0:iw:ih:-0.5[a1];"
             "[b]trim=start_frame=4:end_frame=8[b1];"
             "[c]trim=start_frame=8,addroi=0:0:96:64:0.8,addroi=32:32:64:64:-0.3[c1];"
             "[a1][b1][c1]concat=n=3")  # fmt: skip
    lavfi = "testsrc2=s=192x128:r=10:d=1.2"
    assert_valgrind_clean(ffmpeg_built, "-f", "lavfi", "-i", lavfi, "-filter_complex", graph,
                          "-c:v", "libsvtav1", "-preset", "12")  # fmt: skip


def test_encode_one_setting_with_roi_spends_bits_where_the_map_says(
    ffmpeg_built, ffmpeg_exe, cli, vtest, tmp_path, monkeypatch
):
    """`encode --crf --roi`: the encode runs vmaf_roi frame by frame in the patched FFmpeg
    (scored by the bundled one): at the same CRF the salient blocks gain PSNR and the dull
    ones lose it, and the result says which map made it. Without a patched FFmpeg it
    refuses in one line."""
    plain, roi_out = tmp_path / "plain.mp4", tmp_path / "roi.mp4"
    base = ("-c", "x264", "--crf", "30", "--preset", "fast")
    assert cli("encode", vtest, "-o", plain, *base).code == 0
    r = cli("encode", vtest, "-o", roi_out, *base, "--roi", "saliency:strength=1", "--json")
    assert r.code == 0, r.stderr
    done = json.loads(r.stdout.strip().splitlines()[-1])
    assert done["roi"]["model"] == "vmaf_saliency" and done["roi"]["strength"] == 1.0
    assert done["roi"]["encoded_with"] == str(ffmpeg_built.resolve())
    assert done["vmaf"]["mean"] > 0
    frames = int(done["frames"])
    lv = np.rint(np.mean(filter_maps(ffmpeg_built, vtest, frames, ":strength=1"), axis=0))
    src = tmp_path / "src.mkv"
    subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(vtest), "-c:v", "ffv1", str(src)],
                   check=True)  # fmt: skip
    hi_plain, lo_plain = psnr_by_level(ffmpeg_exe, plain, src, lv.astype(int))
    hi_roi, lo_roi = psnr_by_level(ffmpeg_exe, roi_out, src, lv.astype(int))
    assert hi_roi > hi_plain + 0.5 and lo_roi < lo_plain - 0.5, (hi_plain, hi_roi, lo_plain, lo_roi)

    monkeypatch.setenv("VMAFTUNE_PATCHED_FFMPEG", "none")
    r = cli("encode", vtest, "-o", tmp_path / "o.mp4", *base, "--roi", "saliency")
    assert r.code == 2 and "make ffmpeg" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mp4").exists()
