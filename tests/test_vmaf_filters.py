"""The vmaf_pre and vmaf_post filters in the FFmpeg that `make ffmpeg` builds: they run the
zoo's models on real video, match Python onnxruntime on the same decoded frames (vmaf_pre
within 1 code value, vmaf_post within 1e-4), keep frames and timestamps, refuse bad models
with one clear line, and run clean under valgrind."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from vmaftune.zoo import registry as zoo
from vmaftune.zoo.inference import PlaneModel, nr_score, prefilter_plane

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
W, H, FRAMES = 176, 144, 10
PRE, NR = "vmaf_pre_dn", "vmaf_post_nr"


def run(ffmpeg: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([str(ffmpeg), "-hide_banner", "-nostdin", *args], capture_output=True)
    if check and proc.returncode:
        raise AssertionError(proc.stderr.decode(errors="replace")[-3000:])
    return proc


def planes(raw: bytes, depth: int) -> list[list[np.ndarray]]:
    dt = np.uint8 if depth == 8 else np.dtype("<u2")
    a = np.frombuffer(raw, dt)
    size = W * H * 3 // 2
    assert a.size % size == 0
    out = []
    for f in a.reshape(-1, size):
        y, u, v = f[: W * H], f[W * H : W * H * 5 // 4], f[W * H * 5 // 4 :]
        out.append([y.reshape(H, W), u.reshape(H // 2, W // 2), v.reshape(H // 2, W // 2)])
    return out


def decoded(ffmpeg: Path, clip: Path, pix_fmt: str, vf: str | None = None) -> bytes:
    chain = ["-vf", vf] if vf else []
    return run(ffmpeg, "-i", str(clip), *chain, "-f", "rawvideo", "-pix_fmt", pix_fmt, "-").stdout


def registered(name: str) -> bool:
    return name in zoo.registry(MODELS).ids()


needs_nr = pytest.mark.skipif(
    not registered(NR), reason=f"{NR} is not registered yet (python models/train/nr.py)"
)


def model(name: str) -> PlaneModel:
    return PlaneModel(zoo.load(name, folder=MODELS).session(), name)


@pytest.mark.parametrize(
    ("pix_fmt", "depth", "opts"),
    [("yuv420p", 8, ":strength=1"), ("yuv420p10le", 10, ":planes=all:strength=0.6")],
)
def test_vmaf_pre_matches_python_onnxruntime(ffmpeg_built, noisy, pix_fmt, depth, opts):
    vf = f"format={pix_fmt},vmaf_pre=model={PRE}:registry={MODELS}{opts}"
    filtered = planes(decoded(ffmpeg_built, noisy, pix_fmt, vf), depth)
    source = planes(decoded(ffmpeg_built, noisy, pix_fmt, f"format={pix_fmt}"), depth)
    assert len(filtered) == len(source) == FRAMES
    strength = 0.6 if "0.6" in opts else 1.0
    m = model(PRE)
    worst = 0
    changed = 0
    for got, src in zip(filtered, source, strict=True):
        for p in range(3):
            if p and "planes=all" not in opts:
                assert np.array_equal(got[p], src[p]), "chroma must pass untouched"
                continue
            want = prefilter_plane(m, src[p], depth, strength)
            worst = max(worst, int(np.abs(got[p].astype(int) - want.astype(int)).max()))
            changed += int((got[p] != src[p]).sum())
    assert worst <= 1, f"filter and Python differ by {worst} code values"
    assert changed > FRAMES * W * H // 4, "the denoiser left the noisy frames nearly untouched"


def showinfo_pts(stderr: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"\bpts:\s*(-?\d+)", stderr)]


def test_vmaf_pre_keeps_frames_and_timestamps(ffmpeg_built, noisy):
    base = run(ffmpeg_built, "-i", str(noisy), "-vf", "showinfo", "-f", "null", "-").stderr
    ours = run(ffmpeg_built, "-i", str(noisy), "-vf",
               f"vmaf_pre=model={PRE}:registry={MODELS},showinfo",
               "-f", "null", "-").stderr  # fmt: skip
    assert showinfo_pts(ours) == showinfo_pts(base)
    assert len(showinfo_pts(ours)) == FRAMES


@needs_nr
def test_vmaf_post_matches_python_and_pools(ffmpeg_built, noisy, tmp_path):
    meta, log = tmp_path / "meta.txt", tmp_path / "post.json"
    run(ffmpeg_built, "-i", str(noisy), "-vf",
        f"vmaf_post=model={NR}:registry={MODELS}:log={log},metadata=print:file={meta}",
        "-f", "null", "-")  # fmt: skip
    got = [float(v) for v in re.findall(r"lavfi\.vmaf_post\.score=([0-9.]+)", meta.read_text())]
    assert len(got) == FRAMES
    # FFV1 exports no QPs: the two-channel model runs on pixels alone and says so.
    assert re.findall(r"lavfi\.vmaf_post\.inputs=(\S+)", meta.read_text()) == ["pixels"] * FRAMES
    m = model(NR)
    want = [nr_score(m, f[0], 8) for f in planes(decoded(ffmpeg_built, noisy, "yuv420p"), 8)]
    assert np.max(np.abs(np.array(got) - np.array(want))) <= 1e-4
    assert min(got) >= 0 and max(got) <= 100
    pooled = json.loads(log.read_text())
    assert pooled["frames"] == FRAMES
    assert pooled["mean"] == pytest.approx(np.mean(got), abs=1e-5)
    assert pooled["min"] == pytest.approx(min(got), abs=1e-5)
    assert pooled["p5"] == pytest.approx(np.percentile(got, 5), abs=1e-5)
    assert not (tmp_path / "post.json.partial").exists()


@needs_nr
def test_vmaf_post_reads_h264_qps_as_python_does(ffmpeg_built, ffmpeg_exe, carphone, tmp_path):
    """With -export_side_data venc_params the filter fills the stream plane from the H.264
    decoder's block QPs, exactly as vmaftune.zoo.scores reads them without the bits; the
    QPs change the score, and without the side data it falls back to pixels."""
    from vmaftune.steps.probe import probe
    from vmaftune.zoo.scores import _nr_python

    clip = tmp_path / "a.mp4"
    run(Path(ffmpeg_exe), "-i", str(carphone[0]), "-frames:v", "12", "-c:v", "libx264",
        "-crf", "36", str(clip))  # fmt: skip

    def scored(*before: str) -> tuple[list[float], list[str]]:
        meta = tmp_path / "meta.txt"
        run(ffmpeg_built, *before, "-i", str(clip), "-vf",
            f"vmaf_post=model={NR}:registry={MODELS},metadata=print:file={meta}",
            "-f", "null", "-")  # fmt: skip
        text = meta.read_text()
        return ([float(v) for v in re.findall(r"vmaf_post\.score=([0-9.]+)", text)],
                re.findall(r"vmaf_post\.inputs=(\S+)", text))  # fmt: skip

    with_qp, inputs = scored("-thread_type", "slice", "-export_side_data", "venc_params")
    assert inputs == ["pixels+qp"] * 12
    want, seen = _nr_python(probe(clip), model(NR), "yuv420p", None, bits=False)
    assert seen == "pixels+qp"
    assert np.max(np.abs(np.array(with_qp) - np.array(want))) <= 1e-4
    pixels_only, inputs = scored()
    assert inputs == ["pixels"] * 12
    assert np.max(np.abs(np.array(with_qp) - np.array(pixels_only))) > 0.05


@needs_nr
def test_the_issue_command_line_encodes(ffmpeg_built, carphone, tmp_path):
    """`ffmpeg -i clip -vf vmaf_pre=...,vmaf_post=... -c:v libx264 out.mp4`, with the
    registry the build installs beside the binary (no registry= option)."""
    ref, _ = carphone
    out = tmp_path / "out.mp4"
    proc = run(ffmpeg_built, "-i", str(ref), "-frames:v", "8", "-vf",
               f"vmaf_pre=model={PRE},vmaf_post=model={NR}",
               "-c:v", "libx264", str(out))  # fmt: skip
    assert out.stat().st_size > 1000
    assert re.search(rb"frames: \d+ mean: [0-9.]+ min: [0-9.]+ p5: [0-9.]+", proc.stderr)


def bad(ffmpeg: Path, vf: str, clip: Path) -> str:
    proc = run(
        ffmpeg,
        "-v",
        "error",
        "-i",
        str(clip),
        "-frames:v",
        "2",
        "-vf",
        vf,
        "-f",
        "null",
        "-",
        check=False,
    )
    assert proc.returncode > 0, "a bad model must fail with an error exit, not a signal or success"
    return proc.stderr.decode(errors="replace")


@needs_nr
def test_bad_models_fail_cleanly(ffmpeg_built, noisy, tmp_path):
    assert "model 'vmaf_pre_dm' is not in the registry" in bad(
        ffmpeg_built, f"vmaf_pre=model=vmaf_pre_dm:registry={MODELS}", noisy
    )
    assert "cannot open model" in bad(ffmpeg_built, f"vmaf_pre=model={tmp_path}/none.onnx", noisy)
    assert "is a nr model; this filter runs prefilter models" in bad(
        ffmpeg_built, f"vmaf_pre=model={NR}:registry={MODELS}", noisy
    )

    tampered = tmp_path / "zoo"
    shutil.copytree(MODELS, tampered, ignore=shutil.ignore_patterns("train", "*.md"))
    for name in (PRE, NR):
        onnx_file = tampered / f"{name}.onnx"
        data = bytearray(onnx_file.read_bytes())
        data[-1] ^= 1
        onnx_file.write_bytes(bytes(data))
    assert "does not match the registry" in bad(
        ffmpeg_built, f"vmaf_pre=model={PRE}:registry={tampered}", noisy
    )
    assert "does not match the registry" in bad(
        ffmpeg_built, f"vmaf_post=model={NR}:registry={tampered}", noisy
    )

    # A pre-filter model that returns the wrong shape (one number per plane).
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 1])],
    )  # fmt: skip
    shape = tmp_path / "wrong.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(shape))
    assert "a pre-filter must return [1,1,H,W]" in bad(
        ffmpeg_built, f"vmaf_pre=model={shape}:strength=1", noisy
    )
    bad(ffmpeg_built, f"vmaf_post=model={NR}:registry={MODELS}:device=tpu", noisy)
    assert "offers no CUDA execution provider" in bad(
        ffmpeg_built, f"vmaf_post=model={NR}:registry={MODELS}:device=cuda", noisy
    )


@needs_nr
def test_filters_refuse_links_out_and_external_weights(ffmpeg_built, noisy, tmp_path):
    """The C resolver holds the rules the Python loader holds (issue 17, item 5): a
    registry file that links out of the registry's folder, and a model whose weights live
    in another file (registered with its true sha256, or given by path), never load."""
    zoo = tmp_path / "zoo"
    shutil.copytree(MODELS, zoo, ignore=shutil.ignore_patterns("train", "*.md"))
    outside = tmp_path / "elsewhere.onnx"
    (zoo / f"{NR}.onnx").rename(outside)
    (zoo / f"{NR}.onnx").symlink_to(outside)
    assert "links to a file outside the registry's folder" in bad(
        ffmpeg_built, f"vmaf_post=model={NR}:registry={zoo}", noisy
    )

    model = onnx.load(str(outside))
    onnx.save_model(model, str(tmp_path / "split.onnx"), save_as_external_data=True,
                    location="split.bin", size_threshold=0)  # fmt: skip
    assert "keep their values in another file" in bad(
        ffmpeg_built, f"vmaf_post=model={tmp_path / 'split.onnx'}", noisy
    )
    data = (tmp_path / "split.onnx").read_bytes()
    (zoo / f"{NR}.onnx").unlink()
    (zoo / f"{NR}.onnx").write_bytes(data)
    (zoo / "split.bin").write_bytes((tmp_path / "split.bin").read_bytes())
    doc = json.loads((zoo / "registry.json").read_text())
    for row in doc["models"]:
        if row["id"] == NR:
            row.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (zoo / "registry.json").write_text(json.dumps(doc))
    assert "keep their values in another file" in bad(
        ffmpeg_built, f"vmaf_post=model={NR}:registry={zoo}", noisy
    )


def test_filters_refuse_operators_outside_the_allowlist(ffmpeg_built, noisy, tmp_path):
    """The C resolver checks each node's operator against the same allowlist as the Python
    loader (tests/test_models.py compares the lists): an ONNX op outside it, or any op of
    another domain, is refused before ONNX Runtime parses the graph; QDQ INT8 ops pass."""
    from onnx import TensorProto, helper

    def model(op: str, domain: str = "") -> Path:
        g = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"], domain=domain)], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "H", "W"])],
        )  # fmt: skip
        imports = [helper.make_opsetid("", 17)] + (
            [helper.make_opsetid(domain, 1)] if domain else []
        )
        path = tmp_path / f"{domain or 'onnx'}.{op}.onnx"
        onnx.save(helper.make_model(g, opset_imports=imports), str(path))
        return path

    assert "uses an operator outside the allowlist: Hardmax" in bad(
        ffmpeg_built, f"vmaf_pre=model={model('Hardmax')}", noisy
    )
    assert "outside the allowlist: com.microsoft.Gelu" in bad(
        ffmpeg_built, f"vmaf_pre=model={model('Gelu', 'com.microsoft')}", noisy
    )
    # The same graph with an allowed op runs.
    run(ffmpeg_built, "-v", "error", "-i", str(noisy), "-frames:v", "2",
        "-vf", f"vmaf_pre=model={model('Relu')}", "-f", "null", "-")  # fmt: skip


needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None, reason="valgrind is not installed (apt-get install valgrind)"
)


def assert_valgrind_clean(ffmpeg: Path, *args: str) -> None:
    """One single-threaded FFmpeg run under valgrind: no memory errors, nothing definitely
    lost (tests/valgrind.supp hides the ONNX Runtime and libc noise)."""
    proc = subprocess.run(
        ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
         f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}",
         str(ffmpeg), "-hide_banner", "-nostdin", "-v", "error", "-threads", "1",
         "-filter_threads", "1", *args, "-f", "null", "-"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    summary = "\n".join(line for line in proc.stderr.splitlines() if "==" in line)[-3000:]
    assert proc.returncode == 0, summary
    assert re.search(r"ERROR SUMMARY: 0 errors", proc.stderr), summary
    assert (
        re.search(r"definitely lost: 0 bytes", proc.stderr)
        or "All heap blocks were freed" in proc.stderr
    ), summary


@needs_valgrind
@needs_nr
def test_filters_run_clean_under_valgrind(ffmpeg_built, noisy, tmp_path):
    clip = tmp_path / "short.mkv"
    run(ffmpeg_built, "-i", str(noisy), "-frames:v", "3", "-c:v", "ffv1", str(clip))
    vf = (
        f"vmaf_pre=model={PRE}:registry={MODELS}:planes=all,"
        f"vmaf_post=model={NR}:registry={MODELS}:log={tmp_path}/p.json,"
        # Three frames: the second sees the first as its previous, the third a merge.
        f"vmaf_roi=model=vmaf_saliency:registry={MODELS}:strength=1:max_regions=5"
    )
    assert_valgrind_clean(ffmpeg_built, "-i", str(clip), "-vf", vf)
