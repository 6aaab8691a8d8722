"""The FFmpeg that `make ffmpeg` builds (build/ffmpeg): it runs, links ONNX Runtime, and
its DNN module's onnx backend computes what Python onnxruntime computes on the same
decoded frames of a real clip."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
W, H, FRAMES = 176, 144, 12


def _blur_model(path: Path) -> np.ndarray:
    """A 3x3 convolution over one float plane, any size: NCHW as the onnx backend wants."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kernel = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32).reshape(1, 1, 3, 3) / 16
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "k"], ["y"], pads=[1, 1, 1, 1])],
        "blur",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [numpy_helper.from_array(kernel, "k")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return kernel


def test_build_runs_and_reports_its_configuration(ffmpeg_built):
    proc = subprocess.run([str(ffmpeg_built), "-hide_banner", "-buildconf"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    for flag in ("--enable-libonnxruntime", "--enable-libx264", "--enable-libx265"):
        assert flag in proc.stdout
    filters = subprocess.run([str(ffmpeg_built), "-hide_banner", "-filters"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert " dnn_processing " in filters


def test_onnx_backend_matches_python_onnxruntime(ffmpeg_built, carphone, tmp_path):
    import onnxruntime as ort

    model = tmp_path / "blur.onnx"
    _blur_model(model)
    src = carphone[0]

    def raw(*filters: str) -> np.ndarray:
        graph = ",".join(("format=gray", *filters))
        out = subprocess.run(
            [str(ffmpeg_built), "-hide_banner", "-loglevel", "error", "-i", str(src),
             "-frames:v", str(FRAMES), "-vf", graph, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        return np.frombuffer(out, np.uint8).reshape(FRAMES, H, W)

    frames = raw()
    ours = raw("format=grayf32", f"dnn_processing=dnn_backend=onnx:model={model}:input=x:output=y")
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for k in range(FRAMES):
        x = frames[k].astype(np.float32)[None, None] / 255.0
        want = session.run(["y"], {"x": x})[0][0, 0] * 255.0
        expect = np.clip(np.rint(want), 0, 255)
        diff = np.abs(ours[k].astype(np.int16) - expect.astype(np.int16))
        assert diff.max() <= 1, (k, int(diff.max()))
    # The model did something: blurred frames differ from the input.
    assert np.abs(ours.astype(np.int16) - frames.astype(np.int16)).mean() > 0.5


def test_a_missing_model_fails_cleanly(ffmpeg_built, carphone, tmp_path):
    proc = subprocess.run(
        [str(ffmpeg_built), "-hide_banner", "-nostdin", "-i", str(carphone[0]), "-frames:v", "1",
         "-vf", f"format=grayf32,dnn_processing=dnn_backend=onnx:model={tmp_path}/none.onnx"
         ":input=x:output=y", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # An error exit (Python reports a crash as a negative signal number), with the reason.
    assert proc.returncode > 0
    assert "File doesn't exist" in proc.stderr
