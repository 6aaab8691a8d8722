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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--id", required=True)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--training", required=True)
    ap.add_argument("--description", required=True)
    ap.add_argument("--licence", default="MIT")
    args = ap.parse_args()

    data = args.file.read_bytes()
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model)
    dtype = {onnx.TensorProto.FLOAT: "float32"}
    metrics_path = args.file.with_suffix(".metrics.json")
    row = {
        "id": args.id,
        "kind": args.kind,
        "description": args.description,
        "file": args.file.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": [{"name": i.name, "shape": shape(i), "dtype": dtype[i.type.tensor_type.elem_type]} for i in model.graph.input],
        # The range a working model returns: outside it, vmaftune refuses the output.
        "outputs": [{"name": o.name, "shape": shape(o), "dtype": dtype[o.type.tensor_type.elem_type], "range": list(KIND_RANGES[args.kind])} for o in model.graph.output],
        "operators": sorted({n.op_type for n in model.graph.node}),
        "licence": args.licence,
        "training": args.training,
        "metrics": json.loads(metrics_path.read_text()) if metrics_path.exists() else {},
        "card": f"{args.id}.md",
    }
    reg_path = args.file.parent / "registry.json"
    reg = json.loads(reg_path.read_text()) if reg_path.exists() else {"schema": "vmaftune.models/1", "models": []}
    reg["models"] = sorted([m for m in reg["models"] if m["id"] != args.id] + [row], key=lambda m: m["id"])
    reg_path.write_text(json.dumps(reg, indent=2) + "\n")
    print(f"registered {args.id}: {row['bytes']} bytes, sha256 {row['sha256'][:12]}…, ops {row['operators']}")


if __name__ == "__main__":
    main()
