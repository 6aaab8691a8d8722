"""Write the fuzz harnesses' seed corpora (filters/fuzz/corpus/{registry,onnx}/).

The seeds are small, valid starting points the fuzzer mutates: registry rows that resolve
(and ones that must be refused) for the model files fuzz_registry.c writes, the project's
own registry, and ONNX graphs with tensors in every place a weight can hide. Run from the
repository root: `.venv/bin/python filters/fuzz/seeds.py`; the fuzzer adds what it finds
beside them (make fuzz)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def weight(name: str, external: bool) -> TensorProto:
    t = numpy_helper.from_array(np.array([0.5], np.float32), name)
    if external:
        onnx.external_data_helper.set_external_data(t, "w.bin")
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
    return t


def graph(nodes, inits=(), sparse=(), name="g") -> onnx.GraphProto:
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        list(inits),
    )
    g.sparse_initializer.extend(sparse)
    return g


def model(g: onnx.GraphProto, functions=()) -> bytes:
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    m.functions.extend(functions)
    return m.SerializeToString()


def onnx_seeds() -> dict[str, bytes]:
    mul = helper.make_node("Mul", ["x", "w"], ["y"])
    const = helper.make_node("Constant", [], ["w"], value=weight("c", True))
    branch = graph([const, helper.make_node("Mul", ["x", "w"], ["y"])], name="then")
    plain = graph([helper.make_node("Identity", ["x"], ["y"])], name="else")
    cond = helper.make_node("If", ["x"], ["y"], then_branch=branch, else_branch=plain)
    sparse = helper.make_sparse_tensor(
        weight("s", True), numpy_helper.from_array(np.array([0], np.int64), "i"), [1]
    )
    fn = helper.make_function("local", "f", ["x"], ["y"], [const], [helper.make_opsetid("", 17)])
    return {
        "inside": model(graph([mul], [weight("w", False)])),
        "external": model(graph([mul], [weight("w", True)])),
        "subgraph": model(graph([cond])),
        "sparse": model(graph([mul], sparse=[sparse])),
        "function": model(graph([mul], [weight("w", False)]), [fn]),
        "tiny": (ROOT / "models" / "vmaf_tiny.onnx").read_bytes(),
    }


def row(model_id: str, file: str, data: bytes, kind: str = "nr") -> dict:
    return {
        "id": model_id,
        "kind": kind,
        "file": file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


def registry_seeds(models: dict[str, bytes]) -> dict[str, bytes]:
    inside, external = models["inside"], models["external"]
    rows = [
        row("inside", "inside.onnx", inside),
        row("external", "external.onnx", external),
        row("linked", "linked.onnx", inside),
        row("missing", "missing.onnx", inside, "prefilter"),
    ]
    doc = {"schema": "vmaftune.models/1", "models": rows}
    return {
        "all": json.dumps(doc, indent=1).encode(),
        "escaped": json.dumps({"models": [{**rows[0], "id": "in\\u0073ide"}], "x": [1, {}]})
        .replace("\\\\u", "\\u")
        .encode(),
        "climb": json.dumps({"models": [{**rows[0], "file": "../inside.onnx"}]}).encode(),
        "project": (ROOT / "models" / "registry.json").read_bytes(),
    }


def main() -> None:
    models = onnx_seeds()
    for corpus, seeds in (("onnx", models), ("registry", registry_seeds(models))):
        folder = HERE / "corpus" / corpus
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / f"seed-{name}").write_bytes(data)
        print(f"{folder.relative_to(ROOT)}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
