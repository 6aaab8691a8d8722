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
