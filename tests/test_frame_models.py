"""`vmaftune encode --pre` and `vmaftune score --nr`: the zoo's models over real video, in
the patched FFmpeg's filters or in Python, with the same frames and scores from both, and
bad input refused with one line and no output left behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from vmaftune.zoo import registry as zoo
from vmaftune.zoo.inference import PlaneModel, prefilter_plane

from .conftest import BUILT_FFMPEG, ffmpeg_run

ROOT = Path(__file__).resolve().parent.parent
PRE, NR = "vmaf_pre_dn", "vmaf_post_nr"
needs_nr = pytest.mark.skipif(
    NR not in zoo.registry(ROOT / "models").ids(),
    reason=f"{NR} is not registered yet (python models/train/nr.py)",
)


@pytest.fixture(scope="module")
def grainy(tmp_path_factory: pytest.TempPathFactory, ffmpeg_exe: str, carphone) -> Path:
    """Twelve frames of real carphone footage with grain, stored losslessly, with an
    audio track, a non-square pixel aspect and full-range BT.709 tags to carry through."""
    out = tmp_path_factory.mktemp("pre") / "grainy.mkv"
    ref, _ = carphone
    ffmpeg_run(
        ffmpeg_exe, "-i", str(ref), "-f", "lavfi", "-i", "sine=f=440:d=0.4",
        "-frames:v", "12",
        "-vf", "noise=alls=12:allf=t,setsar=16/11,"
               "setparams=range=pc:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
        "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-c:a", "flac", str(out),
    )  # fmt: skip
    return out


def frames(ffmpeg: str, video: Path) -> list[bytes]:
    raw = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(video), "-map", "0:v", "-fps_mode", "passthrough",
         "-f", "rawvideo",
         "-pix_fmt", "yuv420p", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    size = 176 * 144 * 3 // 2
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def stream_info(ffmpeg: str, video: Path) -> str:
    probe = Path(ffmpeg).with_name("ffprobe")
    if not probe.exists():  # the bundled FFmpeg comes without ffprobe
        import av

        with av.open(str(video)) as c:
            s = c.streams.video[0]
            cc = s.codec_context
            audio = len(c.streams.audio)
            return f"{s.sample_aspect_ratio}|{cc.color_range}|{cc.colorspace}|{audio}"
    return subprocess.run(
        [str(probe), "-v", "error", "-show_entries",
         "stream=codec_type,sample_aspect_ratio,color_range,color_space", "-of", "compact",
         str(video)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def lossless_pre(cli, src: Path, out: Path, pre: str, engine: str):
    # x264 at CRF 0 is lossless: the decoded output is exactly what the pre-filter made.
    return cli("encode", src, "-o", out, "-c", "x264", "--crf", "0", "--no-vmaf",
               "--pre", pre, "--engine", engine)  # fmt: skip


def test_pre_python_engine_filters_every_frame_and_keeps_the_rest(
    cli, grainy: Path, tmp_path: Path, ffmpeg_exe: str
) -> None:
    out = tmp_path / "pre.mkv"
    r = lossless_pre(cli, grainy, out, f"vmaf_pre=model={PRE}:planes=all:strength=0.8", "python")
    assert r.code == 0, r.stderr
    assert "via Python onnxruntime" in r.stderr
    got = frames(ffmpeg_exe, out)
    src = frames(ffmpeg_exe, grainy)
    assert len(got) == len(src) == 12
    # Every plane of every frame is the model's output, as inference.prefilter_plane makes it.
    model = PlaneModel(zoo.load(PRE).session(), PRE)
    for want_raw, got_raw in zip(src, got, strict=True):
        a = np.frombuffer(want_raw, np.uint8)
        b = np.frombuffer(got_raw, np.uint8)
        y, u = a[: 176 * 144].reshape(144, 176), a[176 * 144 : 176 * 144 * 5 // 4].reshape(72, 88)
        assert np.array_equal(b[: 176 * 144].reshape(144, 176), prefilter_plane(model, y, 8, 0.8))
        got_u = b[176 * 144 : 176 * 144 * 5 // 4].reshape(72, 88)
        assert np.array_equal(got_u, prefilter_plane(model, u, 8, 0.8))
    # The filter changed the picture; audio, pixel aspect and color tags came through.
    assert got != src
    assert stream_info(ffmpeg_exe, out) == stream_info(ffmpeg_exe, grainy)
    # Same timestamps as a plain encode of the same source.
    plain = tmp_path / "plain.mkv"
    assert cli("encode", grainy, "-o", plain, "-c", "x264", "--crf", "0", "--no-vmaf").code == 0
    import av

    def pts(p: Path) -> list[int | None]:
        with av.open(str(p)) as c:
            return [f.pts for f in c.decode(video=0)]

    assert pts(out) == pts(plain)


def test_pre_engines_give_identical_output(
    cli, ffmpeg_built: Path, grainy: Path, tmp_path: Path, ffmpeg_exe: str
) -> None:
    import os

    os.environ["VMAFTUNE_PATCHED_FFMPEG"] = str(ffmpeg_built)
    try:
        outs, said = {}, {}
        for engine in ("ffmpeg", "python"):
            outs[engine] = tmp_path / f"{engine}.mkv"
            r = lossless_pre(cli, grainy, outs[engine], f"vmaf_pre=model={PRE}:planes=all", engine)
            assert r.code == 0, r.stderr
            said[engine] = r.stderr
        assert "via the patched FFmpeg" in said["ffmpeg"]
        a, b = (frames(ffmpeg_exe, outs[e]) for e in ("ffmpeg", "python"))
        assert len(a) == 12 and a == b
        assert stream_info(ffmpeg_exe, outs["ffmpeg"]) == stream_info(ffmpeg_exe, outs["python"])
    finally:
        os.environ.pop("VMAFTUNE_PATCHED_FFMPEG", None)


def fixed_size_model(path: Path) -> Path:
    """A pre-filter that only takes 64x64 planes: it fails on the first real frame."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 64, 64])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "fixed", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("pre", "code", "says"),
    [
        ("vmaf_pre=model=vmaf_pre_nope", 2, "did you mean"),
        (f"vmaf_pre=model={NR}", 2, "needs a prefilter model"),
        (f"vmaf_pre=model={PRE}:planes=chroma", 2, "planes must be luma or all"),
        (f"vmaf_pre=model={PRE}:strength=2", 2, "strength must be auto or a number from 0 to 1"),
        (f"vmaf_pre=model={PRE}:device=tpu", 2, "device must be cpu, cuda or auto"),
        (f"vmaf_pre=model={PRE}:size=4", 2, "unknown option 'size=4'"),
        (f"hqdn3d=model={PRE}", 2, "expected vmaf_pre=model="),
        ("vmaf_pre=planes=all", 2, "needs model="),
        ("vmaf_pre=model=/no/such/model.onnx", 3, "/no/such/model.onnx"),
    ],
)
def test_bad_pre_specs_fail_with_one_line_and_no_output(
    cli, grainy: Path, tmp_path: Path, pre: str, code: int, says: str
) -> None:
    if NR in pre and NR not in zoo.registry().ids():
        pytest.skip(f"{NR} is not registered")
    out = tmp_path / "out.mkv"
    r = cli("encode", grainy, "-o", out, "-c", "x264", "--crf", "30", "--pre", pre)
    assert r.code == code, r.stderr
    assert says in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_pre_failing_mid_stream_leaves_no_output(cli, grainy: Path, tmp_path: Path) -> None:
    model = fixed_size_model(tmp_path.parent / f"{tmp_path.name}-fixed.onnx")
    engines = ["python"] + (["ffmpeg"] if BUILT_FFMPEG.exists() else [])
    for engine in engines:
        out = tmp_path / f"{engine}.mkv"
        r = cli("encode", grainy, "-o", out, "-c", "x264", "--crf", "30",
                "--pre", f"vmaf_pre=model={model}:strength=1", "--engine", engine)  # fmt: skip
        assert r.code in (3, 4), r.stderr
        assert "Traceback" not in r.stderr
        assert "64" in r.stderr or "176" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_pre_cuda_without_a_cuda_provider_fails(cli, grainy: Path, tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime offers CUDA")
    out = tmp_path / "out.mkv"
    r = cli("encode", grainy, "-o", out, "-c", "x264", "--engine", "python",
            "--pre", f"vmaf_pre=model={PRE}:device=cuda")  # fmt: skip
    assert r.code == 4 and "no CUDA execution provider" in r.stderr
    assert not out.exists()


def test_pre_excludes_per_shot_mode(cli, grainy: Path, tmp_path: Path) -> None:
    r = cli("encode", grainy, "-o", tmp_path / "o.mkv", "-c", "x264", "--target-vmaf", "90",
            "--pre", f"vmaf_pre=model={PRE}")  # fmt: skip
    assert r.code == 2 and "--pre works with one setting" in r.stderr


def test_engine_ffmpeg_without_the_patched_build_fails(
    cli, grainy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the discovery is replaced: it reports what a checkout without `make ffmpeg` finds.
    monkeypatch.setattr("vmaftune.run.once.patched_ffmpeg", lambda: None)
    r = cli("encode", grainy, "-o", tmp_path / "o.mkv", "-c", "x264", "--engine", "ffmpeg",
            "--pre", f"vmaf_pre=model={PRE}")  # fmt: skip
    assert r.code == 4 and "make ffmpeg" in r.stderr
    assert list(tmp_path.iterdir()) == []


@needs_nr
def test_nr_alone_python_engine(cli, grainy: Path, tmp_path: Path) -> None:
    report = tmp_path / "nr.json"
    r = cli("score", "--nr", grainy, "--engine", "python", "--json", report)
    assert r.code == 0, r.stderr
    data = json.loads(report.read_text())
    assert data["type"] == "nr-score" and data["engine"] == "python onnxruntime"
    scores = [f["score"] for f in data["frames"]]
    assert len(scores) == 12 and data["frames_scored"] == 12
    assert data["pooled"]["mean"] == pytest.approx(float(np.mean(scores)), abs=1e-6)
    assert data["pooled"]["min"] == min(scores)
    assert all(0 <= s <= 110 for s in scores)
    # A lossless FFV1 file says nothing a model reads: pixels alone, and the interval the
    # card measured for pixels alone.
    row = zoo.registry(ROOT / "models").get(NR)
    assert data["inputs"] == "pixels"
    assert data["interval90"] == row.metrics["modes"]["pixels"]["interval90"]


@needs_nr
def test_nr_engines_agree_exactly(
    cli, ffmpeg_built: Path, grainy: Path, carphone, tmp_path: Path
) -> None:
    import os

    os.environ["VMAFTUNE_PATCHED_FFMPEG"] = str(ffmpeg_built)
    try:
        reports = {}
        for engine in ("ffmpeg", "python"):
            reports[engine] = tmp_path / f"{engine}.json"
            r = cli("score", "--nr", grainy, "--engine", engine, "--json", reports[engine])
            assert r.code == 0, r.stderr
        a, b = (json.loads(reports[e].read_text()) for e in ("ffmpeg", "python"))
        assert a["engine"] == "ffmpeg vmaf_post"
        assert a["frames"] == b["frames"] and a["pooled"] == b["pooled"]
        assert a["inputs"] == b["inputs"] == "pixels"
        # Beside libvmaf: one table, one JSON with both.
        ref, dist = carphone
        both = tmp_path / "both.json"
        r = cli("score", ref, dist, "--nr", "--json", both)
        assert r.code == 0, r.stderr
        data = json.loads(both.read_text())
        assert data["nr"]["frames_scored"] == data["frames_scored"]
    finally:
        os.environ.pop("VMAFTUNE_PATCHED_FFMPEG", None)


def test_nr_usage_errors(cli, grainy: Path, tmp_path: Path) -> None:
    r = cli("score", grainy)
    assert r.code == 2 and "REF and DIST" in r.stderr
    r = cli("score", "--nr", grainy, "--device", "tpu")
    assert r.code == 2 and "--device" in r.stderr
    r = cli("score", "--nr", grainy, "--csv", tmp_path / "x.csv")
    assert r.code == 2 and not (tmp_path / "x.csv").exists()
    r = cli("score", "--nr", grainy, "--nr-model", PRE, "--engine", "python")
    assert r.code == 2 and "needs a nr model" in r.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    r = cli("score", "--nr", junk, "--engine", "python")
    assert r.code == 3 and "Traceback" not in r.stderr


@needs_nr
def test_nr_reads_the_h264_stream(
    cli, ffmpeg_built: Path, ffmpeg_exe: str, carphone, tmp_path: Path
) -> None:
    """On H.264 the Python engine reads QPs, bits and codec; the filter QPs only (packet
    sizes do not reach filters). Each reports what it read and that mode's interval."""
    import os

    h264 = tmp_path / "a.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(carphone[0]), "-frames:v", "20", "-c:v", "libx264",
               "-crf", "34", str(h264))  # fmt: skip
    modes = zoo.registry(ROOT / "models").get(NR).metrics["modes"]
    os.environ["VMAFTUNE_PATCHED_FFMPEG"] = str(ffmpeg_built)
    try:
        got = {}
        for engine, inputs, mode in (("python", "pixels+qp+bits", "python"),
                                     ("ffmpeg", "pixels+qp", "filter")):  # fmt: skip
            report = tmp_path / f"{engine}.json"
            r = cli("score", "--nr", h264, "--engine", engine, "--json", report)
            assert r.code == 0, r.stderr
            got[engine] = json.loads(report.read_text())
            assert got[engine]["inputs"] == inputs
            assert got[engine]["interval90"] == modes[mode]["interval90"]
            assert inputs in r.stdout
        assert got["python"]["frames_scored"] == got["ffmpeg"]["frames_scored"] == 20
    finally:
        os.environ.pop("VMAFTUNE_PATCHED_FFMPEG", None)
