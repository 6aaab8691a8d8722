"""Add or replace a model's row in models/registry.json from the exported file: sha256,
bytes, opset, inputs/outputs with shapes and the operators are read from the .onnx, the
metrics from its .metrics.json, so the row cannot drift from the file.

    python models/train/register.py models/vmaf_pre_dn.onnx --id vmaf_pre_dn \
        --kind prefilter --training "python models/train/prefilter.py --out models" \
        --description "..."
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import onnx

from vmaftune.zoo.registry import KIND_RANGES


def shape(t: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in t.type.tensor_type.shape.dim]


def make_row(file: Path, model_id: str, kind: str, training: str, description: str,
             metrics: dict, licence: str = "MIT", **extra: object) -> dict:
    """A registry row read from the exported file (hash, size, opset, tensors, operators)."""
    data = file.read_bytes()
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model)
    dtype = {onnx.TensorProto.FLOAT: "float32"}
    row = {
        "id": model_id,
        "kind": kind,
        "description": description,
        "file": file.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": [{"name": i.name, "shape": shape(i), "dtype": dtype[i.type.tensor_type.elem_type]} for i in model.graph.input],
        # The range a working model returns: outside it, vmaftune refuses the output.
        "outputs": [{"name": o.name, "shape": shape(o), "dtype": dtype[o.type.tensor_type.elem_type], "range": list(KIND_RANGES[kind])} for o in model.graph.output],
        "operators": sorted({n.op_type for n in model.graph.node}),
        "licence": licence,
        "training": training,
        "metrics": metrics,
        "card": f"{model_id}.md",
    }
    row.update(extra)
    return row


def put_row(reg_path: Path, row: dict) -> None:
    """Add or replace `row` (by id) in the registry at reg_path, rows sorted by id."""
    reg = json.loads(reg_path.read_text()) if reg_path.exists() else {"schema": "vmaftune.models/1", "models": []}
    reg["models"] = sorted([m for m in reg["models"] if m["id"] != row["id"]] + [row], key=lambda m: m["id"])
    reg_path.write_text(json.dumps(reg, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--id", required=True)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--training", required=True)
    ap.add_argument("--description", required=True)
    ap.add_argument("--licence", default="MIT")
    args = ap.parse_args()

    metrics_path = args.file.with_suffix(".metrics.json")
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    row = make_row(args.file, args.id, args.kind, args.training, args.description, metrics, args.licence)
    put_row(args.file.parent / "registry.json", row)
    print(f"registered {args.id}: {row['bytes']} bytes, sha256 {row['sha256'][:12]}…, ops {row['operators']}")


if __name__ == "__main__":
    main()
