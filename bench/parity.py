"""Every zoo model on onnxruntime's CPU and CUDA execution providers: do their outputs
agree, and how fast is each (issue 22, item 4).

Each model gets the same seeded inputs (frames in [0, 1] at 720p and 1080p for the frame
models, 1,024 rows of N(0, 1) features for the row models) and runs:
- on the CPU with all graph optimisations, against the CPU with none (what the CPU path
  can check on a machine without a GPU);
- where CUDAExecutionProvider is available: on CUDA in FP32, against the CPU (goal: max
  |difference| <= 1e-4 on normalised outputs: VMAF / 100, planes as they are), and the
  model converted to FP16 on CUDA, against the CPU in FP32 (goal <= 1e-2).
fps is frames (frame models) or rows / 1,024 (row models) per second, median of --runs.

    .venv/bin/python bench/parity.py [--device cpu|cuda|auto] [--sizes 720,1080] [--runs 5]
        [--json FILE]

Exits 1 when a comparison misses its goal.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vmaftune.zoo import registry as zoo

FP32_GOAL = 1e-4
FP16_GOAL = 1e-2
ROWS = 1024
SIZES = {360: (360, 640), 720: (720, 1280), 1080: (1080, 1920)}
VMAF_KINDS = ("nr", "fr", "fr_pixel", "predictor")


@dataclass(frozen=True)
class Row:
    model: str
    size: str  # "720p", "1080p" or "1024 rows"
    compare: str  # "cpu-opt vs cpu-noopt", "cuda fp32 vs cpu", "cuda fp16 vs cpu"
    max_abs: float  # on normalised outputs
    goal: float
    fps: dict[str, float]  # provider → frames (or row blocks) per second

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.goal


def _inputs(entry: zoo.ModelEntry, size: tuple[int, int] | None, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in entry.inputs:
        if size is None:  # a row model: (N, features)
            shape: tuple[int, ...] = (ROWS, int(spec.shape[1]))
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            shape = (int(spec.shape[0]), int(spec.shape[1]), *size)
            feeds[spec.name] = rng.random(shape, dtype=np.float32)
    return feeds


def _session(data: bytes, providers: list[str], optimise: bool = True) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if not optimise:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, sess_options=opts, providers=providers)


def _run(session: Any, feeds: dict[str, Any], runs: int) -> tuple[np.ndarray, float]:
    out = session.run(None, feeds)[0]  # warm-up (CUDA: kernels, memory)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        out = session.run(None, feeds)[0]
        times.append(time.perf_counter() - started)
    return np.asarray(out, dtype=np.float64), 1.0 / statistics.median(times)


def _fp16(data: bytes) -> bytes:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load_from_string(data), keep_io_types=True)
    return bytes(model.SerializeToString())


def check(entry: zoo.ModelEntry, data: bytes, size_name: str, cuda: bool,
          runs: int) -> list[Row]:  # fmt: skip
    size = None if entry.inputs[0].shape[0] == "N" else SIZES[int(size_name)]
    label = f"{ROWS} rows" if size is None else f"{size_name}p"
    feeds = _inputs(entry, size, seed=int(size_name))
    scale = 100.0 if entry.kind in VMAF_KINDS else 1.0
    cpu = ["CPUExecutionProvider"]
    ref, cpu_fps = _run(_session(data, cpu), feeds, runs)
    plain, _ = _run(_session(data, cpu, optimise=False), feeds, 1)
    rows = [Row(entry.id, label, "cpu-opt vs cpu-noopt", float(np.abs(ref - plain).max() / scale),
                FP32_GOAL, {"cpu": cpu_fps})]  # fmt: skip
    if cuda:
        gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        out32, fps32 = _run(_session(data, gpu), feeds, runs)
        rows.append(Row(entry.id, label, "cuda fp32 vs cpu",
                        float(np.abs(out32 - ref).max() / scale), FP32_GOAL,
                        {"cpu": cpu_fps, "cuda": fps32}))  # fmt: skip
        out16, fps16 = _run(_session(_fp16(data), gpu), feeds, runs)
        rows.append(Row(entry.id, label, "cuda fp16 vs cpu",
                        float(np.abs(out16 - ref).max() / scale), FP16_GOAL,
                        {"cpu": cpu_fps, "cuda_fp16": fps16}))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    ap.add_argument("--sizes", default="720,1080", help="frame heights: 360, 720, 1080")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--models", help="registry ids, comma separated (default: all)")
    ap.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = ap.parse_args(argv)
    available = "CUDAExecutionProvider" in ort.get_available_providers()
    if args.device == "cuda" and not available:
        print("parity: CUDAExecutionProvider is not available here (onnxruntime-gpu and a "
              "CUDA device are needed)", file=sys.stderr)  # fmt: skip
        return 2
    cuda = available and args.device != "cpu"
    reg = zoo.registry()
    wanted = args.models.split(",") if args.models else reg.ids()
    rows: list[Row] = []
    for model_id in wanted:
        entry = reg.get(model_id)
        data = zoo.verify(reg, entry)
        row_model = entry.inputs[0].shape[0] == "N"
        for size in ["0"] if row_model else args.sizes.split(","):
            rows += check(entry, data, size, cuda, args.runs)
    where = f"onnxruntime {ort.__version__}; CUDA: {'yes' if cuda else 'not available here'}"
    print(where)
    print("| model | input | comparison | max abs diff (normalised) | goal | fps |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        fps = ", ".join(f"{k} {v:.1f}" for k, v in r.fps.items())
        print(f"| {r.model} | {r.size} | {r.compare} | {r.max_abs:.2e} | {r.goal:g} | {fps} |")
    if args.json:
        doc = {"onnxruntime": ort.__version__, "cuda": cuda,
               "rows": [{**r.__dict__, "ok": r.ok} for r in rows]}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
